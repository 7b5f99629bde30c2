// Shutdown(immediate) across processes: the intent of CPython's test_shutdown_* tests
// (Lib/test/test_queue.py, Python 3.13) with processes where CPython has threads, plus what only a
// cross-process queue has: processes that attach (fork, Open) after the Shutdown, and named
// queues that stay shut down until Unlink. Every wait is bounded; "a blocked call wakes" is
// checked by its result (it returns kCancelled, never its own timeout's status).
#include <unistd.h>

#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "absl/strings/str_cat.h"
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

constexpr absl::Duration kLong = absl::Seconds(60);  // "blocks": far beyond any wake-up

absl::Status PutId(Queue& q, uint64_t id, absl::Duration timeout = kLong) {
  JobMessage m(id);
  return q.Put(m.builder, timeout);
}
absl::Status PutId(JoinableQueue& q, uint64_t id, absl::Duration timeout = kLong) {
  JobMessage m(id);
  return q.Put(m.builder, timeout);
}

// Exit codes of children: 0 = as expected; anything else names what went wrong.
constexpr int kWrongStatus = 10;

// test_shutdown_empty: nothing in the queue; Put and Get fail at once, here and in a child.
TEST(ShutdownTest, EmptyQueueRefusesPutAndGet) {
  Queue q = MakeQueue();
  EXPECT_FALSE(q.stats().shut_down);
  ASSERT_TRUE(q.Shutdown().ok());
  EXPECT_TRUE(q.stats().shut_down);
  EXPECT_TRUE(channel::IsShutDown(PutId(q, 1)));
  EXPECT_TRUE(channel::IsShutDown(PutId(q, 1, absl::ZeroDuration())));
  EXPECT_TRUE(channel::IsShutDown(q.Get(kLong).status()));
  EXPECT_TRUE(channel::IsShutDown(q.GetNowait().status()));
  EXPECT_EQ(q.qsize(), 0);
  EXPECT_TRUE(q.empty());
  // A process forked afterwards shares the shut-down queue.
  const pid_t child = ForkChild([&q] {
    if (!channel::IsShutDown(PutId(q, 2))) return kWrongStatus;
    if (!channel::IsShutDown(q.Get(kLong).status())) return kWrongStatus + 1;
    return 0;
  });
  EXPECT_EQ(WaitChild(child), 0);
}

// test_shutdown_nonempty: what was put before is still delivered, in order, to any process;
// then Get fails instead of waiting.
TEST(ShutdownTest, GetReturnsWhatIsLeftThenFails) {
  Queue q = MakeQueue(/*maxsize=*/3);
  for (uint64_t id = 1; id <= 3; ++id) ASSERT_TRUE(PutId(q, id).ok());
  ASSERT_TRUE(q.Shutdown().ok());
  EXPECT_EQ(q.qsize(), 3);
  EXPECT_TRUE(q.full());  // truthful: still three of three
  EXPECT_TRUE(channel::IsShutDown(PutId(q, 4, absl::ZeroDuration())));  // not IsFull
  const pid_t child = ForkChild([&q] {
    for (uint64_t id = 1; id <= 3; ++id) {
      auto m = q.Get(kLong);
      if (!m.ok() || (*m)->getId() != id) return kWrongStatus + static_cast<int>(id);
    }
    if (!channel::IsShutDown(q.Get(kLong).status())) return kWrongStatus;
    return 0;
  });
  EXPECT_EQ(WaitChild(child), 0);
  EXPECT_EQ(q.qsize(), 0);
  EXPECT_TRUE(channel::IsShutDown(q.GetNowait().status()));
}

// test_shutdown_immediate: what is left is dropped, counted as dropped, not as lost.
TEST(ShutdownTest, ImmediateDropsWhatIsLeft) {
  Queue q = MakeQueue();
  for (uint64_t id = 1; id <= 5; ++id) ASSERT_TRUE(PutId(q, id).ok());
  ASSERT_TRUE(q.Shutdown(/*immediate=*/true).ok());
  EXPECT_TRUE(channel::IsShutDown(q.GetNowait().status()));
  EXPECT_TRUE(channel::IsShutDown(q.Get(kLong).status()));
  // Items still in this process's feeder are dropped when they reach the pipe.
  ASSERT_TRUE(channel_test::Eventually([&q] { return q.qsize() == 0; }));
  const channel::QueueStats stats = q.stats();
  EXPECT_EQ(stats.items_dropped_by_shutdown, 5u);
  EXPECT_EQ(stats.items_lost, 0u);
}

