// Fault injection: producers and consumers under load while a killer SIGKILLs them, at random
// moments and at the library's named fault points (channel/internal/testing/fault_injection.h), and
// restarts them. Afterwards every promise of the failure contract is checked against what was
// put: no torn, spliced or duplicated message; losses bounded and accounted (qsize back to 0,
// delivered + lost == put, within the kills' own bookkeeping window); the queue still works.
//
// Each case runs for TYPED_CHANNEL_SOAK_SECONDS (default 20); //tests:fault_injection_soak runs
// the same for ten minutes per case (manual: ./bazelw test //tests:fault_injection_soak).
#include <signal.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <optional>
#include <type_traits>
#include <cstdio>
#include <random>
#include <vector>

#include <gtest/gtest.h>

#include "channel/channel.h"
#include "tests/test_util.h"

namespace {

using channel_test::JobMessage;

constexpr int kProducers = 3;
constexpr int kConsumers = 3;
constexpr int kMaxSize = 32;
constexpr size_t kBatch = 8;  // GetMany's max_items for the batch consumers
constexpr uint64_t kIdsPerProducer = 1 << 20;
// Every point, 4 per mille per pass: a worker dies every few hundred operations.
constexpr char kFaults[] = "*:4";

// What the workers report, in memory shared with the test process (not through the queue under
// test).
struct Board {
  std::atomic<uint64_t> next[kProducers];
  std::atomic<bool> stop_producing;
  std::atomic<bool> stop_consuming;
  std::atomic<uint64_t> corrupt;
  std::atomic<uint64_t> duplicates;
};

struct SharedCounts {
  std::atomic<uint8_t>* put;        // put[id] = 1 once Put returned OK
  std::atomic<uint8_t>* delivered;  // delivered[id] = times a Get returned it
};

int Soak() {
  const char* env = getenv("TYPED_CHANNEL_SOAK_SECONDS");
  return env != nullptr ? atoi(env) : 20;
}

template <typename Q>
class FaultInjectionTest : public ::testing::Test {
 protected:
  void SetUp() override {
    board_ = static_cast<Board*>(Map(sizeof(Board)));
    const size_t ids = kProducers * kIdsPerProducer;
    counts_.put = static_cast<std::atomic<uint8_t>*>(Map(ids));
    counts_.delivered = static_cast<std::atomic<uint8_t>*>(Map(ids));
    for (int p = 0; p < kProducers; ++p) board_->next[p] = p * kIdsPerProducer;
    channel::QueueOptions options;
    options.maxsize = kMaxSize;
    auto q = Q::Create(options);
    ASSERT_TRUE(q.ok()) << q.status();
    queue_.emplace(*std::move(q));
  }

