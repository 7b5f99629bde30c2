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

const char kTc[] = "typed_channel";

// The table's columns, in order; a system not listed here gets a column after these.
const std::vector<std::string> kSystemColumns = {"typed_channel", "bare_pipe", "bare_pipe_batched",
                                                 "cpython",       "boost",     "zeromq"};

bool LowerIsBetter(const ScenarioDef& s) { return s.metric == Metric::kRoundTripUs; }

// The field a scenario's main row shows.
double Sample::*MainField(const ScenarioDef& s) {
  return s.metric == Metric::kRoundTripUs ? &Sample::p50_us : &Sample::value;
}

const char* Unit(Metric m) {
  switch (m) {
    case Metric::kMsgPerSecond:
      return "msg/s";
    case Metric::kGBPerSecond:
      return "GB/s";
    case Metric::kRoundTripUs:
      return "us";
    case Metric::kRssMiB:
      return "MiB";
  }
  return "";
}

std::string Rate(double v) {
  if (v >= 1e6) return absl::StrFormat("%.2fM", v / 1e6);
  if (v >= 1e3) return absl::StrFormat("%.1fk", v / 1e3);
  return absl::StrFormat("%.0f", v);
}

std::string Value(Metric m, double v) {
  switch (m) {
    case Metric::kMsgPerSecond:
      return Rate(v);
    case Metric::kGBPerSecond:
      return absl::StrFormat("%.2f", v);
    case Metric::kRoundTripUs:
    case Metric::kRssMiB:
      return absl::StrFormat("%.1f", v);
  }
  return "";
}

std::string Cpu(double us) {
  if (!std::isfinite(us)) return "n/a";
  return us >= 100 ? absl::StrFormat("%.0f", us) : absl::StrFormat("%.3g", us);
}

std::string JsonNumber(double v) {
  if (!std::isfinite(v)) return "null";
  if (std::fabs(v) >= 1e4) return absl::StrFormat("%.0f", v);
  return absl::StrFormat("%.4g", v);
}

std::string JsonArray(const std::vector<double>& values) {
  std::vector<std::string> items;
  for (double v : values) items.push_back(JsonNumber(v));
  return absl::StrCat("[", absl::StrJoin(items, ", "), "]");
}

std::string JsonString(const std::string& s) {
  std::string out = "\"";
  for (char c : s) {
    if (c == '"' || c == '\\') out += '\\';
    if (static_cast<unsigned char>(c) >= 0x20) out += c;
  }
  return out + "\"";
}

// Ratio typed_channel / other of the medians, and of the worst repetition pair (the lowest
// for throughput, the highest for latency). NaN where an input is missing.
struct Ratios {
  double median = NAN;
  double worst = NAN;
};

Ratios Compare(const Results& r, const ScenarioDef& s, const std::string& other,
               double Sample::*field) {
  Ratios out;
  const Cell* tc = r.Get(s.name, kTc);
  const Cell* base = r.Get(s.name, other);
  if (tc == nullptr || base == nullptr) return out;
  const double b = base->Median(field);
  if (b > 0) out.median = tc->Median(field) / b;
  const size_t pairs = std::min(tc->samples.size(), base->samples.size());
  for (size_t i = 0; i < pairs; ++i) {
    const double bi = base->samples[i].*field;
    if (!(bi > 0)) continue;
    const double ratio = tc->samples[i].*field / bi;
    if (!std::isfinite(out.worst) || (LowerIsBetter(s) ? ratio > out.worst : ratio < out.worst)) {
      out.worst = ratio;
    }
  }
  return out;
}

std::string RatioText(const Ratios& x, int reps) {
  if (!std::isfinite(x.median)) return "";
  if (reps <= 1 || !std::isfinite(x.worst)) return absl::StrFormat(" (%.2fx)", x.median);
  return absl::StrFormat(" (%.2fx, worst %.2fx)", x.median, x.worst);
}

std::string Row(const std::vector<std::string>& cells) {
  return absl::StrCat("| ", absl::StrJoin(cells, " | "), " |\n");
}

