// The scenarios, their parameters, and the Runner interface the main program drives: one Runner
// per column of the results table. C++ systems share the scenario drivers in scenarios.cc
// through the System interface (transport.h); CPython runs its own copy of the drivers in
// cpython_baseline.py.
//
// A scenario is a row of the table: a ScenarioDef (a driver, sizes, counts, how messages are
// made, and the target it is judged by), listed by ScenarioList() in scenarios.cc.
//   To add a scenario (e.g. S1b/S4b, batches of 64): one ScenarioDef in ScenarioList(), and its
//   name in the scenario sets of the systems that run it (MakeRunners in channel_bench.cc). Its
//   rows, CPU row, JSON entry and target follow from the ScenarioDef. A new way of moving
//   messages (e.g. a batch per Send) is a field of ScenarioDef/ChannelSpec that the systems read;
//   a new shape of run is a new Driver with its function in scenarios.cc.
//   To add a system (e.g. NATS): a System (transport.h) in its own file and BUILD target, one
//   MakeNativeRunner line in MakeRunners naming the scenarios it runs, and (for its column's
//   place and a table note) an entry in kSystemColumns in report.cc; a system not listed there
//   still gets a column, after the others.
#ifndef BENCH_SCENARIOS_H_
#define BENCH_SCENARIOS_H_

#include <cstddef>
#include <cstdint>
#include <memory>
#include <set>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "bench/transport.h"

namespace bench {

enum class Driver {
  kOneToOne,  // 1 producer -> 1 consumer; ids must arrive in order; clock stops at the last one
  kPingPong,  // request/response round trips between two processes; p50 and p99
  kFanInOut,  // P producers -> C consumers, TaskDone per item, Join; every id exactly once
  kMemory,    // kOneToOne to a consumer that pauses; RSS of both processes (typed_channel only)
};

enum class Metric { kMsgPerSecond, kGBPerSecond, kRoundTripUs, kRssMiB };

// How typed_channel's result is judged against the others, per repetition pair (see report.cc).
enum class Target {
  kNone,
  kThroughput,  // >= the best of `rivals`, in the median and in the worst pair
  kLatency,     // p50 <= 1.1x rivals[0] (the bare pipe) and <= the others; CPU per round trip
                // <= 2x rivals[0]'s
  kMemory,      // peak RSS <= 2x start RSS
};

struct ScenarioDef {
  std::string name;   // "S1", "S4x8": what --scenarios selects, the JSON key
  std::string label;  // the table row's label
  Driver driver;
  Metric metric;
  size_t payload_bytes;
  int64_t messages;  // kPingPong: round trips measured (after Params::s3_warmup)
  int64_t maxsize;
  int producers = 1;
  int consumers = 1;
  bool fresh_messages = false;  // transport.h: built per Send, every byte written and read
  Target target = Target::kNone;
  std::vector<std::string> rivals;
};

// Counts and settings behind the scenario list (the flags of channel_bench.cc set some).
struct Params {
  size_t small_payload = 48;       // demo::Small's data: with the u64 id, the small message
  size_t large_payload = 1 << 20;  // S2
  int64_t s1_messages = 1000000;
  int64_t s1_maxsize = 1000;
  int64_t s2_messages = 2000;
  int64_t s2_maxsize = 16;
  int64_t s3_roundtrips = 20000;
  int64_t s3_warmup = 1000;  // round trips before measuring
  // CPUs the S3 client and server (and their threads) are pinned to; -1: not pinned. Unpinned,
  // the scheduler decides whether the two share a CPU (a wake-up then costs a few us) or not
  // (a cross-CPU wake-up: tens of us on a VM), and the result flips between the two.
  int s3_client_cpu = -1;
  int s3_server_cpu = -1;
  int64_t s4_messages = 400000;
  int64_t s4_maxsize = 1000;
  std::vector<int> s4_scale = {1, 2, 4, 8};  // S4 runs N producers -> N consumers for each N
  int64_t s5_messages = 10000000;
  int64_t s5_maxsize = 1000;
  int64_t s5_pause_every = 2000;  // the slow consumer sleeps 1 ms after this many messages
  int64_t s5_warmup = 10000;      // "start" memory is read after this many messages
  bool prebuilt = false;  // S1/S2 send pre-built messages, receivers do not read payloads
  absl::Duration run_timeout = absl::Seconds(300);  // one repetition of one scenario

  static Params Full();
  static Params Quick();
};

// Every scenario, in the table's order: S1, S2, S3, S4x1, S4x2, S4 (4 -> 4), S4x8, S5.
std::vector<ScenarioDef> ScenarioList(const Params& params);

// One repetition's result.
struct Sample {
  double value = 0;   // kMsgPerSecond: messages/s; kGBPerSecond: 1e9 bytes of payload per s
  double p50_us = 0;  // kPingPong: round trip
  double p99_us = 0;
  // CPU time (user + sys) of every process of the run (children and coordinator) while it was
  // measured, per message (per round trip for kPingPong), in us.
  double cpu_us = 0;
  double producer_start_mib = 0;  // kMemory
  double producer_peak_mib = 0;
  double consumer_start_mib = 0;
  double consumer_peak_mib = 0;
  std::string detail;  // kMemory: the memory readings behind those numbers
};

// One column of the table.
class Runner {
 public:
  virtual ~Runner() = default;
  virtual std::string name() const = 0;
  virtual bool Supports(const ScenarioDef& s) const = 0;
  // Runs one repetition. An error means the sample is missing (the reason is reported).
  virtual absl::StatusOr<Sample> Run(const ScenarioDef& s, const Params& params) = 0;
};

// A C++ System driven by the shared scenario drivers, for the scenarios named.
std::unique_ptr<Runner> MakeNativeRunner(std::unique_ptr<System> system,
                                         std::set<std::string> scenarios);
// CPython's multiprocessing (cpython_runner.cc), for the scenarios named. `python` may be empty
// (then every run fails with the reason given).
std::unique_ptr<Runner> MakeCpythonRunner(std::string python, std::string script,
                                          std::string unavailable_reason,
                                          std::set<std::string> scenarios);

}  // namespace bench

#endif  // BENCH_SCENARIOS_H_