  static void* Map(size_t bytes) {
    void* p = mmap(nullptr, bytes, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    EXPECT_NE(p, MAP_FAILED);
    return p;
  }

  // Item sizes vary up to ~63 KiB so feeder writes span several write(2) calls and get torn.
  static size_t DataBytes(uint64_t id) { return (id * 2654435761u) % (63 << 10); }

  pid_t StartProducer(int p, bool faults) {
    return channel_test::ForkChild([this, p, faults] {
      if (faults) setenv("TYPED_CHANNEL_FAULTS", kFaults, 1);
      Q& q = *queue_;
      while (!board_->stop_producing) {
        const uint64_t id = board_->next[p]++;
        if (id >= (p + 1) * kIdsPerProducer) break;
        JobMessage m(id, "", DataBytes(id));
        absl::Status s = q.Put(m.builder, absl::Milliseconds(200));
        if (s.ok()) {
          counts_.put[id] = 1;
        } else if (channel::IsShutDown(s)) {
          break;
        } else if (!channel::IsFull(s)) {
          return 3;
        }
      }
      unsetenv("TYPED_CHANNEL_FAULTS");
      exit(0);  // flushes
    });
  }

  // Consumer c takes single items (even c) or batches of up to kBatch (odd c).
  pid_t StartConsumer(int c, bool faults) {
    return channel_test::ForkChild([this, c, faults] {
      if (faults) setenv("TYPED_CHANNEL_FAULTS", kFaults, 1);
      Q& q = *queue_;
      std::vector<channel::Message<demo::Job>> batch;
      for (;;) {
        absl::Status got;
        batch.clear();
        if (c % 2 == 0) {
          auto m = q.Get(absl::Milliseconds(200));
          got = m.status();
          if (m.ok()) batch.push_back(*std::move(m));
        } else {
          auto many = q.GetMany(kBatch, absl::Milliseconds(200));
          got = many.status();
          if (many.ok()) batch = *std::move(many);
        }
        if (!got.ok()) {
          if (channel::IsShutDown(got)) return 0;
          if (!channel::IsEmpty(got)) return 4;
          if (board_->stop_consuming) return 0;
          continue;
        }
        for (auto& m : batch) {
          const uint64_t id = m->getId();
          if (id >= kProducers * kIdsPerProducer || m->getData().size() != DataBytes(id) ||
              !channel_test::DataMatches(id, m->getData())) {
            ++board_->corrupt;
            continue;
          }
          const bool duplicate = counts_.delivered[id]++ != 0;
          if (duplicate) ++board_->duplicates;
          if constexpr (std::is_same_v<Q, channel::JoinableQueue<demo::Job>>) {
            // Refused: the queue counted an item lost that was delivered (5), or delivered an
            // item twice (6).
            if (!q.TaskDone().ok()) return duplicate ? 6 : 5;
          }
        }
      }
    });
  }

  // Shutdown(immediate = true) from a process armed with faults, restarted until one call
  // returns: a death anywhere inside it (the flag's transaction, the drop of each item) must leave
  // the queue consistent for the next caller. Returns the deaths.
  uint64_t ShutDownUnderFaults() {
    uint64_t deaths = 0;
    for (int attempt = 0; attempt < 100; ++attempt) {
      const pid_t shutter = channel_test::ForkChild([this] {
        setenv("TYPED_CHANNEL_FAULTS", "shutdown.flagged:300,reader.dropped:100,*:20", 1);
        return queue_->Shutdown(/*immediate=*/true).ok() ? 0 : 7;
      });
      const int code = channel_test::WaitChild(shutter, absl::Seconds(60));
      if (code == 0) return deaths;
      EXPECT_EQ(code, -SIGKILL) << "Shutdown failed";
      ++deaths;
    }
    ADD_FAILURE() << "Shutdown never survived its fault points";
    return deaths;
  }

  // With `shut_down`, the run ends with Shutdown(immediate = true) while the workers still run
  // (and die at fault points): producers stop at their first kCancelled, consumers at theirs.
  void Run(bool shut_down = false) {
    std::mt19937 rng(12345);
    std::vector<pid_t> producers(kProducers), consumers(kConsumers);
    for (int p = 0; p < kProducers; ++p) producers[p] = StartProducer(p, true);
    for (int c = 0; c < kConsumers; ++c) consumers[c] = StartConsumer(c, true);
    uint64_t random_kills = 0, point_kills = 0, producer_deaths = 0, consumer_deaths = 0;
    // Reaps a worker that died by itself (a fault point) or was killed, and restarts it.
    auto restart_dead = [&](bool faults) {
      for (int p = 0; p < kProducers; ++p) {
        int status;
        if (waitpid(producers[p], &status, WNOHANG) == producers[p]) {
          ASSERT_TRUE(WIFSIGNALED(status)) << "producer exited " << WEXITSTATUS(status);
          ++producer_deaths;
          producers[p] = StartProducer(p, faults);
        }
      }
      for (int c = 0; c < kConsumers; ++c) {
        int status;
        if (consumers[c] <= 0) continue;  // finished: it saw the queue shut down and empty
        if (waitpid(consumers[c], &status, WNOHANG) == consumers[c]) {
          if (shut_down && WIFEXITED(status) && WEXITSTATUS(status) == 0) {
            consumers[c] = -1;
            continue;
          }
          ASSERT_TRUE(WIFSIGNALED(status)) << "consumer exited " << WEXITSTATUS(status);
          ++consumer_deaths;
          consumers[c] = StartConsumer(c, faults);
        }
      }
    };
    const absl::Time end = absl::Now() + absl::Seconds(Soak());
    while (absl::Now() < end) {
      absl::SleepFor(absl::Milliseconds(10 + rng() % 60));  // the killer's pace, not a wait
      const int victim = static_cast<int>(rng() % (kProducers + kConsumers));
      kill(victim < kProducers ? producers[victim] : consumers[victim - kProducers], SIGKILL);
      ++random_kills;
      restart_dead(true);
    }
    // Quiesce: no more kills; workers restarted from here on have no armed faults.
    uint64_t deaths_before_quiesce = producer_deaths + consumer_deaths;
    const uint64_t shutter_deaths = shut_down ? ShutDownUnderFaults() : 0;
    board_->stop_producing = true;
    for (int p = 0; p < kProducers; ++p) {
      int code = channel_test::WaitChild(producers[p], absl::Seconds(60));
      if (code == -SIGKILL) {  // died at a fault point on its way out
        ++producer_deaths;
        code = channel_test::WaitChild(StartProducer(p, false), absl::Seconds(60));
      }
      ASSERT_EQ(code, 0) << "producer " << p;
    }
    // Consumers keep draining (restarted if a fault point got them) until nothing is left.
    const bool drained = channel_test::Eventually(
        [&] {
          restart_dead(false);
          return queue_->qsize() == 0;
        },
        absl::Seconds(60));
    if (!drained) {
      const channel::QueueStats st = queue_->stats();
      ADD_FAILURE() << "qsize stuck at " << queue_->qsize() << " (lost " << st.items_lost
                    << ", resyncs " << st.resyncs << ", torn " << st.torn_writes << ", dead "
                    << st.dead_processes << ")";
    }
    board_->stop_consuming = true;
    for (int c = 0; c < kConsumers; ++c) {
      if (consumers[c] <= 0) continue;
      const int code = channel_test::WaitChild(consumers[c], absl::Seconds(60));
      ASSERT_TRUE(code == 0 || code == -SIGKILL) << "consumer " << c << " exited " << code;
    }
    point_kills = producer_deaths + consumer_deaths - random_kills;
    (void)deaths_before_quiesce;

    uint64_t put = 0, delivered = 0;
    for (uint64_t id = 0; id < kProducers * kIdsPerProducer; ++id) {
      put += counts_.put[id];
      delivered += counts_.delivered[id] != 0;
    }
    const channel::QueueStats stats = queue_->stats();
    const uint64_t kills = producer_deaths + consumer_deaths;
    const uint64_t dropped = stats.items_dropped_by_shutdown;
    printf("fault injection: %llu kills (%llu random, %llu at fault points; %llu producers, "
           "%llu consumers, %llu in Shutdown), %llu items put, %llu delivered, %llu lost, "
           "%llu dropped by shutdown, %llu resyncs, %llu torn writes repaired, %llu dead "
           "processes reaped\n",
           (unsigned long long)kills, (unsigned long long)random_kills,
           (unsigned long long)point_kills, (unsigned long long)producer_deaths,
           (unsigned long long)consumer_deaths, (unsigned long long)shutter_deaths,
           (unsigned long long)put, (unsigned long long)delivered,
           (unsigned long long)stats.items_lost, (unsigned long long)dropped,
           (unsigned long long)stats.resyncs, (unsigned long long)stats.torn_writes,
           (unsigned long long)stats.dead_processes);
    fflush(stdout);

    EXPECT_EQ(board_->corrupt.load(), 0u) << "torn or spliced messages were delivered";
    EXPECT_EQ(board_->duplicates.load(), 0u) << "messages were delivered twice";
    EXPECT_EQ(queue_->qsize(), 0);
    EXPECT_GT(kills, 50u) << "the run was too short to mean anything";
    EXPECT_GT(delivered, 1000u);
    // Every recorded Put is delivered or counted lost. The slack is each kill's own bookkeeping
    // window: a producer killed after Put returned but before recording it, a consumer killed
    // after Get (or GetMany: up to kBatch) returned but before recording the deliveries.
    EXPECT_LE(put, delivered + stats.items_lost + dropped + consumer_deaths * kBatch);
    EXPECT_LE(delivered + stats.items_lost + dropped, put + producer_deaths);
    EXPECT_EQ(stats.shut_down, shut_down);
    if (!shut_down) {
      EXPECT_EQ(dropped, 0u);
    }
    // What a death costs is bounded: a producer's unwritten reservations (at most maxsize), a
    // consumer's item in hand.
    EXPECT_LE(stats.items_lost, kills * (kMaxSize + 1));
    if constexpr (std::is_same_v<Q, channel::JoinableQueue<demo::Job>>) {
      // Only items handed to a consumer that died before TaskDone can stay unfinished.
      EXPECT_LE(queue_->unfinished(), static_cast<int64_t>(consumer_deaths * kBatch));
      EXPECT_GE(queue_->unfinished(), 0);
    }
    // And the queue still works.
    JobMessage m(7, "after", 100);
    if (shut_down) {
      EXPECT_TRUE(channel::IsShutDown(queue_->Put(m.builder, absl::Seconds(10))));
      EXPECT_TRUE(channel::IsShutDown(queue_->Get(absl::Seconds(10)).status()));
      return;
    }
    ASSERT_TRUE(queue_->Put(m.builder, absl::Seconds(10)).ok());
    auto got = queue_->Get(absl::Seconds(10));
    ASSERT_TRUE(got.ok()) << got.status();
    EXPECT_EQ((*got)->getId(), 7u);
  }

  Board* board_ = nullptr;
  SharedCounts counts_;
  std::optional<Q> queue_;
};

using QueueTypes = ::testing::Types<channel::Queue<demo::Job>, channel::JoinableQueue<demo::Job>>;
TYPED_TEST_SUITE(FaultInjectionTest, QueueTypes);

TYPED_TEST(FaultInjectionTest, KillsAtRandomMomentsAndFaultPoints) { this->Run(); }
TYPED_TEST(FaultInjectionTest, ShutdownUnderKills) { this->Run(/*shut_down=*/true); }

}  // namespace