// A row comparing typed_channel with every other system that ran the scenario.
std::string CompareRow(const Results& r, const ScenarioDef& s, const std::vector<std::string>& cols,
                       const std::string& label, const std::string& unit, double Sample::*field,
                       bool cpu, int reps, const std::string& target) {
  std::vector<std::string> cells = {label, unit};
  for (const std::string& sys : cols) {
    if (!r.Attempted(s.name, sys)) {
      cells.push_back("");
      continue;
    }
    const Cell* c = r.Get(s.name, sys);
    if (c == nullptr) {
      cells.push_back("null");
      continue;
    }
    const double v = c->Median(field);
    std::string text = cpu ? Cpu(v) : Value(s.metric, v);
    if (sys != kTc) {
      // CPU rows show the ratio of the medians only.
      text += RatioText(Compare(r, s, sys, field), cpu ? 1 : reps);
    }
    cells.push_back(text);
  }
  cells.push_back(target);
  return Row(cells);
}

// Throughput: typed_channel against the best rival of each repetition pair.
std::string ThroughputTarget(const Results& r, const ScenarioDef& s) {
  const std::string want = absl::StrCat(">= ", absl::StrJoin(s.rivals, "/"));
  const Cell* tc = r.Get(s.name, kTc);
  double best = NAN;
  std::string best_name;
  double worst_pair = NAN;
  for (const std::string& rival : s.rivals) {
    const Cell* c = r.Get(s.name, rival);
    if (c == nullptr) continue;
    const double v = c->Median(&Sample::value);
    if (!(v <= best)) {
      best = v;
      best_name = rival;
    }
  }
  if (tc == nullptr || !std::isfinite(best)) return absl::StrCat(want, ": n/a");
  for (size_t i = 0; i < tc->samples.size(); ++i) {
    double best_i = NAN;
    for (const std::string& rival : s.rivals) {
      const Cell* c = r.Get(s.name, rival);
      if (c != nullptr && i < c->samples.size() && !(c->samples[i].value <= best_i)) {
        best_i = c->samples[i].value;
      }
    }
    if (best_i > 0) {
      const double ratio = tc->samples[i].value / best_i;
      if (!(ratio >= worst_pair)) worst_pair = ratio;
    }
  }
  const double median = tc->Median(&Sample::value) / best;
  const bool met = median >= 1.0 && worst_pair >= 1.0;
  return absl::StrFormat("%s: %s; %.2fx %s, worst pair %.2fx", want, met ? "met" : "NOT met",
                         median, best_name, worst_pair);
}

// Latency: p50 <= 1.1x the first rival (the bare pipe) and <= the others, in the median and
// the worst pair; CPU per round trip <= 2x the first rival's.
std::string LatencyTarget(const Results& r, const ScenarioDef& s) {
  if (s.rivals.empty()) return "";
  std::vector<std::string> parts;
  bool met = true;
  bool any = false;
  for (size_t i = 0; i < s.rivals.size(); ++i) {
    const Ratios x = Compare(r, s, s.rivals[i], &Sample::p50_us);
    if (!std::isfinite(x.median)) continue;
    any = true;
    const double limit = i == 0 ? 1.1 : 1.0;
    met = met && x.median <= limit && x.worst <= limit;
    parts.push_back(absl::StrFormat("p50 %.2fx %s (<= %.1f; worst %.2fx)", x.median, s.rivals[i],
                                    limit, x.worst));
  }
  const Ratios cpu = Compare(r, s, s.rivals[0], &Sample::cpu_us);
  if (std::isfinite(cpu.median)) {
    met = met && cpu.median <= 2.0;
    parts.push_back(absl::StrFormat("CPU %.2fx %s (<= 2)", cpu.median, s.rivals[0]));
  }
  if (!any) return "p50 <= 1.1x bare_pipe, <= boost: n/a";
  return absl::StrCat(met ? "met: " : "NOT met: ", absl::StrJoin(parts, ", "));
}

std::string MemoryRow(const Results& r, const ScenarioDef& s, size_t columns, const char* who,
                      double Sample::*start, double Sample::*peak) {
  const Cell* c = r.Get(s.name, kTc);
  std::vector<std::string> cells = {absl::StrCat(s.name, " ", who, " RSS start -> peak"), "MiB"};
  std::string target = "peak <= 2x start: n/a";
  if (c == nullptr) {
    cells.push_back(r.Attempted(s.name, kTc) ? "null" : "not run");
  } else {
    const double st = c->Median(start);
    const double p = c->Median(peak);
    cells.push_back(absl::StrFormat("%.1f -> %.1f", st, p));
    target = absl::StrFormat("peak <= 2x start: %s; %.2fx", p <= 2 * st ? "met" : "NOT met",
                             p / st);
  }
  for (size_t i = 1; i < columns; ++i) cells.push_back("");
  cells.push_back(target);
  return Row(cells);
}

