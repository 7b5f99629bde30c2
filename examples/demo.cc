// demo: the first program to run (./bazelw run //examples:demo). A pool of worker processes
// counts the primes below 2,000,000 over typed queues:
//   - main puts 40 primes::Range tasks on a bounded JoinableQueue (Put blocks while it is full);
//   - 4 daemon worker processes Get a Range, count, Put a primes::Count on a results Queue, and
//     TaskDone();
//   - main waits with Join(timeout), checks results.qsize(), reads every Count with Get(timeout),
//     sees one more Get time out (kUnavailable), and prints who did what.
// Exits 0 when the total is right (148933).
#include <unistd.h>

#include <cstdint>
#include <ctime>
#include <map>
#include <set>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "channel/channel.h"
#include "examples/common.h"
#include "examples/primes.capnp.h"

using examples::Fail;
using examples::Print;

constexpr int kWorkers = 4;
constexpr int kRanges = 40;
constexpr uint64_t kLimit = 2000000;
constexpr uint64_t kExpectedPrimes = 148933;  // primes below 2,000,000

bool IsPrime(uint64_t n) {
  if (n < 2) return false;
  if (n % 2 == 0) return n == 2;
  for (uint64_t d = 3; d * d <= n; d += 2) {
    if (n % d == 0) return false;
  }
  return true;
}

int Worker(channel::JoinableQueue<primes::Range>& tasks, channel::Queue<primes::Count>& results) {
  for (;;) {
    absl::StatusOr<channel::Message<primes::Range>> range = tasks.Get();
    if (!range.ok()) return Fail("get", range.status());
    const std::clock_t cpu_start = std::clock();
    uint64_t found = 0;
    for (uint64_t n = (*range)->getBegin(); n < (*range)->getEnd(); ++n) found += IsPrime(n);

    channel::Builder<primes::Count> message;
    primes::Count::Builder count = message.root();
    count.setRangeId((*range)->getId());
    count.setWorker(getpid());
    count.setPrimes(found);
    count.setCpuMicros((std::clock() - cpu_start) * 1000000 / CLOCKS_PER_SEC);
    if (absl::Status s = results.Put(message); !s.ok()) return Fail("put", s);
    if (absl::Status s = tasks.TaskDone(); !s.ok()) return Fail("task_done", s);
  }
}

// Time since `start`, to the millisecond.
absl::Duration Since(absl::Time start) {
  return absl::Trunc(absl::Now() - start, absl::Milliseconds(1));
}

// What one worker did, summed from its Count messages.
struct Tally {
  int ranges = 0;
  uint64_t primes = 0;
  int64_t cpu_micros = 0;
};

// Gets one Count per range (each Get bounded), checks that every range was answered exactly
// once, and shows that one more Get times out. Returns the tallies by worker pid.
absl::StatusOr<std::map<int32_t, Tally>> CollectResults(channel::Queue<primes::Count>& results) {
  std::map<int32_t, Tally> by_worker;
  std::set<uint32_t> answered;
  for (int i = 0; i < kRanges; ++i) {
    absl::StatusOr<channel::Message<primes::Count>> count = results.Get(absl::Seconds(10));
    if (!count.ok()) return count.status();
    if (!answered.insert((*count)->getRangeId()).second) {
      return absl::InternalError(absl::StrCat("range ", (*count)->getRangeId(), " came twice"));
    }
    Tally& tally = by_worker[(*count)->getWorker()];
    ++tally.ranges;
    tally.primes += (*count)->getPrimes();
    tally.cpu_micros += (*count)->getCpuMicros();
  }
  absl::StatusOr<channel::Message<primes::Count>> extra = results.Get(absl::Milliseconds(100));
  if (!channel::IsEmpty(extra.status())) {
    return absl::InternalError(absl::StrCat("expected no more results, got ",
                                            extra.ok() ? "one" : extra.status().ToString()));
  }
  Print(absl::StrFormat("one more Get(100ms): %s (IsEmpty: nothing left)",
                        extra.status().ToString()));
  return by_worker;
}

int main(int argc, char** argv) {
  examples::InitExample(argc, argv);
  const absl::Time start = absl::Now();
  channel::QueueOptions bounded;
  bounded.maxsize = 8;
  auto tasks = channel::JoinableQueue<primes::Range>::Create(bounded);
  if (!tasks.ok()) return Fail("create tasks", tasks.status());
  auto results = channel::Queue<primes::Count>::Create();
  if (!results.ok()) return Fail("create results", results.status());

  std::vector<channel::Process> workers;
  for (int i = 0; i < kWorkers; ++i) {
    channel::Process& worker =
        workers.emplace_back([&tasks, &results] { return Worker(*tasks, *results); });
    worker.set_daemon(true);  // blocked in Get() when the work is done; ends with main
    if (absl::Status s = worker.Start(); !s.ok()) return Fail("start", s);
  }
  Print(absl::StrFormat("started %d worker processes; counting primes below %d in %d ranges",
                        kWorkers, kLimit, kRanges));

  channel::Builder<primes::Range> message;  // reused: Put serializes at once
  primes::Range::Builder range = message.root();
  for (int i = 0; i < kRanges; ++i) {
    range.setId(i);
    range.setBegin(kLimit * i / kRanges);
    range.setEnd(kLimit * (i + 1) / kRanges);
    if (absl::Status s = tasks->Put(message); !s.ok()) return Fail("put", s);  // waits while full
  }
  Print(absl::StrFormat("put %d tasks into a JoinableQueue of maxsize %d; %d still queued", kRanges,
                        tasks->maxsize(), tasks->qsize()));

  if (absl::Status s = tasks->Join(absl::Seconds(60)); !s.ok()) return Fail("join", s);
  const absl::Duration work = Since(start);
  Print(absl::StrFormat("Join(): every task done after %s; results.qsize() = %d",
                        absl::FormatDuration(work), results->qsize()));

  absl::StatusOr<std::map<int32_t, Tally>> by_worker = CollectResults(*results);
  if (!by_worker.ok()) return Fail("collect results", by_worker.status());
  Tally total;
  for (const auto& [pid, tally] : *by_worker) {
    Print(absl::StrFormat("  worker %d: %2d ranges, %6d primes, %4d ms CPU", pid, tally.ranges,
                          tally.primes, tally.cpu_micros / 1000));
    total.primes += tally.primes;
    total.cpu_micros += tally.cpu_micros;
  }
  Print(absl::StrFormat("total: %d primes below %d (expected %d) in %s; %.1f CPUs busy on average",
                        total.primes, kLimit, kExpectedPrimes, absl::FormatDuration(work),
                        total.cpu_micros / absl::ToDoubleMicroseconds(work)));
  return total.primes == kExpectedPrimes ? 0 : 1;
}
