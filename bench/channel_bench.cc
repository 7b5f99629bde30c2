// //bench:channel_bench: typed_channel against its baselines, in one run, one table.
//
//   ./bazelw run -c opt //bench:channel_bench                      # full run, a few minutes
//   ./bazelw run -c opt //bench:channel_bench -- --quick           # smoke run, well under 1 min
//   ./bazelw run -c opt //bench:channel_bench -- --json=/tmp/r.json
//   ... -- --scenarios=S1,S3 --systems=typed_channel,bare_pipe --reps=5
//   ... -- --scenarios=S4 --systems=typed_channel,zeromq --s4_messages=4000000 --reps=9
//
// Scenarios S1..S5 and their parameters: scenarios.h. Systems: typed_channel
// (typed_channel_runner.cc) and the baselines bare_pipe / bare_pipe_batched (pipe_baseline.cc),
// cpython (cpython_baseline.py), boost (boost_baseline.cc) and zeromq (zmq_baseline.cc).
// Repetitions are interleaved (each repetition runs every system once) so that drift in the
// machine's state spreads over all of them; the table shows medians. Progress goes to stderr,
// the table to stdout.
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include <fstream>
#include <memory>
#include <set>
#include <string>
#include <vector>

#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "absl/flags/usage.h"
#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_split.h"
#include "bench/harness.h"
#include "bench/report.h"
#include "bench/scenarios.h"
#include "bench/transport.h"

ABSL_FLAG(bool, quick, false, "far fewer messages and 1 repetition (CI smoke run)");
ABSL_FLAG(int, reps, 0, "repetitions per scenario and system (0: 3, or 1 with --quick)");
ABSL_FLAG(std::string, json, "", "also write the medians to this file as JSON");
ABSL_FLAG(std::string, scenarios, "S1,S2,S3,S4,S5", "comma-separated scenarios to run");
ABSL_FLAG(std::string, systems, "typed_channel,bare_pipe,bare_pipe_batched,cpython,boost,zeromq",
          "comma-separated systems to run");
ABSL_FLAG(std::string, python, "python3", "the CPython interpreter (looked up in PATH)");
ABSL_FLAG(std::string, s3_pin, "none",
          "S3 placement: none (the scheduler decides, run by run: a shared CPU gives a few us per "
          "hop, a cross-CPU wake-up tens of us on a VM), split (client on CPU 0, server on CPU "
          "1), same (both on CPU 0)");
ABSL_FLAG(int, timeout_s, 0, "time limit of one repetition, seconds (0: 300, or 60 with --quick)");
ABSL_FLAG(int64_t, s4_messages, 0,
          "S4's message count (0: 400000, or 40000 with --quick); more messages make a repetition "
          "long enough for small differences to stand out of the noise");
ABSL_FLAG(int, budget_s, 0,
          "once the whole run has taken this long, skip what remains (0: 3600, or 600 with "
          "--quick, which CI runs under a 900 s limit)");