std::string RegimeJson(const Regime& g) {
  return absl::StrCat("{\"atomic_pingpong_ns\": ", JsonNumber(g.atomic_rtt_ns),
                      ", \"pipe_roundtrip_us\": ", JsonNumber(g.pipe_rtt_us), "}");
}

}  // namespace

std::vector<double> Cell::Values(double Sample::*field) const {
  std::vector<double> values;
  for (const Sample& s : samples) values.push_back(s.*field);
  return values;
}

double Cell::Median(double Sample::*field) const { return bench::Median(Values(field)); }

void Results::Add(const std::string& scenario, const std::string& system,
                  const absl::StatusOr<Sample>& sample) {
  Cell& cell = cells_[{scenario, system}];
  if (sample.ok()) {
    cell.samples.push_back(*sample);
  } else if (cell.error.empty()) {
    cell.error = sample.status().ToString();
  }
}

const Cell* Results::Get(const std::string& scenario, const std::string& system) const {
  auto it = cells_.find({scenario, system});
  return it != cells_.end() && it->second.ok() ? &it->second : nullptr;
}

const Cell* Results::Find(const std::string& scenario, const std::string& system) const {
  auto it = cells_.find({scenario, system});
  return it != cells_.end() ? &it->second : nullptr;
}

std::vector<std::string> Results::Systems() const {
  std::vector<std::string> out;
  auto seen = [&out](const std::string& name) {
    return std::find(out.begin(), out.end(), name) != out.end();
  };
  for (const std::string& name : kSystemColumns) {
    for (const auto& [key, cell] : cells_) {
      if (key.second == name && !seen(name)) out.push_back(name);
    }
  }
  for (const auto& [key, cell] : cells_) {
    if (!seen(key.second)) out.push_back(key.second);
  }
  return out;
}

