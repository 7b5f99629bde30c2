// The scenarios (S1..S5), their parameters, and the Runner interface the main program drives:
// one Runner per column of the results table. C++ systems share the scenario drivers in
// scenarios.cc through the System interface (transport.h); CPython runs its own copy of the
// scenarios in cpython_baseline.py.
#ifndef BENCH_SCENARIOS_H_
#define BENCH_SCENARIOS_H_

#include <cstdint>
#include <memory>
#include <set>
#include <string>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "bench/transport.h"

namespace bench {

enum class Scenario { kS1, kS2, kS3, kS4, kS5 };
const char* ScenarioName(Scenario s);  // "S1".."S5"

struct Params {
  size_t small_payload = 48;       // demo::Small's data: with the u64 id, the S1/S3/S4/S5 message
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
  int s4_producers = 4;
  int s4_consumers = 4;
  int64_t s5_messages = 10000000;
  int64_t s5_maxsize = 1000;
  int64_t s5_pause_every = 2000;  // the slow consumer sleeps 1 ms after this many messages
  int64_t s5_warmup = 10000;      // "start" memory is read after this many messages
  absl::Duration run_timeout = absl::Seconds(300);  // one repetition of one scenario

  static Params Full();
  static Params Quick();
};

// One repetition's result.
struct Sample {
  double value = 0;   // S1, S4: messages/s; S2: GB/s (1e9 bytes of payload per second)
  double p50_us = 0;  // S3: round trip
  double p99_us = 0;
  double producer_start_mib = 0;  // S5
  double producer_peak_mib = 0;
  double consumer_start_mib = 0;
  double consumer_peak_mib = 0;
  std::string detail;  // S5: the memory readings behind those numbers
};

// One column of the table.
class Runner {
 public:
  virtual ~Runner() = default;
  virtual std::string name() const = 0;
  virtual bool Supports(Scenario s) const = 0;
  // Runs one repetition. An error means the sample is missing (the reason is reported).
  virtual absl::StatusOr<Sample> Run(Scenario s, const Params& params) = 0;
};

// A C++ System driven by the shared scenario drivers, for the given scenarios.
std::unique_ptr<Runner> MakeNativeRunner(std::unique_ptr<System> system,
                                         std::set<Scenario> scenarios);
// CPython's multiprocessing (cpython_runner.cc). `python` may be empty (then every run fails
// with the reason given).
std::unique_ptr<Runner> MakeCpythonRunner(std::string python, std::string script,
                                          std::string unavailable_reason);

}  // namespace bench

#endif  // BENCH_SCENARIOS_H_