namespace bench {
namespace {

bool Exists(const std::string& path) { return !path.empty() && access(path.c_str(), R_OK) == 0; }

// cpython_baseline.py in the binary's runfiles (bazel run's working directory is the runfiles'
// workspace directory; RUNFILES_DIR or <binary>.runfiles otherwise).
std::string FindScript() {
  const std::string rel = "typed_channel/bench/cpython_baseline.py";
  std::vector<std::string> candidates;
  if (const char* dir = getenv("RUNFILES_DIR")) candidates.push_back(absl::StrCat(dir, "/", rel));
  char exe[PATH_MAX];
  const ssize_t n = readlink("/proc/self/exe", exe, sizeof exe - 1);
  if (n > 0)
    candidates.push_back(absl::StrCat(std::string(exe, static_cast<size_t>(n)), ".runfiles/", rel));
  candidates.push_back("bench/cpython_baseline.py");
  for (const std::string& c : candidates) {
    if (Exists(c)) return c;
  }
  return "";
}

std::string FirstLine(const char* path) {
  std::ifstream in(path);
  std::string line;
  std::getline(in, line);
  return line;
}

// "2 CPUs (AMD EPYC)": what the numbers were measured on.
std::string Machine() {
  std::ifstream in("/proc/cpuinfo");
  std::string line;
  std::string model = "unknown CPU";
  while (std::getline(in, line)) {
    if (absl::StartsWith(line, "model name")) {
      model = std::string(absl::StripAsciiWhitespace(line.substr(line.find(':') + 1)));
      break;
    }
  }
  return absl::StrCat(sysconf(_SC_NPROCESSORS_ONLN), " CPUs (", model, ")");
}

std::vector<std::unique_ptr<Runner>> MakeRunners(const std::set<std::string>& wanted) {
  using S = Scenario;
  std::vector<std::unique_ptr<Runner>> all;
  all.push_back(
      MakeNativeRunner(MakeTypedChannelSystem(), {S::kS1, S::kS2, S::kS3, S::kS4, S::kS5}));
  all.push_back(MakeNativeRunner(MakePipeSystem(1), {S::kS1, S::kS2, S::kS3}));
  all.push_back(MakeNativeRunner(MakePipeSystem(64), {S::kS1}));
  {
    const std::string python = FindInPath(absl::GetFlag(FLAGS_python));
    const std::string script = FindScript();
    std::string unavailable;
    if (python.empty()) {
      unavailable = absl::StrCat(absl::GetFlag(FLAGS_python), " not found on PATH");
    } else if (script.empty()) {
      unavailable = "cpython_baseline.py not found in the runfiles";
    }
    all.push_back(MakeCpythonRunner(python, script, unavailable));
  }
  all.push_back(MakeNativeRunner(MakeBoostSystem(), {S::kS1, S::kS2, S::kS3, S::kS4}));
  all.push_back(MakeNativeRunner(MakeZmqSystem(), {S::kS1, S::kS2, S::kS3, S::kS4}));
  std::vector<std::unique_ptr<Runner>> chosen;
  for (auto& r : all) {
    if (wanted.count(r->name()) != 0) chosen.push_back(std::move(r));
  }
  return chosen;
}

std::string Describe(Scenario s, const Sample& sample) {
  switch (s) {
    case Scenario::kS1:
    case Scenario::kS4:
      return absl::StrFormat("%.0f msg/s", sample.value);
    case Scenario::kS2:
      return absl::StrFormat("%.2f GB/s", sample.value);
    case Scenario::kS3:
      return absl::StrFormat("p50 %.1f us, p99 %.1f us", sample.p50_us, sample.p99_us);
    case Scenario::kS5:
      return absl::StrFormat("producer %.1f -> %.1f MiB, consumer %.1f -> %.1f MiB (%.0f msg/s)",
                             sample.producer_start_mib, sample.producer_peak_mib,
                             sample.consumer_start_mib, sample.consumer_peak_mib, sample.value);
  }
  return "";
}

int Main(int argc, char** argv) {
  absl::SetProgramUsageMessage(
      "typed_channel benchmarks against bare pipes, CPython, Boost and ZeroMQ");
  absl::ParseCommandLine(argc, argv);
  const bool quick = absl::GetFlag(FLAGS_quick);
  Params params = quick ? Params::Quick() : Params::Full();
  if (absl::GetFlag(FLAGS_s4_messages) > 0) params.s4_messages = absl::GetFlag(FLAGS_s4_messages);
  if (absl::GetFlag(FLAGS_timeout_s) > 0)
    params.run_timeout = absl::Seconds(absl::GetFlag(FLAGS_timeout_s));
  const std::string pin = absl::GetFlag(FLAGS_s3_pin);
  if (pin == "split" && sysconf(_SC_NPROCESSORS_ONLN) >= 2) {
    params.s3_client_cpu = 0;
    params.s3_server_cpu = 1;
  } else if (pin == "same" || pin == "split") {
    params.s3_client_cpu = 0;
    params.s3_server_cpu = 0;
  } else if (pin != "none") {
    fprintf(stderr, "--s3_pin must be split, same or none\n");
    return 2;
  }
  const int reps = absl::GetFlag(FLAGS_reps) > 0 ? absl::GetFlag(FLAGS_reps) : (quick ? 1 : 3);

  std::set<std::string> wanted_scenarios;
  for (absl::string_view s :
       absl::StrSplit(absl::GetFlag(FLAGS_scenarios), ',', absl::SkipEmpty())) {
    wanted_scenarios.insert(std::string(s));
  }
  std::set<std::string> wanted_systems;
  for (absl::string_view s : absl::StrSplit(absl::GetFlag(FLAGS_systems), ',', absl::SkipEmpty())) {
    wanted_systems.insert(std::string(s));
  }
  std::vector<std::unique_ptr<Runner>> runners = MakeRunners(wanted_systems);

  Results results;
  const absl::Time started = absl::Now();
  const std::string load_before = FirstLine("/proc/loadavg");
  const absl::Duration budget = absl::Seconds(
      absl::GetFlag(FLAGS_budget_s) > 0 ? absl::GetFlag(FLAGS_budget_s) : (quick ? 600 : 3600));
  for (Scenario s : {Scenario::kS1, Scenario::kS2, Scenario::kS3, Scenario::kS4, Scenario::kS5}) {
    if (wanted_scenarios.count(ScenarioName(s)) == 0) continue;
    for (int rep = 0; rep < reps; ++rep) {
      for (auto& runner : runners) {
        if (!runner->Supports(s)) continue;
        const absl::Time t0 = absl::Now();
        absl::StatusOr<Sample> sample =
            t0 - started > budget
                ? absl::StatusOr<Sample>(absl::DeadlineExceededError(absl::StrCat(
                      "skipped: the run exceeded its ", absl::FormatDuration(budget), " budget")))
                : runner->Run(s, params);
        fprintf(stderr, "[%s rep %d/%d] %-17s %s (%.1f s)\n", ScenarioName(s), rep + 1, reps,
                runner->name().c_str(),
                sample.ok() ? Describe(s, *sample).c_str() : sample.status().ToString().c_str(),
                absl::ToDoubleSeconds(absl::Now() - t0));
        results.Add(s, runner->name(), sample);
      }
    }
  }

  printf("\n%s\n%s", FormatTable(results, params, reps).c_str(), FormatNotes(results).c_str());
  printf("Machine: %s; /proc/loadavg before: %s; after: %s\n", Machine().c_str(),
         load_before.c_str(), FirstLine("/proc/loadavg").c_str());
  printf("Total time: %.1f s%s\n", absl::ToDoubleSeconds(absl::Now() - started),
         quick ? " (--quick)" : "");
  const std::string json_path = absl::GetFlag(FLAGS_json);
  if (!json_path.empty()) {
    std::ofstream out(json_path);
    out << FormatJson(results);
    if (!out) {
      fprintf(stderr, "cannot write %s\n", json_path.c_str());
      return 1;
    }
    printf("JSON written to %s\n", json_path.c_str());
  }
  fflush(stdout);
  return 0;
}

}  // namespace
}  // namespace bench

int main(int argc, char** argv) { return bench::Main(argc, argv); }
