// The benchmark harness: processes, shared control memory, clocks, /proc memory readings and
// statistics. Nothing here knows about any messaging system (see transport.h for those).
//
// Every scenario runs its producers and consumers as fork()ed children of the coordinator
// (the benchmark's main process). They meet in an anonymous MAP_SHARED mapping (SharedArray)
// holding a Control block: children announce they are set up, wait for the start signal, and
// report their end times, errors and memory readings there.
#ifndef BENCH_HARNESS_H_
#define BENCH_HARNESS_H_

#include <sys/types.h>

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "channel/internal/core/deadline.h"
#include "channel/internal/shm/futex.h"

namespace bench {

// CLOCK_MONOTONIC in nanoseconds (the same clock in every process, and in Python's
// time.monotonic_ns()).
inline int64_t NowNanos() { return channel::internal::MonotonicNanos(); }

// The library's futex seam, for words in MAP_SHARED memory; no timeout by default.
inline void FutexWait(std::atomic<uint32_t>* word, uint32_t expected, int64_t timeout_ns = -1) {
  channel::internal::FutexWait(word, expected, timeout_ns);
}
using channel::internal::FutexWakeAll;

// A zero-initialised array of trivially copyable T in anonymous shared memory: a child forked
// after construction sees the same bytes. Unmapped by the destructor (in every process that
// runs it; children _exit without running it).
template <typename T>
class SharedArray {
 public:
  explicit SharedArray(size_t n = 1);
  ~SharedArray();
  SharedArray(const SharedArray&) = delete;
  SharedArray& operator=(const SharedArray&) = delete;
  T* get() const { return data_; }
  T* operator->() const { return data_; }
  T& operator*() const { return *data_; }
  T& operator[](size_t i) const { return data_[i]; }
  size_t size() const { return n_; }

 private:
  T* data_;
  size_t n_;
};

void* MapShared(size_t bytes);
void UnmapShared(void* p, size_t bytes);

template <typename T>
SharedArray<T>::SharedArray(size_t n) : data_(static_cast<T*>(MapShared(n * sizeof(T)))), n_(n) {}
template <typename T>
SharedArray<T>::~SharedArray() {
  UnmapShared(data_, n_ * sizeof(T));
}

class Fleet;

// Resident memory of a process, kB, from /proc/<pid>/status: VmRSS = RssAnon (heap, stacks)
// + RssFile (mapped files: code of the binary and shared libraries) + RssShmem (shared memory).
struct MemorySnapshot {
  int64_t rss_kb;
  int64_t anon_kb;
  int64_t file_kb;
  int64_t shmem_kb;
  int64_t hwm_kb;  // VmHWM: peak VmRSS so far
};
// pid 0: this process. All -1 if unreadable.
MemorySnapshot ReadMemory(pid_t pid = 0);

// Per-child memory readings (S5).
struct ChildMemory {
  MemorySnapshot setup;  // set up, just before the start signal
  MemorySnapshot warm;   // after the first Params::s5_warmup messages
  MemorySnapshot end;    // when done
};

// The coordination block of one scenario run, shared by the coordinator and its children.
struct Control {
  std::atomic<uint32_t> ready;         // children that finished setting up
  std::atomic<uint32_t> go;            // futex word: 1 = start
  std::atomic<uint32_t> stop;          // futex word: the receivers have everything (see Stop())
  std::atomic<uint32_t> senders_done;  // futex word: producers that have sent their share
  std::atomic<uint32_t> all_done;      // futex word: set when `done` reaches `done_target`
  std::atomic<int64_t> done;           // items finished (emulated TaskDone; see scenarios.cc)
  int64_t done_target;
  std::atomic<int64_t> end_ns;  // when the consumer had the last message (S1, S2, S5)
  ChildMemory producer_memory;  // S5
  ChildMemory consumer_memory;
  double p50_us;  // S3 client's results
  double p99_us;
  std::atomic<int64_t> cpu_ns;  // CPU time (user + sys) the children spent in the measured window
  std::atomic<uint32_t> error_claimed;
  char error[512];  // the first error any child reported

