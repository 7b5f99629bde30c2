// PutMany / GetMany across processes: prefix semantics and *put in every case, GetMany's
// "wait only while nothing is there, then 1..max_items in queue order", exactly-once and
// per-producer order with several producers and consumers in several processes, and the same
// Full/Empty/Closed/ShutDown rules as the single calls. Every wait is bounded.
#include <unistd.h>

#include <map>
#include <memory>
#include <vector>

#include <gtest/gtest.h>

#include "channel/channel.h"
#include "tests/test_util.h"

namespace {

using channel_test::ForkChild;
using channel_test::JobMessage;
using channel_test::MakeQueue;
using channel_test::ReadySignal;
using channel_test::WaitChild;

using Queue = channel::Queue<demo::Job>;
using JoinableQueue = channel::JoinableQueue<demo::Job>;

constexpr absl::Duration kLong = absl::Seconds(60);

// Messages with ids [first, first + count) and their readers, for PutMany.
struct Batch {
  Batch(uint64_t first, size_t count, size_t (*data_bytes)(uint64_t id) = nullptr) {
    for (size_t i = 0; i < count; ++i) {
      const uint64_t id = first + i;
      messages.push_back(
          std::make_unique<JobMessage>(id, "", data_bytes == nullptr ? 0 : data_bytes(id)));
      readers.push_back(messages.back()->builder.getRoot<demo::Job>().asReader());
    }
  }
  std::vector<std::unique_ptr<JobMessage>> messages;
  std::vector<demo::Job::Reader> readers;
};

TEST(BatchTest, PutManyThenGetManyInOrder) {
  Queue q = MakeQueue();
  Batch batch(0, 100);
  size_t put = 99;
  ASSERT_TRUE(q.PutMany(batch.readers, kLong, &put).ok());
  EXPECT_EQ(put, 100u);
  EXPECT_EQ(q.qsize(), 100);
  uint64_t next = 0;
  while (next < 100) {
    auto got = q.GetMany(64, absl::Seconds(30));
    ASSERT_TRUE(got.ok()) << got.status();
    ASSERT_GE(got->size(), 1u);
    ASSERT_LE(got->size(), 64u);
    for (const auto& m : *got) EXPECT_EQ(m->getId(), next++);
  }
  EXPECT_EQ(q.qsize(), 0);
  EXPECT_TRUE(channel::IsEmpty(q.GetMany(10, absl::ZeroDuration()).status()));
}

TEST(BatchTest, EmptyPutManyAndZeroMaxItems) {
  Queue q = MakeQueue();
  size_t put = 7;
  EXPECT_TRUE(q.PutMany({}, kLong, &put).ok());
  EXPECT_EQ(put, 0u);
  EXPECT_TRUE(absl::IsInvalidArgument(q.GetMany(0, absl::ZeroDuration()).status()));
}

// A bounded queue takes the prefix that fits; *put says how many, and the status IsFull.
TEST(BatchTest, PutManyOnABoundedQueuePutsAPrefix) {
  Queue q = MakeQueue(/*maxsize=*/5);
  Batch batch(0, 8);
  size_t put = 0;
  EXPECT_TRUE(channel::IsFull(q.PutMany(batch.readers, absl::ZeroDuration(), &put)));
  EXPECT_EQ(put, 5u);
  EXPECT_EQ(q.qsize(), 5);
  auto got = q.GetMany(100, absl::Seconds(30));
  ASSERT_TRUE(got.ok()) << got.status();
  // The rest goes in once there is room, in order.
  Batch rest(5, 3);
  EXPECT_TRUE(q.PutMany(rest.readers, kLong, &put).ok());
  EXPECT_EQ(put, 3u);
  std::vector<uint64_t> ids;
  for (const auto& m : *got) ids.push_back(m->getId());
  while (ids.size() < 8) {
    auto more = q.GetMany(100, absl::Seconds(30));
    ASSERT_TRUE(more.ok()) << more.status();
    for (const auto& m : *more) ids.push_back(m->getId());
  }
  for (uint64_t i = 0; i < 8; ++i) EXPECT_EQ(ids[i], i);
}

// A PutMany larger than the queue's bound waits for a consumer in another process, and
// completes within its timeout.
TEST(BatchTest, PutManyWaitsForRoomAcrossProcesses) {
  Queue q = MakeQueue(/*maxsize=*/4);
  const pid_t consumer = ForkChild([&q] {
    for (uint64_t next = 0; next < 50;) {
      auto got = q.GetMany(3, kLong);
      if (!got.ok()) return 10;
      for (const auto& m : *got) {
        if (m->getId() != next++) return 11;
      }
    }
    return 0;
  });
  Batch batch(0, 50);
  size_t put = 0;
  EXPECT_TRUE(q.PutMany(batch.readers, kLong, &put).ok());
  EXPECT_EQ(put, 50u);
  EXPECT_EQ(WaitChild(consumer), 0);
}

// A message too large stops the batch before it, with kInvalidArgument; the prefix is in.
TEST(BatchTest, PutManyStopsAtATooLargeMessage) {
  Queue q = MakeQueue(/*maxsize=*/0, /*max_message_bytes=*/1024);
  Batch batch(0, 4);
  JobMessage big(99, "", 4096);
  batch.readers[2] = big.builder.getRoot<demo::Job>().asReader();
  size_t put = 0;
  EXPECT_TRUE(absl::IsInvalidArgument(q.PutMany(batch.readers, kLong, &put)));
  EXPECT_EQ(put, 2u);
  EXPECT_EQ(q.qsize(), 2);
}

TEST(BatchTest, ClosedAndShutDown) {
  Queue q = MakeQueue();
  Batch batch(0, 3);
  size_t put = 9;
  ASSERT_TRUE(q.Shutdown().ok());
  EXPECT_TRUE(channel::IsShutDown(q.PutMany(batch.readers, kLong, &put)));
  EXPECT_EQ(put, 0u);
  EXPECT_TRUE(channel::IsShutDown(q.GetMany(5, kLong).status()));
  q.Close();
  EXPECT_TRUE(channel::IsClosed(q.PutMany(batch.readers, kLong, &put)));
  EXPECT_EQ(put, 0u);
  EXPECT_TRUE(channel::IsClosed(q.GetMany(5, kLong).status()));
}

// A PutMany blocked on a full queue in another process wakes at Shutdown; *put counts what
// went in before.
TEST(BatchTest, BlockedPutManyWakesAtShutdown) {
  Queue q = MakeQueue(/*maxsize=*/2);
  ReadySignal ready;
  const pid_t producer = ForkChild([&]() -> int {
    Batch batch(0, 5);
    ready.Notify();
    size_t put = 0;
    const absl::Status s = q.PutMany(batch.readers, kLong, &put);
    exit(channel::IsShutDown(s) && put == 2 ? 0 : 10);  // flushes the two items put
  });
  ASSERT_EQ(ready.Wait(), 'r');
  ASSERT_TRUE(channel_test::Eventually([&q] { return q.qsize() == 2; }));
  ASSERT_TRUE(q.Shutdown().ok());
  EXPECT_EQ(WaitChild(producer), 0);
  auto got = q.GetMany(10, kLong);
  ASSERT_TRUE(got.ok()) << got.status();
  std::vector<uint64_t> ids;
  for (const auto& m : *got) ids.push_back(m->getId());
  if (ids.size() < 2) ids.push_back(channel_test::GetId(q));
  EXPECT_EQ(ids, (std::vector<uint64_t>{0, 1}));
  EXPECT_TRUE(channel::IsShutDown(q.GetMany(10, kLong).status()));
}

// A GetMany blocked on an empty queue returns as soon as something arrives, with what there is.
TEST(BatchTest, GetManyWaitsOnlyWhileNothingIsThere) {
  Queue q = MakeQueue();
  ReadySignal ready;
  const pid_t consumer = ForkChild([&] {
    ready.Notify();
    auto got = q.GetMany(1000, kLong);
    if (!got.ok() || got->empty() || got->size() > 3) return 10;
    return (*got)[0]->getId() == 0 ? 0 : 11;
  });
  ASSERT_EQ(ready.Wait(), 'r');
  Batch batch(0, 3);
  ASSERT_TRUE(q.PutMany(batch.readers, kLong).ok());
  EXPECT_EQ(WaitChild(consumer), 0);
}

// Several producers and consumers in several processes: every item exactly once, each
// producer's items in its order, with large (slab) items mixed in.
TEST(BatchTest, ExactlyOnceAndPerProducerOrderAcrossProcesses) {
  constexpr int kProducers = 3;
  constexpr int kConsumers = 3;
  constexpr uint64_t kPerProducer = 2000;
  constexpr uint64_t kStride = 1 << 20;
  // Every 100th item of a producer is large enough for the slab.
  size_t (*data_bytes)(uint64_t) = [](uint64_t id) -> size_t {
    return (id % kStride) % 100 == 0 ? (40 << 10) : 16;
  };
  JoinableQueue q = MakeQueue<JoinableQueue>(/*maxsize=*/100);
  int fds[2];
  ASSERT_EQ(pipe(fds), 0);
  std::vector<pid_t> producers, consumers;
  for (int p = 0; p < kProducers; ++p) {
    producers.push_back(ForkChild([&q, p, data_bytes] {
      for (uint64_t i = 0; i < kPerProducer;) {
        const size_t n = std::min<uint64_t>(1 + (i % 37), kPerProducer - i);
        Batch batch(p * kStride + i, n, data_bytes);
        size_t put = 0;
        if (!q.PutMany(batch.readers, kLong, &put).ok() || put != n) return 10;
        i += n;
      }
      exit(0);  // flushes
    }));
  }
  for (int c = 0; c < kConsumers; ++c) {
    consumers.push_back(ForkChild([&q, fds, data_bytes] {
      std::map<uint64_t, uint64_t> last;  // producer -> last id seen
      for (;;) {
        auto got = q.GetMany(64, absl::Seconds(30));
        if (channel::IsShutDown(got.status())) return 0;
        if (!got.ok()) return 20;
        std::vector<uint64_t> ids;
        for (const auto& m : *got) {
          const uint64_t id = m->getId();
          const uint64_t producer = id / kStride;
          if (last.count(producer) != 0 && last[producer] >= id) return 21;  // out of order
          last[producer] = id;
          if (m->getData().size() != data_bytes(id) ||
              !channel_test::DataMatches(id, m->getData())) {
            return 22;
          }
          ids.push_back(id);
          if (!q.TaskDone().ok()) return 23;
        }
        const ssize_t bytes = static_cast<ssize_t>(ids.size() * sizeof(uint64_t));
        if (write(fds[1], ids.data(), ids.size() * sizeof(uint64_t)) != bytes) return 24;
      }
    }));
  }
  close(fds[1]);
  for (pid_t p : producers) EXPECT_EQ(WaitChild(p), 0);
  EXPECT_TRUE(q.Join(kLong).ok());
  ASSERT_TRUE(q.Shutdown().ok());
  for (pid_t c : consumers) EXPECT_EQ(WaitChild(c), 0);
  std::map<uint64_t, int> seen;
  uint64_t id;
  while (read(fds[0], &id, sizeof id) == sizeof id) ++seen[id];
  close(fds[0]);
  EXPECT_EQ(seen.size(), kProducers * kPerProducer);
  for (const auto& [item, times] : seen) EXPECT_EQ(times, 1) << "item " << item;
  EXPECT_EQ(q.stats().items_lost, 0u);
}

}  // namespace
