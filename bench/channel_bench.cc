// //bench:channel_bench: typed_channel against its baselines, in one run, one table.
//
//   ./bazelw run -c opt //bench:channel_bench                      # full run, a few minutes
//   ./bazelw run -c opt //bench:channel_bench -- --quick           # smoke run, ~1 min
//   ./bazelw run -c opt //bench:channel_bench -- --json=/tmp/r.json
//   ... -- --scenarios=S1,S3 --systems=typed_channel,bare_pipe --reps=5
//   ... -- --scenarios='S4*' --systems=typed_channel,zeromq --s4_messages=4000000 --reps=9
//
// Scenarios (S1, S2, S3, S4x1, S4x2, S4 = 4->4, S4x8, S5) and their parameters: scenarios.h,
// which also says how to add a scenario or a system. Systems: typed_channel
// (typed_channel_runner.cc) and the baselines bare_pipe / bare_pipe_batched (pipe_baseline.cc),
// cpython (cpython_baseline.py), boost (boost_baseline.cc) and zeromq (zmq_baseline.cc).
// Repetitions are interleaved (each repetition runs every system once) so that drift in the
// machine's state spreads over all of them; the table shows medians and the worst repetition
// pair. The host's regime (cross-CPU atomic and wake-up costs) is measured before and after.
// Progress goes to stderr, the table to stdout.
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
ABSL_FLAG(std::string, json, "",
          "also write the results (medians, every repetition, CPU, regime) to this file as JSON");
ABSL_FLAG(std::string, scenarios, "all",
          "comma-separated scenarios to run (S1,S2,S3,S4x1,S4x2,S4,S4x8,S5; a trailing * matches "
          "a prefix: S4* is every S4 size), or all");
ABSL_FLAG(std::string, zeromq_window, "shared",
          "ZeroMQ's in-flight bound: shared (maxsize shared out over its P x C connections, "
          "socket buffers at the kernel's minimum) or per_connection (HWM = maxsize on every "
          "connection, default socket buffers: ZeroMQ's usual setting, P x C x 2 x maxsize)");
ABSL_FLAG(bool, prebuilt, false,
          "S1/S2 send one pre-built payload with a fresh id, and receivers do not read payloads "
          "(the system's own cost alone); default: every message built per Put and read");
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

// Every system, with the scenarios it runs (by name).
std::vector<std::unique_ptr<Runner>> MakeRunners(const std::set<std::string>& wanted,
                                                 const std::vector<ScenarioDef>& scenarios) {
  std::set<std::string> every;
  std::set<std::string> queues;  // all but typed_channel-only ones (S5)
  for (const ScenarioDef& s : scenarios) {
    every.insert(s.name);
    if (s.driver != Driver::kMemory) queues.insert(s.name);
  }
  std::vector<std::unique_ptr<Runner>> all;
  all.push_back(MakeNativeRunner(MakeTypedChannelSystem(), every));
  all.push_back(MakeNativeRunner(MakePipeSystem(1), {"S1", "S2", "S3"}));
  all.push_back(MakeNativeRunner(MakePipeSystem(64), {"S1"}));
  {
    const std::string python = FindInPath(absl::GetFlag(FLAGS_python));
    const std::string script = FindScript();
    std::string unavailable;
    if (python.empty()) {
      unavailable = absl::StrCat(absl::GetFlag(FLAGS_python), " not found on PATH");
    } else if (script.empty()) {
      unavailable = "cpython_baseline.py not found in the runfiles";
    }
    all.push_back(MakeCpythonRunner(python, script, unavailable, queues));
  }
  all.push_back(MakeNativeRunner(MakeBoostSystem(), queues));
  all.push_back(MakeNativeRunner(
      MakeZmqSystem(absl::GetFlag(FLAGS_zeromq_window) != "per_connection"), queues));
  std::vector<std::unique_ptr<Runner>> chosen;
  for (auto& r : all) {
    if (wanted.count(r->name()) != 0) chosen.push_back(std::move(r));
  }
  return chosen;
}