std::string FormatTable(const Results& r, const std::vector<ScenarioDef>& scenarios,
                        const RunInfo& info) {
  const std::vector<std::string> cols = r.Systems();
  std::string out =
      absl::StrCat("| scenario | unit | ", absl::StrJoin(cols, " | "), " | target |\n|",
                   absl::StrJoin(std::vector<std::string>(cols.size() + 3, "---"), "|"), "|\n");
  bool any_fresh = false;
  bool any_prebuilt_s12 = false;
  const ScenarioDef* memory = nullptr;
  for (const ScenarioDef& s : scenarios) {
    bool ran = false;
    for (const std::string& sys : cols) ran = ran || r.Attempted(s.name, sys);
    if (!ran) continue;
    const int reps = info.reps;
    switch (s.metric) {
      case Metric::kMsgPerSecond:
      case Metric::kGBPerSecond:
        if (s.driver == Driver::kOneToOne) {
          any_fresh = any_fresh || s.fresh_messages;
          any_prebuilt_s12 = any_prebuilt_s12 || !s.fresh_messages;
        }
        out += CompareRow(r, s, cols, s.label, Unit(s.metric), &Sample::value, false, reps,
                          s.target == Target::kThroughput ? ThroughputTarget(r, s) : "");
        out += CompareRow(r, s, cols, absl::StrCat(s.name, " CPU per message"), "us",
                          &Sample::cpu_us, true, reps, "");
        break;
      case Metric::kRoundTripUs:
        out += CompareRow(r, s, cols, absl::StrCat(s.label, ", p50"), "us", &Sample::p50_us, false,
                          reps, s.target == Target::kLatency ? LatencyTarget(r, s) : "");
        out += CompareRow(r, s, cols, absl::StrCat(s.name, " p99"), "us", &Sample::p99_us, false,
                          reps, "");
        out += CompareRow(r, s, cols, absl::StrCat(s.name, " CPU per round trip"), "us",
                          &Sample::cpu_us, true, reps, "");
        break;
      case Metric::kRssMiB:
        memory = &s;
        out += MemoryRow(r, s, cols.size(), "producer", &Sample::producer_start_mib,
                         &Sample::producer_peak_mib);
        out += MemoryRow(r, s, cols.size(), "consumer", &Sample::consumer_start_mib,
                         &Sample::consumer_peak_mib);
        out += CompareRow(r, s, cols, absl::StrCat(s.name, " CPU per message"), "us",
                          &Sample::cpu_us, true, reps, "");
        break;
    }
  }
  absl::StrAppend(
      &out, "\nMedians of ", info.reps,
      " repetition(s), interleaved (repetition i of every system ran in the same round). (x) = "
      "typed_channel / that system: the ratio of the medians, then the worst of the repetition "
      "pairs (the lowest for msg/s and GB/s, where above 1 typed_channel is faster; the highest "
      "for us, where below 1 it is faster). Targets are judged on the worst pair too.\n",
      "CPU per message (per round trip for S3): user + system time of every process of the run "
      "(all their threads, and the coordinator), from the start signal until each process's "
      "measured work was done, divided by the messages (round trips, warm-up included).\n");
  if (any_fresh) {
    absl::StrAppend(
        &out,
        "Built per msg (S1, S2): every Put/send makes a new message, typed_channel a new "
        "capnp::MallocMessageBuilder, the others a new heap buffer (ZeroMQ a new zmq::message_t; "
        "bare_pipe_batched builds into its batch buffer), the producer writing every payload "
        "byte; every consumer reads every payload byte (a checksum, verified). --prebuilt sends "
        "one pre-built payload with a fresh id instead and reads none.\n");
  }
  if (any_prebuilt_s12) {
    absl::StrAppend(&out,
                    "Pre-built (--prebuilt): S1/S2 send one payload built once per producer with "
                    "a fresh id each time; consumers do not read the payload.\n");
  }
  absl::StrAppend(
      &out,
      "S3, S4 and S5 send pre-built payloads. Messages in flight: typed_channel, Boost and "
      "CPython hold at most maxsize (S1/S3/S4/S5 1000, S2 16); ZeroMQ bounds each of its P x C "
      "connections separately, ",
      info.zeromq_shared_window
          ? "set to maxsize / (P x C) per connection (half SNDHWM, half RCVHWM) plus the "
            "kernel's minimum socket buffers (~8 KiB each way, ~120 small messages per "
            "connection)"
          : "here (--zeromq_window=per_connection) SNDHWM = RCVHWM = maxsize on each: up to "
            "2 x P x C x maxsize messages (4->4: 32,000) plus the kernel's socket buffers",
      "; the bare pipe ignores maxsize (a 1 MiB pipe: ~16k small messages).\n",
      "S4's TaskDone/Join: typed_channel's own JoinableQueue (exact, crash-safe counts); Boost "
      "and ZeroMQ have none, so the driver emulates it with one shared atomic counter (the "
      "cheapest possible); CPython uses JoinableQueue.task_done()/join().\n");
  if (memory != nullptr) {
    const ScenarioDef& s = *memory;
    absl::StrAppend(
        &out, s.name, ": ", s.messages, " small messages through a maxsize-", s.maxsize,
        " queue to a consumer that sleeps 1 ms at regular intervals. start = VmRSS after the "
        "warm-up messages (they fault in the library's code and grow buffers to their working "
        "size: a fixed cost, shown under 'Every repetition'); peak = max(VmHWM at the end, VmRSS "
        "sampled every 20 ms), which covers the whole run.\n");
  }
  absl::StrAppend(&out, "Regime at start: ", DescribeRegime(info.regime_start),
                  "\nRegime at end:   ", DescribeRegime(info.regime_end), "\n");
  return out;
}

std::string FormatNotes(const Results& r, const std::vector<ScenarioDef>& scenarios) {
  std::string values;
  std::string missing;
  for (const ScenarioDef& s : scenarios) {
    for (const std::string& sys : r.Systems()) {
      const Cell* c = r.Find(s.name, sys);
      if (c == nullptr) continue;
      if (!c->error.empty()) {
        absl::StrAppend(&missing, "  ", s.name, " ", sys, ": null: ", c->error, "\n");
        continue;
      }
      std::vector<std::string> runs;
      std::vector<std::string> cpu;
      for (const Sample& sample : c->samples) {
        if (s.metric == Metric::kRoundTripUs) {
          runs.push_back(absl::StrFormat("%.1f/%.1f", sample.p50_us, sample.p99_us));
        } else if (s.metric == Metric::kRssMiB) {
          runs.push_back(absl::StrCat("\n    ", sample.detail));
        } else {
          runs.push_back(Value(s.metric, sample.value));
        }
        cpu.push_back(Cpu(sample.cpu_us));
      }
      absl::StrAppend(&values, "  ", s.name, " ", sys, ": ",
                      absl::StrJoin(runs, s.metric == Metric::kRssMiB ? "" : ", "),
                      s.metric == Metric::kRssMiB ? "\n   " : "", " (CPU us: ",
                      absl::StrJoin(cpu, ", "), ")\n");
    }
  }
  std::string out = absl::StrCat("Every repetition (S3: p50/p99 us):\n", values);
  if (!missing.empty()) absl::StrAppend(&out, "Missing results:\n", missing);
  return out;
}