// test_shutdown_allowed_transitions: again is harmless; immediate after plain drops the rest.
TEST(ShutdownTest, ImmediateAfterPlainDropsTheRest) {
  Queue q = MakeQueue();
  for (uint64_t id = 1; id <= 3; ++id) ASSERT_TRUE(PutId(q, id).ok());
  ASSERT_TRUE(q.Shutdown().ok());
  ASSERT_TRUE(q.Shutdown().ok());
  EXPECT_EQ(channel_test::GetId(q), 1u);
  ASSERT_TRUE(q.Shutdown(/*immediate=*/true).ok());
  EXPECT_TRUE(channel::IsShutDown(q.Get(kLong).status()));
  ASSERT_TRUE(channel_test::Eventually([&q] { return q.qsize() == 0; }));
  EXPECT_EQ(q.stats().items_dropped_by_shutdown, 2u);
  ASSERT_TRUE(q.Shutdown().ok());  // never goes back
  EXPECT_TRUE(channel::IsShutDown(q.Get(absl::ZeroDuration()).status()));
}

// A Put blocked on a full queue in another process wakes and fails.
TEST(ShutdownTest, BlockedPutInAnotherProcessWakes) {
  Queue q = MakeQueue(/*maxsize=*/1);
  ASSERT_TRUE(PutId(q, 1).ok());
  ReadySignal ready;
  const pid_t child = ForkChild([&q, &ready] {
    ready.Notify();
    const absl::Time start = absl::Now();
    const absl::Status s = PutId(q, 2, kLong);
    if (!channel::IsShutDown(s)) return kWrongStatus;
    return absl::Now() - start < kLong / 2 ? 0 : kWrongStatus + 1;
  });
  ASSERT_EQ(ready.Wait(), 'r');
  // Whether the child is asleep yet or about to be, it must fail: Put checks under the lock.
  ASSERT_TRUE(q.Shutdown().ok());
  EXPECT_EQ(WaitChild(child), 0);
  EXPECT_EQ(q.qsize(), 1);  // the item put before is still there
  EXPECT_EQ(channel_test::GetId(q), 1u);
}

// test_shutdown_pending_get: Gets blocked on an empty queue in several processes wake and fail,
// for both kinds of Shutdown.
TEST(ShutdownTest, BlockedGetsInOtherProcessesWake) {
  for (const bool immediate : {false, true}) {
    SCOPED_TRACE(immediate ? "immediate" : "plain");
    Queue q = MakeQueue();
    ReadySignal ready;
    std::vector<pid_t> children;
    for (int i = 0; i < 3; ++i) {
      children.push_back(ForkChild([&q, &ready] {
        ready.Notify();
        const absl::Time start = absl::Now();
        if (!channel::IsShutDown(q.Get(kLong).status())) return kWrongStatus;
        return absl::Now() - start < kLong / 2 ? 0 : kWrongStatus + 1;
      }));
    }
    for (int i = 0; i < 3; ++i) ASSERT_EQ(ready.Wait(), 'r');
    ASSERT_TRUE(q.Shutdown(immediate).ok());
    for (pid_t child : children) EXPECT_EQ(WaitChild(child), 0);
  }
}

// Several consumers in several processes share out what was left: each item once, then every
// one of them fails instead of waiting.
TEST(ShutdownTest, ConsumersDrainWhatIsLeftExactlyOnce) {
  constexpr int kItems = 300;
  constexpr int kConsumers = 3;
  Queue q = MakeQueue();
  for (int id = 0; id < kItems; ++id) ASSERT_TRUE(PutId(q, id).ok());
  ASSERT_TRUE(q.Shutdown().ok());
  int fds[2];
  ASSERT_EQ(pipe(fds), 0);
  std::vector<pid_t> children;
  for (int c = 0; c < kConsumers; ++c) {
    children.push_back(ForkChild([&q, fds] {
      for (;;) {
        auto m = q.Get(kLong);
        if (channel::IsShutDown(m.status())) return 0;
        if (!m.ok()) return kWrongStatus;
        const uint32_t id = static_cast<uint32_t>((*m)->getId());
        if (write(fds[1], &id, sizeof id) != sizeof id) return kWrongStatus + 1;
      }
    }));
  }
  close(fds[1]);
  for (pid_t child : children) EXPECT_EQ(WaitChild(child), 0);
  std::vector<int> seen(kItems, 0);
  uint32_t id;
  while (read(fds[0], &id, sizeof id) == sizeof id) {
    ASSERT_LT(id, static_cast<uint32_t>(kItems));
    ++seen[id];
  }
  close(fds[0]);
  for (int i = 0; i < kItems; ++i) EXPECT_EQ(seen[i], 1) << "item " << i;
  EXPECT_EQ(q.qsize(), 0);
}