std::string Describe(const ScenarioDef& s, const Sample& sample) {
  const std::string cpu = absl::StrFormat(", CPU %.3g us/%s", sample.cpu_us,
                                          s.driver == Driver::kPingPong ? "round trip" : "msg");
  switch (s.metric) {
    case Metric::kMsgPerSecond:
      return absl::StrFormat("%.0f msg/s", sample.value) + cpu;
    case Metric::kGBPerSecond:
      return absl::StrFormat("%.2f GB/s", sample.value) + cpu;
    case Metric::kRoundTripUs:
      return absl::StrFormat("p50 %.1f us, p99 %.1f us", sample.p50_us, sample.p99_us) + cpu;
    case Metric::kRssMiB:
      return absl::StrFormat("producer %.1f -> %.1f MiB, consumer %.1f -> %.1f MiB (%.0f msg/s)",
                             sample.producer_start_mib, sample.producer_peak_mib,
                             sample.consumer_start_mib, sample.consumer_peak_mib, sample.value) +
             cpu;
  }
  return "";
}

bool Wanted(const std::set<std::string>& wanted, const std::string& name) {
  if (wanted.count("all") != 0 || wanted.count(name) != 0) return true;
  for (const std::string& w : wanted) {
    if (absl::EndsWith(w, "*") && absl::StartsWith(name, w.substr(0, w.size() - 1))) return true;
  }
  return false;
}

int Main(int argc, char** argv) {
  absl::SetProgramUsageMessage(
      "typed_channel benchmarks against bare pipes, CPython, Boost and ZeroMQ");
  absl::ParseCommandLine(argc, argv);
  const bool quick = absl::GetFlag(FLAGS_quick);
  Params params = quick ? Params::Quick() : Params::Full();
  if (absl::GetFlag(FLAGS_s4_messages) > 0) params.s4_messages = absl::GetFlag(FLAGS_s4_messages);
  params.prebuilt = absl::GetFlag(FLAGS_prebuilt);
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
  const std::string zeromq_window = absl::GetFlag(FLAGS_zeromq_window);
  if (zeromq_window != "shared" && zeromq_window != "per_connection") {
    fprintf(stderr, "--zeromq_window must be shared or per_connection\n");
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
  const std::vector<ScenarioDef> all_scenarios = ScenarioList(params);
  std::vector<ScenarioDef> scenarios;
  for (const ScenarioDef& s : all_scenarios) {
    if (Wanted(wanted_scenarios, s.name)) scenarios.push_back(s);
  }
  std::vector<std::unique_ptr<Runner>> runners = MakeRunners(wanted_systems, all_scenarios);

  Results results;
  RunInfo info;
  info.reps = reps;
  info.machine = Machine();
  info.zeromq_shared_window = zeromq_window == "shared";
  const absl::Time started = absl::Now();
  info.loadavg_before = FirstLine("/proc/loadavg");
  info.regime_start = MeasureRegime();
  fprintf(stderr, "Regime at start: %s; loadavg %s\n", DescribeRegime(info.regime_start).c_str(),
          info.loadavg_before.c_str());
  const absl::Duration budget = absl::Seconds(
      absl::GetFlag(FLAGS_budget_s) > 0 ? absl::GetFlag(FLAGS_budget_s) : (quick ? 600 : 3600));
  for (const ScenarioDef& s : scenarios) {
    for (int rep = 0; rep < reps; ++rep) {
      for (auto& runner : runners) {
        if (!runner->Supports(s)) continue;
        const absl::Time t0 = absl::Now();
        absl::StatusOr<Sample> sample =
            t0 - started > budget
                ? absl::StatusOr<Sample>(absl::DeadlineExceededError(absl::StrCat(
                      "skipped: the run exceeded its ", absl::FormatDuration(budget), " budget")))
                : runner->Run(s, params);
        fprintf(stderr, "[%s rep %d/%d] %-17s %s (%.1f s)\n", s.name.c_str(), rep + 1, reps,
                runner->name().c_str(),
                sample.ok() ? Describe(s, *sample).c_str() : sample.status().ToString().c_str(),
                absl::ToDoubleSeconds(absl::Now() - t0));
        results.Add(s.name, runner->name(), sample);
      }
    }
  }
  info.regime_end = MeasureRegime();
  info.loadavg_after = FirstLine("/proc/loadavg");

  printf("\n%s\n%s", FormatTable(results, scenarios, info).c_str(),
         FormatNotes(results, scenarios).c_str());
  printf("Machine: %s; /proc/loadavg before: %s; after: %s\n", info.machine.c_str(),
         info.loadavg_before.c_str(), info.loadavg_after.c_str());
  printf("Total time: %.1f s%s\n", absl::ToDoubleSeconds(absl::Now() - started),
         quick ? " (--quick)" : "");
  const std::string json_path = absl::GetFlag(FLAGS_json);
  if (!json_path.empty()) {
    std::ofstream out(json_path);
    out << FormatJson(results, scenarios, info);
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
