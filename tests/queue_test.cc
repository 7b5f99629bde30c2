// Queue<T> across real processes: every contract method, status codes, exact qsize, many
// producers/consumers, flush on exit, CancelJoinThread, large messages, and processes killed
// mid-stream (fork-after-use cases live in queue_fork_test.cc).
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <random>
#include <atomic>
#include <set>
#include <thread>
#include <vector>

#include <gtest/gtest.h>

#include "channel/channel.h"
#include "tests/test_util.h"

namespace {

using channel::Message;
using channel::Queue;
using channel::QueueOptions;
using channel_test::GetId;
using channel_test::JobMessage;
using channel_test::MakeQueue;

TEST(QueueTest, PutGetBothOverloadsAndBuilderReuse) {
  auto q = MakeQueue();
  JobMessage a(1, "first");
  ASSERT_TRUE(q.Put(a.builder).ok());
  // Put serialized at call time: changing the builder afterwards changes nothing queued.
  a.builder.getRoot<demo::Job>().setId(99);
  ASSERT_TRUE(q.Put(a.builder.getRoot<demo::Job>().asReader()).ok());
  auto m1 = q.Get(absl::Seconds(10));
  ASSERT_TRUE(m1.ok()) << m1.status();
  EXPECT_EQ((*m1)->getId(), 1u);
  EXPECT_EQ(std::string(m1->reader().getPayload().cStr()), "first");
  EXPECT_GT(m1->size_bytes(), 0u);
  EXPECT_EQ(GetId(q), 99u);
}

TEST(QueueTest, MessageOutlivesMoves) {
  auto q = MakeQueue();
  JobMessage a(5, std::string(1000, 'x'));
  ASSERT_TRUE(q.Put(a.builder).ok());
  auto m = q.Get(absl::Seconds(10));
  ASSERT_TRUE(m.ok());
  Message<demo::Job> moved = *std::move(m);
  std::vector<Message<demo::Job>> v;
  v.push_back(std::move(moved));
  EXPECT_EQ(v[0]->getId(), 5u);
  EXPECT_EQ(v[0]->getPayload().size(), 1000u);
}

TEST(QueueTest, FullStatusWithAndWithoutTimeout) {
  auto q = MakeQueue(2);
  JobMessage m(1);
  EXPECT_EQ(q.maxsize(), 2);
  ASSERT_TRUE(q.PutNowait(m.builder).ok());
  ASSERT_TRUE(q.PutNowait(m.builder).ok());
  EXPECT_TRUE(q.full());
  EXPECT_EQ(q.qsize(), 2);
  absl::Status s = q.PutNowait(m.builder);
  EXPECT_TRUE(channel::IsFull(s)) << s;
  EXPECT_EQ(s.message(),
            "the queue is full (maxsize 2); PutNowait (or Put with a zero timeout) does not wait");
  const absl::Time start = absl::Now();
  s = q.Put(m.builder, absl::Milliseconds(200));
  EXPECT_TRUE(channel::IsFull(s)) << s;
  EXPECT_EQ(s.message(), "the queue is full (maxsize 2); Put waited 200ms (its timeout)");
  EXPECT_GE(absl::Now() - start, absl::Milliseconds(190));
  // A negative timeout is a zero timeout.
  s = q.Put(m.builder, absl::Seconds(-5));
  EXPECT_TRUE(channel::IsFull(s)) << s;
  EXPECT_NE(s.message().find("zero timeout"), absl::string_view::npos) << s;
  GetId(q);
  EXPECT_FALSE(q.full());
  EXPECT_TRUE(q.PutNowait(m.builder).ok());
}

TEST(QueueTest, EmptyStatusWithAndWithoutTimeout) {
  auto q = MakeQueue();
  EXPECT_TRUE(q.empty());
  EXPECT_EQ(q.maxsize(), 0);
  EXPECT_FALSE(q.full());
  auto m = q.GetNowait();
  EXPECT_TRUE(channel::IsEmpty(m.status())) << m.status();
  EXPECT_EQ(m.status().message(),
            "the queue is empty; GetNowait (or Get with a zero timeout) does not wait");
  const absl::Time start = absl::Now();
  m = q.Get(absl::Milliseconds(200));
  EXPECT_TRUE(channel::IsEmpty(m.status())) << m.status();
  EXPECT_EQ(m.status().message(), "the queue is empty; Get waited 200ms (its timeout)");
  EXPECT_GE(absl::Now() - start, absl::Milliseconds(190));
  EXPECT_LT(absl::Now() - start, absl::Seconds(5));
  EXPECT_TRUE(channel::IsEmpty(q.Get(absl::Seconds(-1)).status()));
}

TEST(QueueTest, BlockedPutWakesWhenAnotherProcessGets) {
  auto q = MakeQueue(1);
  JobMessage m(1);
  ASSERT_TRUE(q.Put(m.builder).ok());
  const pid_t child = channel_test::ForkChild([&] {
    auto got = q.Get(absl::Seconds(30));  // frees the slot the parent waits for
    return got.ok() ? 0 : 1;
  });
  JobMessage m2(2);
  EXPECT_TRUE(q.Put(m2.builder, absl::Seconds(30)).ok());
  EXPECT_EQ(channel_test::WaitChild(child), 0);
  EXPECT_EQ(GetId(q), 2u);
}

TEST(QueueTest, CloseRules) {
  auto q = MakeQueue();
  EXPECT_TRUE(absl::IsFailedPrecondition(q.JoinThread()));  // before Close
  JobMessage m(1);
  ASSERT_TRUE(q.Put(m.builder).ok());
  q.Close();
  EXPECT_TRUE(channel::IsClosed(q.Put(m.builder)));
  EXPECT_TRUE(channel::IsClosed(q.Get(absl::ZeroDuration()).status()));
  EXPECT_TRUE(q.JoinThread().ok());
  EXPECT_TRUE(q.JoinThread().ok());  // again: OK at once
  EXPECT_EQ(q.qsize(), 1);           // the feeder flushed what was put
}

TEST(QueueTest, CloseFromAnotherThreadWakesBlockedGetAndPut) {
  auto q = MakeQueue(1);
  std::atomic<int> woke{0};
  std::thread getter([&] {
    auto m = q.Get();  // infinite
    if (channel::IsClosed(m.status())) ++woke;
  });
  auto q2 = MakeQueue(1);
  JobMessage m(1);
  ASSERT_TRUE(q2.Put(m.builder).ok());
  std::thread putter([&] {
    if (channel::IsClosed(q2.Put(m.builder))) ++woke;  // infinite, queue full
  });
  // Close() must wake them whether or not they are asleep yet.
  q.Close();
  q2.Close();
  getter.join();
  putter.join();
  EXPECT_EQ(woke.load(), 2);
}

TEST(QueueTest, TooLargeMessageIsRejectedWithSizes) {
  auto q = MakeQueue(0, /*max_message_bytes=*/1024);
  JobMessage big(1, "", 4096);
  absl::Status s = q.Put(big.builder);
  EXPECT_TRUE(absl::IsInvalidArgument(s)) << s;
  EXPECT_NE(s.message().find("1024"), std::string::npos) << s;
  EXPECT_EQ(q.qsize(), 0);
  QueueOptions bad;
  bad.max_message_bytes = 0;
  EXPECT_TRUE(absl::IsInvalidArgument(Queue<demo::Job>::Create(bad).status()));
}

TEST(QueueTest, BuilderWithoutRootIsInvalid) {
  auto q = MakeQueue();
  capnp::MallocMessageBuilder empty;
  EXPECT_TRUE(absl::IsInvalidArgument(q.Put(empty)));
}

TEST(QueueTest, MovedFromHandleReportsPrecondition) {
  auto q = MakeQueue();
  Queue<demo::Job> other = std::move(q);
  JobMessage m(1);
  EXPECT_TRUE(absl::IsFailedPrecondition(q.Put(m.builder)));  // NOLINT(bugprone-use-after-move)
  EXPECT_TRUE(other.Put(m.builder).ok());
  EXPECT_EQ(GetId(other), 1u);
}

TEST(QueueTest, ExactQsizeAcrossProcesses) {
  auto q = MakeQueue();
  constexpr int kItems = 500;
  channel::Process producer([&] {
    for (int i = 0; i < kItems; ++i) {
      JobMessage m(i);
      if (!q.Put(m.builder).ok()) return 1;
    }
    return 0;  // returns at once: the Process flushes before _exit
  });
  ASSERT_TRUE(producer.Start().ok());
  ASSERT_EQ(*producer.Join(absl::Seconds(60)), 0);
  EXPECT_EQ(q.qsize(), kItems);
  for (int i = 0; i < kItems; ++i) {
    ASSERT_EQ(GetId(q), static_cast<uint64_t>(i));
    EXPECT_EQ(q.qsize(), kItems - i - 1);
  }
  EXPECT_TRUE(q.empty());
}

TEST(QueueTest, ItemsFlushedByChildThatCallsExitRightAfterPut) {
  auto q = MakeQueue();
  const pid_t child = channel_test::ForkChild([&] {
    for (int i = 0; i < 300; ++i) {
      JobMessage m(i, std::string(100, 'p'));
      if (!q.Put(m.builder).ok()) return 1;
    }
    exit(0);  // atexit flush
  });
  ASSERT_EQ(channel_test::WaitChild(child), 0);
  for (int i = 0; i < 300; ++i) ASSERT_EQ(GetId(q), static_cast<uint64_t>(i));
}

TEST(QueueTest, ManyProducersManyConsumersEachItemExactlyOnce) {
  constexpr int kProducers = 4;
  constexpr int kConsumers = 3;
  constexpr int kPerProducer = 2000;
  auto q = MakeQueue(64);
  auto results = MakeQueue();
  std::vector<channel::Process> procs;
  for (int p = 0; p < kProducers; ++p) {
    procs.emplace_back([&, p] {
      for (int i = 0; i < kPerProducer; ++i) {
        JobMessage m(static_cast<uint64_t>(p) * kPerProducer + i);
        if (!q.Put(m.builder, absl::Seconds(60)).ok()) return 1;
      }
      return 0;
    });
  }
  for (int c = 0; c < kConsumers; ++c) {
    procs.emplace_back([&] {
      for (;;) {
        auto m = q.Get(absl::Seconds(60));
        if (!m.ok()) return 2;
        if ((*m)->isEndOfStream()) return 0;
        JobMessage echo((*m)->getId());
        if (!results.Put(echo.builder).ok()) return 3;
      }
    });
  }
  for (auto& p : procs) ASSERT_TRUE(p.Start().ok());
  for (int p = 0; p < kProducers; ++p) ASSERT_EQ(*procs[p].Join(absl::Seconds(120)), 0);
  for (int c = 0; c < kConsumers; ++c) {
    capnp::MallocMessageBuilder end;
    end.initRoot<demo::Job>().setEndOfStream();
    ASSERT_TRUE(q.Put(end).ok());
  }
  std::vector<int> seen(kProducers * kPerProducer, 0);
  for (int i = 0; i < kProducers * kPerProducer; ++i) {
    const uint64_t id = GetId(results, absl::Seconds(60));
    ASSERT_LT(id, seen.size());
    ++seen[id];
  }
  for (int c = 0; c < kConsumers; ++c) EXPECT_EQ(*procs[kProducers + c].Join(absl::Seconds(60)), 0);
  EXPECT_TRUE(std::all_of(seen.begin(), seen.end(), [](int n) { return n == 1; }));
  EXPECT_TRUE(channel::IsEmpty(results.GetNowait().status()));
  EXPECT_EQ(q.qsize(), 0);
}

TEST(QueueTest, CancelJoinThreadDropsUnwrittenItemsAndUncountsThem) {
  auto q = MakeQueue();
  constexpr int kItems = 200;
  // Each item is 64 KiB, so the pipe (at most 1 MiB) fills long before the feeder is done and,
  // with no consumer, the rest can never be written.
  const pid_t child = channel_test::ForkChild([&] {
    for (int i = 0; i < kItems; ++i) {
      JobMessage m(i, "", 64 << 10);
      if (!q.Put(m.builder).ok()) return 1;
    }
    q.CancelJoinThread();
    exit(0);  // must not wait for the feeder
  });
  ASSERT_EQ(channel_test::WaitChild(child, absl::Seconds(60)), 0);
  // What was written is readable, intact and in order; the rest is gone and not counted.
  ASSERT_TRUE(channel_test::Eventually([&] { return q.qsize() < kItems; }));
  int received = 0;
  for (;;) {
    auto m = q.Get(absl::Seconds(2));
    if (!m.ok()) break;
    EXPECT_EQ((*m)->getId(), static_cast<uint64_t>(received));
    EXPECT_TRUE(channel_test::DataMatches((*m)->getId(), (*m)->getData()));
    ++received;
  }
  EXPECT_LT(received, kItems);
  EXPECT_EQ(q.qsize(), 0);
  EXPECT_EQ(static_cast<int>(q.stats().items_lost), kItems - received);
}

TEST(QueueTest, PutsNobodyReadsNeverBlockInTheirOwnWrite) {
  // An unbounded queue with no consumer: every Put must return at once (its feeder thread may
  // block on the full pipe, Put must not). Small messages of varying sizes leave partly filled
  // pages in the pipe, which once made the pipe refuse a write that FIONREAD said would fit:
  // the Put that wrote its batch itself then blocked in write(2) for ever.
  for (int pattern = 0; pattern < 4; ++pattern) {
    const pid_t child = channel_test::ForkChild([pattern] {
      auto q = MakeQueue();
      std::mt19937 rng(pattern);
      for (int i = 0; i < 40000; ++i) {
        const size_t bytes = pattern % 2 == 0 ? 1 + rng() % 200 : 60 + rng() % 8;
        JobMessage m(i, "", bytes);
        if (!q.Put(m.builder, absl::Seconds(1)).ok()) return 2;
      }
      q.CancelJoinThread();
      return 0;
    });
    EXPECT_EQ(channel_test::WaitChild(child, absl::Seconds(60)), 0)
        << "pattern " << pattern << ": a Put blocked (-1000: timed out)";
  }
}

TEST(QueueTest, LargeMessagesBeyondThePipeBuffer) {
  auto q = MakeQueue(4);
  constexpr size_t kBytes = 8 << 20;
  constexpr int kItems = 6;
  channel::Process producer([&] {
    for (int i = 0; i < kItems; ++i) {
      JobMessage m(i, "", kBytes + i);
      if (!q.Put(m.builder).ok()) return 1;
    }
    return 0;
  });
  ASSERT_TRUE(producer.Start().ok());
  for (int i = 0; i < kItems; ++i) {
    auto m = q.Get(absl::Seconds(60));
    ASSERT_TRUE(m.ok()) << m.status();
    ASSERT_EQ((*m)->getId(), static_cast<uint64_t>(i));
    ASSERT_EQ((*m)->getData().size(), kBytes + i);
    EXPECT_TRUE(channel_test::DataMatches(i, (*m)->getData()));
    EXPECT_GT(m->size_bytes(), kBytes);
  }
  EXPECT_EQ(*producer.Join(absl::Seconds(60)), 0);
}

TEST(QueueTest, MessageLargerThanCapnpDefaultTraversalLimit) {
  auto q = MakeQueue(0, /*max_message_bytes=*/100 << 20);
  JobMessage big(3, "", 80 << 20);  // capnp's default reader limit is 64 MiB
  ASSERT_TRUE(q.Put(big.builder).ok());
  auto m = q.Get(absl::Seconds(60));
  ASSERT_TRUE(m.ok()) << m.status();
  EXPECT_EQ((*m)->getData().size(), size_t{80} << 20);
}

TEST(QueueTest, ConsumerKilledMidStreamOthersReceiveEverythingElse) {
  // Large items make a kill inside Get (while copying a frame) likely. Whatever the kill hits, at
  // most the item being taken is lost, nothing is duplicated, and what arrives is intact.
  auto q = MakeQueue(8);
  constexpr int kItems = 60;
  constexpr size_t kBytes = 512 << 10;
  channel::Process producer([&] {
    for (int i = 0; i < kItems; ++i) {
      JobMessage m(i, "", kBytes);
      if (!q.Put(m.builder, absl::Seconds(60)).ok()) return 1;
    }
    return 0;
  });
  const pid_t victim = channel_test::ForkChild([&] {
    for (;;) {
      auto m = q.Get(absl::Seconds(60));
      if (!m.ok()) return 1;
    }
  });
  ASSERT_TRUE(producer.Start().ok());
  // Let the victim take part, then kill it wherever it is.
  ASSERT_TRUE(channel_test::Eventually([&] { return q.qsize() < 8; }, absl::Seconds(30)));
  channel_test::KillAndReap(victim);
  std::set<uint64_t> got;
  for (;;) {
    auto m = q.Get(absl::Seconds(5));
    if (!m.ok()) break;
    ASSERT_TRUE(got.insert((*m)->getId()).second) << "duplicate " << (*m)->getId();
    ASSERT_TRUE(channel_test::DataMatches((*m)->getId(), (*m)->getData()));
  }
  EXPECT_EQ(*producer.Join(absl::Seconds(60)), 0);
  ASSERT_FALSE(got.empty());
  // Items after the ones the victim took all arrived.
  for (uint64_t id = *got.begin(); id < kItems; ++id) EXPECT_EQ(got.count(id), 1u) << id;
  EXPECT_EQ(q.qsize(), 0);
}

TEST(QueueTest, DeadProducerReservationsAreReleased) {
  auto q = MakeQueue(4);
  channel_test::ReadySignal ready;
  // 5 MiB messages are larger than a slab block: they go through the pipe, which cannot take
  // them all, so the producer dies with its feeder blocked mid-write and items unwritten.
  const pid_t victim = channel_test::StartProducerThenHang(q, 4, 5 << 20, ready);
  ASSERT_EQ(ready.Wait(), 'r');
  EXPECT_TRUE(q.full());
  channel_test::KillAndReap(victim);
  // The dead process's slots free up (the reaper runs inside this blocked Put).
  JobMessage m(100);
  absl::Status put = q.Put(m.builder, absl::Seconds(20));
  ASSERT_TRUE(put.ok()) << put << " qsize=" << q.qsize() << " lost=" << q.stats().items_lost
                        << " dead=" << q.stats().dead_processes
                        << " torn=" << q.stats().torn_writes;
  // Everything readable is intact; the torn frame was skipped; the new item arrives.
  std::vector<uint64_t> ids;
  for (;;) {
    auto got = q.Get(absl::Seconds(3));
    if (!got.ok()) break;
    ids.push_back((*got)->getId());
    if ((*got)->getId() < 4) {
      EXPECT_TRUE(channel_test::DataMatches((*got)->getId(), (*got)->getData()));
    }
  }
  ASSERT_FALSE(ids.empty());
  EXPECT_EQ(ids.back(), 100u);
  EXPECT_EQ(q.qsize(), 0);
  const channel::QueueStats stats = q.stats();
  EXPECT_EQ(stats.items_lost + ids.size() - 1, 4u);
  EXPECT_GE(stats.dead_processes + stats.torn_writes, 1u);
}

TEST(QueueTest, LargeItemsPutByAProducerThatDiedAreDeliveredIntact) {
  // 1 MiB messages travel in the slab and only their references in the pipe: once Put returned
  // and the feeder wrote the reference, the item no longer depends on its producer.
  auto q = MakeQueue(4);
  channel_test::ReadySignal ready;
  const pid_t victim = channel_test::StartProducerThenHang(q, 4, 1 << 20, ready);
  ASSERT_EQ(ready.Wait(), 'r');
  channel_test::KillAndReap(victim);
  // Whatever the feeder wrote before the kill arrives whole; the rest is counted lost.
  uint64_t received = 0;
  for (;;) {
    auto got = q.Get(absl::Seconds(3));
    if (!got.ok()) break;
    ++received;
    EXPECT_TRUE(channel_test::DataMatches((*got)->getId(), (*got)->getData()));
    EXPECT_EQ((*got)->getData().size(), size_t{1} << 20);
  }
  EXPECT_EQ(received + q.stats().items_lost, 4u);
  EXPECT_EQ(q.qsize(), 0);
  // The blocks came back: the queue carries large items as before.
  for (int i = 0; i < 8; ++i) {
    JobMessage m(1000 + i, "", 1 << 20);
    ASSERT_TRUE(q.Put(m.builder, absl::Seconds(30)).ok());
    auto got = q.Get(absl::Seconds(30));
    ASSERT_TRUE(got.ok()) << got.status();
    EXPECT_EQ((*got)->getId(), 1000u + i);
    EXPECT_TRUE(channel_test::DataMatches((*got)->getId(), (*got)->getData()));
  }
}

}  // namespace