// Items still in another process's feeder when Shutdown is called count, and are delivered:
// a Get waits for them instead of failing.
TEST(ShutdownTest, GetWaitsForItemsStillOnTheirWay) {
  Queue q = MakeQueue();
  ReadySignal put_done;
  ReadySignal go;
  const pid_t producer = ForkChild([&] {
    for (int id = 0; id < 100; ++id) {
      if (!PutId(q, id).ok()) return kWrongStatus;
    }
    put_done.Notify();
    if (go.Wait() != 'g') return kWrongStatus + 1;
    exit(0);  // flushes
  });
  ASSERT_EQ(put_done.Wait(), 'r');
  ASSERT_TRUE(q.Shutdown().ok());
  EXPECT_EQ(q.qsize(), 100);
  go.Notify('g');
  for (uint64_t id = 0; id < 100; ++id) ASSERT_EQ(channel_test::GetId(q), id);
  EXPECT_TRUE(channel::IsShutDown(q.Get(kLong).status()));
  EXPECT_EQ(WaitChild(producer), 0);
}

// JoinableQueue, plain Shutdown: Join still waits for every item, TaskDone still works
// (test_shutdown_get_task_done_join).
TEST(ShutdownTest, PlainShutdownJoinWaitsForEveryItem) {
  JoinableQueue q = MakeQueue<JoinableQueue>();
  for (uint64_t id = 1; id <= 3; ++id) ASSERT_TRUE(PutId(q, id).ok());
  ASSERT_TRUE(q.Shutdown().ok());
  EXPECT_TRUE(absl::IsDeadlineExceeded(q.Join(absl::Milliseconds(50))));
  const pid_t consumer = ForkChild([&q] {
    for (;;) {
      auto m = q.Get(kLong);
      if (channel::IsShutDown(m.status())) return 0;
      if (!m.ok() || !q.TaskDone().ok()) return kWrongStatus;
    }
  });
  EXPECT_TRUE(q.Join(kLong).ok());
  EXPECT_EQ(WaitChild(consumer), 0);
  EXPECT_EQ(q.unfinished(), 0);
}

// JoinableQueue, immediate: dropped items count as done; items already handed out still hold
// Join until their TaskDone (3.14 wording; test_shutdown_immediate_get_task_done_join).
TEST(ShutdownTest, ImmediateJoinWaitsOnlyForItemsHandedOut) {
  JoinableQueue q = MakeQueue<JoinableQueue>();
  for (uint64_t id = 1; id <= 6; ++id) ASSERT_TRUE(PutId(q, id).ok());
  ReadySignal took;
  ReadySignal finish;
  const pid_t consumer = ForkChild([&] {
    for (int i = 0; i < 2; ++i) {
      if (!q.Get(kLong).ok()) return kWrongStatus;
    }
    took.Notify();
    if (finish.Wait() != 'f') return kWrongStatus + 1;
    if (!channel::IsShutDown(q.GetNowait().status())) return kWrongStatus + 2;
    for (int i = 0; i < 2; ++i) {
      if (!q.TaskDone().ok()) return kWrongStatus + 3;
    }
    // The dropped items were counted done: one more is one too many.
    if (!absl::IsOutOfRange(q.TaskDone())) return kWrongStatus + 4;
    return 0;
  });
  ASSERT_EQ(took.Wait(), 'r');
  ASSERT_TRUE(q.Shutdown(/*immediate=*/true).ok());
  EXPECT_TRUE(absl::IsDeadlineExceeded(q.Join(absl::Milliseconds(100))));
  ASSERT_TRUE(channel_test::Eventually([&q] { return q.unfinished() == 2; }));
  finish.Notify('f');
  EXPECT_TRUE(q.Join(kLong).ok());
  EXPECT_EQ(WaitChild(consumer), 0);
  EXPECT_EQ(q.stats().items_dropped_by_shutdown, 4u);
  EXPECT_EQ(q.qsize(), 0);
}