std::string FormatJson(const Results& r, const std::vector<ScenarioDef>& scenarios,
                       const RunInfo& info) {
  std::vector<std::string> entries;
  entries.push_back(absl::StrCat(" \"regime\": {\"start\": ", RegimeJson(info.regime_start),
                                 ", \"end\": ", RegimeJson(info.regime_end), "}"));
  entries.push_back(absl::StrCat(" \"machine\": ", JsonString(info.machine),
                                 ", \"loadavg_before\": ", JsonString(info.loadavg_before),
                                 ", \"loadavg_after\": ", JsonString(info.loadavg_after),
                                 ", \"repetitions\": ", info.reps));
  const std::vector<std::string> systems = r.Systems();
  for (const ScenarioDef& s : scenarios) {
    std::vector<std::string> ran;
    for (const std::string& sys : systems) {
      if (r.Attempted(s.name, sys)) ran.push_back(sys);
    }
    if (ran.empty()) continue;
    std::vector<std::string> fields = {absl::StrCat("\"unit\": \"", Unit(s.metric), "\"")};
    auto add = [&fields](const std::string& key, const std::string& json) {
      fields.push_back(absl::StrCat(JsonString(key), ": ", json));
    };
    // Per system: median, or null when missing; "reps" every repetition.
    auto per_system = [&](double Sample::*field, bool median) {
      std::vector<std::string> items;
      for (const std::string& sys : ran) {
        const Cell* c = r.Get(s.name, sys);
        const std::string v = c == nullptr ? "null"
                              : median     ? JsonNumber(c->Median(field))
                                           : JsonArray(c->Values(field));
        items.push_back(absl::StrCat(JsonString(sys), ": ", v));
      }
      return absl::StrCat("{", absl::StrJoin(items, ", "), "}");
    };
    if (s.metric == Metric::kRssMiB) {
      const Cell* c = r.Get(s.name, kTc);
      auto med = [c](double Sample::*f) { return JsonNumber(c == nullptr ? NAN : c->Median(f)); };
      add("producer_start", med(&Sample::producer_start_mib));
      add("producer_peak", med(&Sample::producer_peak_mib));
      add("consumer_start", med(&Sample::consumer_start_mib));
      add("consumer_peak", med(&Sample::consumer_peak_mib));
    } else {
      for (const std::string& sys : ran) {
        const Cell* c = r.Get(s.name, sys);
        if (s.metric == Metric::kRoundTripUs) {
          add(sys + "_p50", JsonNumber(c == nullptr ? NAN : c->Median(&Sample::p50_us)));
          add(sys + "_p99", JsonNumber(c == nullptr ? NAN : c->Median(&Sample::p99_us)));
        } else {
          add(sys, JsonNumber(c == nullptr ? NAN : c->Median(&Sample::value)));
        }
      }
    }
    add("reps", per_system(MainField(s), false));
    if (s.metric == Metric::kRoundTripUs) add("reps_p99", per_system(&Sample::p99_us, false));
    add(s.metric == Metric::kRoundTripUs ? "cpu_us_per_roundtrip" : "cpu_us_per_message",
        per_system(&Sample::cpu_us, true));
    add("cpu_reps", per_system(&Sample::cpu_us, false));
    if (s.metric != Metric::kRssMiB) {
      std::vector<std::string> worst;
      for (const std::string& sys : ran) {
        if (sys == kTc) continue;
        const Ratios x = Compare(r, s, sys, MainField(s));
        worst.push_back(absl::StrCat(JsonString(sys), ": {\"median\": ", JsonNumber(x.median),
                                     ", \"worst\": ", JsonNumber(x.worst), "}"));
      }
      add("ratio", absl::StrCat("{", absl::StrJoin(worst, ", "), "}"));
    }
    entries.push_back(
        absl::StrCat(" ", JsonString(s.name), ": {", absl::StrJoin(fields, ", "), "}"));
  }
  return absl::StrCat("{\n", absl::StrJoin(entries, ",\n"), "\n}\n");
}

}  // namespace bench
