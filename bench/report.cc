#include "bench/report.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "bench/harness.h"

namespace bench {
namespace {

constexpr Scenario kScenarios[] = {Scenario::kS1, Scenario::kS2, Scenario::kS3, Scenario::kS4,
                                   Scenario::kS5};
const std::vector<std::string> kAllSystems = {"typed_channel", "bare_pipe", "bare_pipe_batched",
                                              "cpython",       "boost",     "zeromq"};

// The systems each scenario is compared on (the JSON keys, in order).
std::vector<std::string> SystemsOf(Scenario s) {
  switch (s) {
    case Scenario::kS1:
      return kAllSystems;
    case Scenario::kS2:
    case Scenario::kS3:
      return {"typed_channel", "bare_pipe", "cpython", "boost", "zeromq"};
    case Scenario::kS4:
      return {"typed_channel", "cpython", "boost", "zeromq"};
    case Scenario::kS5:
      return {"typed_channel"};
  }
  return {};
}

const char* Unit(Scenario s) {
  switch (s) {
    case Scenario::kS1:
    case Scenario::kS4:
      return "msg/s";
    case Scenario::kS2:
      return "GB/s";
    case Scenario::kS3:
      return "us";
    case Scenario::kS5:
      return "MiB";
  }
  return "";
}

std::string Rate(double v) {
  if (v >= 1e6) return absl::StrFormat("%.2fM", v / 1e6);
  if (v >= 1e3) return absl::StrFormat("%.1fk", v / 1e3);
  return absl::StrFormat("%.0f", v);
}

std::string Value(Scenario s, double v) {
  switch (s) {
    case Scenario::kS1:
    case Scenario::kS4:
      return Rate(v);
    case Scenario::kS2:
      return absl::StrFormat("%.2f", v);
    case Scenario::kS3:
      return absl::StrFormat("%.1f", v);
    case Scenario::kS5:
      return absl::StrFormat("%.1f", v);
  }
  return "";
}

std::string JsonNumber(double v) {
  if (!std::isfinite(v)) return "null";
  if (std::fabs(v) >= 1e4) return absl::StrFormat("%.0f", v);
  return absl::StrFormat("%.4g", v);
}

// The median of `field`, or NaN when the cell is missing.
double MedianOf(const Results& r, Scenario s, const std::string& system, double Sample::*field) {
  const Cell* c = r.Get(s, system);
  return c == nullptr ? NAN : c->Median(field);
}

std::string Ratio(double tc, double base) {
  if (!std::isfinite(tc) || !std::isfinite(base) || base <= 0) return "";
  return absl::StrFormat(" (%.2fx)", tc / base);
}

// A row comparing typed_channel with every baseline of the scenario.
std::string CompareRow(const Results& r, Scenario s, const std::string& label,
                       double Sample::*field, const std::string& target) {
  const std::vector<std::string> systems = SystemsOf(s);
  const double tc = MedianOf(r, s, "typed_channel", field);
  std::vector<std::string> cells = {label, Unit(s)};
  for (const std::string& sys : kAllSystems) {
    if (std::find(systems.begin(), systems.end(), sys) == systems.end()) {
      cells.push_back("");
      continue;
    }
    const double v = MedianOf(r, s, sys, field);
    if (!std::isfinite(v)) {
      cells.push_back(r.cells().count({s, sys}) != 0 ? "null" : "not run");
    } else if (sys == "typed_channel") {
      cells.push_back(Value(s, v));
    } else {
      cells.push_back(Value(s, v) + Ratio(tc, v));
    }
  }
  cells.push_back(target);
  return absl::StrCat("| ", absl::StrJoin(cells, " | "), " |\n");
}

// "PASS"/"FAIL" with the deciding numbers, or "n/a" when an input is missing.
std::string Verdict(bool ok, const std::string& detail) {
  return absl::StrCat(ok ? "PASS" : "FAIL", ": ", detail);
}

std::string ThroughputTarget(const Results& r, Scenario s, const std::vector<std::string>& rivals) {
  const double tc = MedianOf(r, s, "typed_channel", &Sample::value);
  double best = NAN;
  std::string best_name;
  for (const std::string& rival : rivals) {
    const double v = MedianOf(r, s, rival, &Sample::value);
    if (std::isfinite(v) && !(v <= best)) {
      best = v;
      best_name = rival;
    }
  }
  const std::string want = absl::StrCat(">= ", absl::StrJoin(rivals, "/"));
  if (!std::isfinite(tc) || !std::isfinite(best)) return absl::StrCat(want, ": n/a");
  return Verdict(tc >= best, absl::StrFormat("%s; %.2fx %s", want, tc / best, best_name));
}

std::string LatencyTarget(const Results& r) {
  const double tc = MedianOf(r, Scenario::kS3, "typed_channel", &Sample::p50_us);
  const double pipe = MedianOf(r, Scenario::kS3, "bare_pipe", &Sample::p50_us);
  if (!std::isfinite(tc) || !std::isfinite(pipe)) return "p50 <= 1.1x bare_pipe: n/a";
  return Verdict(tc <= 1.1 * pipe, absl::StrFormat("p50 <= 1.1x bare_pipe; %.2fx", tc / pipe));
}

std::string MemoryRow(const Results& r, const char* who, double Sample::*start,
                      double Sample::*peak) {
  const Cell* c = r.Get(Scenario::kS5, "typed_channel");
  std::vector<std::string> cells = {absl::StrCat("S5 ", who, " RSS start -> peak"), "MiB"};
  std::string target = "peak <= 2x start: n/a";
  if (c == nullptr) {
    cells.push_back(r.cells().count({Scenario::kS5, "typed_channel"}) != 0 ? "null" : "not run");
  } else {
    const double s = c->Median(start);
    const double p = c->Median(peak);
    cells.push_back(absl::StrFormat("%.1f -> %.1f", s, p));
    target = Verdict(p <= 2 * s, absl::StrFormat("peak <= 2x start; %.2fx", p / s));
  }
  for (size_t i = 1; i < kAllSystems.size(); ++i) cells.push_back("");
  cells.push_back(target);
  return absl::StrCat("| ", absl::StrJoin(cells, " | "), " |\n");
}

}  // namespace

double Cell::Median(double Sample::*field) const {
  std::vector<double> values;
  for (const Sample& s : samples) values.push_back(s.*field);
  return bench::Median(values);
}

void Results::Add(Scenario s, const std::string& system, const absl::StatusOr<Sample>& sample) {
  Cell& cell = cells_[{s, system}];
  if (sample.ok()) {
    cell.samples.push_back(*sample);
  } else if (cell.error.empty()) {
    cell.error = sample.status().ToString();
  }
}

const Cell* Results::Get(Scenario s, const std::string& system) const {
  auto it = cells_.find({s, system});
  return it != cells_.end() && it->second.ok() ? &it->second : nullptr;
}

std::string FormatTable(const Results& r, const Params& p, int reps) {
  std::string out = absl::StrCat(
      "| scenario | unit | ", absl::StrJoin(kAllSystems, " | "), " | target |\n|", std::string(""),
      absl::StrJoin(std::vector<std::string>(kAllSystems.size() + 3, "---"), "|"), "|\n");
  out += CompareRow(r, Scenario::kS1,
                    absl::StrCat("S1 small 1->1, ", p.s1_messages, " msgs, maxsize ", p.s1_maxsize),
                    &Sample::value, ThroughputTarget(r, Scenario::kS1, {"boost", "zeromq"}));
  out += CompareRow(r, Scenario::kS2,
                    absl::StrCat("S2 1 MiB 1->1, ", p.s2_messages, " msgs, maxsize ", p.s2_maxsize),
                    &Sample::value, ThroughputTarget(r, Scenario::kS2, {"boost"}));
  out += CompareRow(r, Scenario::kS3,
                    absl::StrCat("S3 ping-pong p50, ", p.s3_roundtrips, " round trips, ",
                                 p.s3_client_cpu < 0 ? std::string("unpinned")
                                                     : absl::StrCat("CPUs ", p.s3_client_cpu, "/",
                                                                    p.s3_server_cpu)),
                    &Sample::p50_us, LatencyTarget(r));
  out += CompareRow(r, Scenario::kS3, "S3 ping-pong p99", &Sample::p99_us, "");
  out += CompareRow(r, Scenario::kS4,
                    absl::StrCat("S4 ", p.s4_producers, "->", p.s4_consumers, " JoinableQueue, ",
                                 p.s4_messages, " msgs"),
                    &Sample::value, ThroughputTarget(r, Scenario::kS4, {"boost", "zeromq"}));
  out += MemoryRow(r, "producer", &Sample::producer_start_mib, &Sample::producer_peak_mib);
  out += MemoryRow(r, "consumer", &Sample::consumer_start_mib, &Sample::consumer_peak_mib);
  out += absl::StrCat(
      "\nMedians of ", reps,
      " repetition(s). (x) = typed_channel / baseline: above 1 typed_channel "
      "is faster for msg/s and GB/s; below 1 it is faster for us (round-trip latency).\nS5: ",
      p.s5_messages, " small messages through a maxsize-", p.s5_maxsize,
      " queue to a consumer that sleeps 1 ms every ", p.s5_pause_every,
      " messages. start = VmRSS after the first ", p.s5_warmup,
      " messages (the first messages fault in the library's code and grow buffers to their "
      "working size: a fixed cost, shown under 'Every repetition'); peak = max(VmHWM at the "
      "end, VmRSS sampled every 20 ms), which covers the whole run.\n");
  return out;
}

std::string FormatNotes(const Results& r) {
  std::string values;
  std::string missing;
  for (const auto& [key, cell] : r.cells()) {
    const Scenario s = key.first;
    std::vector<std::string> runs;
    for (const Sample& sample : cell.samples) {
      if (s == Scenario::kS3) {
        runs.push_back(absl::StrFormat("%.1f/%.1f", sample.p50_us, sample.p99_us));
      } else if (s == Scenario::kS5) {
        runs.push_back(absl::StrCat("\n    ", sample.detail));
      } else {
        runs.push_back(Value(s, sample.value));
      }
    }
    if (!runs.empty()) {
      absl::StrAppend(&values, "  ", ScenarioName(s), " ", key.second, ": ",
                      absl::StrJoin(runs, s == Scenario::kS5 ? "" : ", "), "\n");
    }
    if (!cell.error.empty()) {
      absl::StrAppend(&missing, "  ", ScenarioName(s), " ", key.second, ": null: ", cell.error,
                      "\n");
    }
  }
  std::string out = absl::StrCat("Every repetition (S3: p50/p99 us):\n", values);
  if (!missing.empty()) absl::StrAppend(&out, "Missing results:\n", missing);
  return out;
}

std::string FormatJson(const Results& r) {
  std::vector<std::string> scenarios;
  for (Scenario s : kScenarios) {
    std::vector<std::string> fields = {absl::StrCat("\"unit\": \"", Unit(s), "\"")};
    auto add = [&fields](const std::string& key, double v) {
      fields.push_back(absl::StrCat("\"", key, "\": ", JsonNumber(v)));
    };
    if (s == Scenario::kS5) {
      const std::string tc = "typed_channel";
      add("producer_start", MedianOf(r, s, tc, &Sample::producer_start_mib));
      add("producer_peak", MedianOf(r, s, tc, &Sample::producer_peak_mib));
      add("consumer_start", MedianOf(r, s, tc, &Sample::consumer_start_mib));
      add("consumer_peak", MedianOf(r, s, tc, &Sample::consumer_peak_mib));
    } else {
      for (const std::string& sys : SystemsOf(s)) {
        if (s == Scenario::kS3) {
          add(sys + "_p50", MedianOf(r, s, sys, &Sample::p50_us));
          add(sys + "_p99", MedianOf(r, s, sys, &Sample::p99_us));
        } else {
          add(sys, MedianOf(r, s, sys, &Sample::value));
        }
      }
    }
    scenarios.push_back(
        absl::StrCat(" \"", ScenarioName(s), "\": {", absl::StrJoin(fields, ", "), "}"));
  }
  return absl::StrCat("{\n", absl::StrJoin(scenarios, ",\n"), "\n}\n");
}

}  // namespace bench