// A Join blocked in another process returns once an immediate Shutdown drops what it waited for.
TEST(ShutdownTest, ImmediateWakesJoinInAnotherProcess) {
  JoinableQueue q = MakeQueue<JoinableQueue>();
  for (uint64_t id = 1; id <= 4; ++id) ASSERT_TRUE(PutId(q, id).ok());
  ReadySignal ready;
  const pid_t joiner = ForkChild([&q, &ready] {
    ready.Notify();
    return q.Join(kLong).ok() ? 0 : kWrongStatus;
  });
  ASSERT_EQ(ready.Wait(), 'r');
  ASSERT_TRUE(q.Shutdown(/*immediate=*/true).ok());
  EXPECT_EQ(WaitChild(joiner), 0);
  EXPECT_EQ(q.unfinished(), 0);
}

// A named queue stays shut down for every later Open until Unlink; a new queue under the name
// is not.
TEST(ShutdownTest, NamedQueueStaysShutDownUntilUnlink) {
  const std::string name = absl::StrCat("shutdown_test_", getpid());
  Queue::Unlink(name).IgnoreError();
  {
    auto q = Queue::CreateNamed(name);
    ASSERT_TRUE(q.ok()) << q.status();
    for (uint64_t id = 1; id <= 2; ++id) ASSERT_TRUE(PutId(*q, id).ok());
    ASSERT_TRUE(q->Shutdown().ok());
  }  // detached: nobody has it open
  const pid_t child = ForkChild([&name] {
    auto q = Queue::Open(name);
    if (!q.ok()) return kWrongStatus;
    if (!q->stats().shut_down || q->qsize() != 2) return kWrongStatus + 1;
    if (!channel::IsShutDown(PutId(*q, 3))) return kWrongStatus + 2;
    for (uint64_t id = 1; id <= 2; ++id) {
      auto m = q->Get(kLong);
      if (!m.ok() || (*m)->getId() != id) return kWrongStatus + 3;
    }
    return channel::IsShutDown(q->Get(kLong).status()) ? 0 : kWrongStatus + 4;
  });
  EXPECT_EQ(WaitChild(child), 0);
  {
    auto q = Queue::Open(name);
    ASSERT_TRUE(q.ok()) << q.status();
    EXPECT_TRUE(channel::IsShutDown(q->GetNowait().status()));
  }
  ASSERT_TRUE(Queue::Unlink(name).ok());
  auto fresh = Queue::CreateNamed(name);
  ASSERT_TRUE(fresh.ok()) << fresh.status();
  EXPECT_FALSE(fresh->stats().shut_down);
  EXPECT_TRUE(PutId(*fresh, 9).ok());
  EXPECT_EQ(channel_test::GetId(*fresh), 9u);
  ASSERT_TRUE(Queue::Unlink(name).ok());
}

// A closed handle answers IsClosed first; its Shutdown still shuts the queue down for others.
TEST(ShutdownTest, ClosedHandleCanShutDownTheQueue) {
  Queue q = MakeQueue();
  const pid_t child = ForkChild([&q] {
    return channel::IsShutDown(q.Get(kLong).status()) ? 0 : kWrongStatus;
  });
  q.Close();
  EXPECT_TRUE(channel::IsClosed(PutId(q, 1)));
  ASSERT_TRUE(q.Shutdown().ok());
  EXPECT_TRUE(channel::IsClosed(PutId(q, 1)));
  EXPECT_EQ(WaitChild(child), 0);
}

TEST(ShutdownTest, MovedFromHandle) {
  Queue q = MakeQueue();
  Queue other = std::move(q);
  EXPECT_TRUE(absl::IsFailedPrecondition(q.Shutdown()));  // NOLINT(bugprone-use-after-move)
  EXPECT_TRUE(other.Shutdown().ok());
}

}  // namespace