  // In a child: records the first error (later ones are dropped).
  void Fail(const std::string& message);
  // In a child: counts itself ready, then sleeps until the coordinator says go.
  void ReadyThenWaitForGo();
  // In the coordinator: waits until `n` children are ready (or one failed / the deadline).
  absl::Status WaitReady(uint32_t n, Fleet& fleet, absl::Time deadline);
  // In the coordinator: returns the start timestamp, then releases the children.
  int64_t Go();
  // Everything was received: open-ended consumers stop, and senders, which wait for this
  // before Finish(), may disconnect.
  void Stop();
  void WaitForStop();
  // In a producer: counts its share as sent.
  void SenderDone();
  // In the coordinator: waits until `n` producers have sent their share (or a child failed,
  // or the deadline).
  absl::Status WaitSendersDone(uint32_t n, absl::Time deadline);
  std::string error_text() const;
  // In a child, at the end of its measured work: adds the CPU time it used since `start_ns` (a
  // CpuNanos() reading taken when the start signal came) to cpu_ns.
  void AddCpu(int64_t start_ns);
};

// The coordinator's children. Blocks SIGCHLD in the calling (main) thread so it can wait for
// them with a timeout; each child runs its function and _exit()s with its result (no
// destructors, no atexit handlers: the function must flush what it needs to).
class Fleet {
 public:
  Fleet();
  ~Fleet();  // SIGKILLs and reaps whatever is still running
  Fleet(const Fleet&) = delete;
  Fleet& operator=(const Fleet&) = delete;

  // Forks a child running fn(). kInternal if fork fails.
  absl::StatusOr<pid_t> Spawn(std::function<int()> fn);
  // Waits until every child has exited: OK. A child exiting nonzero or by a signal: kInternal
  // at once. Still running at the deadline: kDeadlineExceeded (nothing is killed; the
  // destructor or KillAll does that).
  absl::Status Wait(absl::Time deadline);
  // Reaps without blocking; kInternal if some child failed.
  absl::Status Poll();
  void KillAll();

 private:
  struct Child {
    pid_t pid;
    bool exited;
    int status;
  };
  bool Reap(bool block_until_one, absl::Time deadline);
  std::vector<Child> children_;
};

// Runs `argv` (argv[0] looked up in PATH) with stdout and stderr captured, killing its whole
// process group at the deadline. Returns the exit code and the output.
struct CommandResult {
  int exit_code = 0;
  std::string output;
};
absl::StatusOr<CommandResult> RunCommand(const std::vector<std::string>& argv, absl::Time deadline);
// Full path of an executable found in PATH, or "" if none.
std::string FindInPath(const std::string& name);

// Pins the calling thread (and the threads and processes it starts later) to one CPU; cpu < 0
// does nothing.
absl::Status PinToCpu(int cpu);

// A field of /proc/<pid>/status in kB ("VmRSS", "VmHWM"); pid 0 is self. -1 if unreadable.
int64_t ProcStatusKb(pid_t pid, const char* field);

// CPU time (user + system) of the calling process so far, all its threads, in nanoseconds.
int64_t CpuNanos();

// The host's regime, measured by two threads pinned to CPUs 0 and 1 (NaN on one CPU, or if a
// probe ran out of time). Cross-CPU costs move by 4-10x within minutes on a shared VM, and they
// decide which system wins; every run measures them at its start and end.
struct Regime {
  double atomic_rtt_ns;  // one cache line bounced there and back (median of batches)
  double pipe_rtt_us;    // 1-byte pipe ping-pong: two cross-CPU wake-ups (median round trip)
};
Regime MeasureRegime();
// "atomic ping-pong 95 ns (fast), pipe round trip 31.0 us (expensive wake-ups)".
std::string DescribeRegime(const Regime& r);

// Statistics.
double Median(std::vector<double> values);
// Nearest-rank percentile (p in [0, 100]) of unsorted values.
double Percentile(std::vector<double> values, double p);

}  // namespace bench

#endif  // BENCH_HARNESS_H_
