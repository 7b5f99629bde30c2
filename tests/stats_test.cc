// QueueStats (channel/stats.h) across real processes: totals, depth, blocked calls and attached
// processes, and what a SIGKILL leaves in them.
#include <signal.h>

#include <capnp/serialize.h>
#include <gtest/gtest.h>

#include "channel/channel.h"
#include "tests/test_util.h"

namespace {

using channel::JoinableQueue;
using channel::Queue;
using channel_test::Eventually;
using channel_test::ForkChild;
using channel_test::JobMessage;
using channel_test::MakeQueue;
using channel_test::ReadySignal;

TEST(StatsTest, TotalsAndDepthAreExact) {
  auto q = MakeQueue<JoinableQueue<demo::Job>>(/*maxsize=*/100);
  uint64_t put_bytes = 0;
  std::vector<uint64_t> sizes;
  for (int i = 0; i < 10; ++i) {
    JobMessage m(i, "", /*data_bytes=*/8 * i);
    const uint64_t bytes = capnp::computeSerializedSizeInWords(m.builder) * sizeof(capnp::word);
    sizes.push_back(bytes);
    put_bytes += bytes;
    ASSERT_TRUE(q.Put(m.builder).ok());
  }
  uint64_t got_bytes = 0;
  for (int i = 0; i < 4; ++i) {
    ASSERT_EQ(channel_test::GetId(q), static_cast<uint64_t>(i));
    got_bytes += sizes[i];
  }
  ASSERT_TRUE(q.TaskDone().ok());
  const channel::QueueStats s = q.stats();
  EXPECT_EQ(s.items_put, 10u);
  EXPECT_EQ(s.items_got, 4u);
  EXPECT_EQ(s.bytes_put, put_bytes);
  EXPECT_EQ(s.bytes_got, got_bytes);
  EXPECT_EQ(s.depth, 6);
  EXPECT_EQ(s.peak_depth, 10);
  EXPECT_EQ(s.unfinished, 9);
  EXPECT_EQ(s.items_lost, 0u);
  EXPECT_EQ(s.blocked_puts, 0);
  EXPECT_EQ(s.blocked_gets, 0);
  EXPECT_EQ(s.attached_processes, 1);  // this process, through its put slot
  EXPECT_FALSE(s.shut_down);
  EXPECT_EQ(s.items_dropped_by_shutdown, 0u);
}

TEST(StatsTest, PlainQueueHasNoUnfinished) {
  auto q = MakeQueue();
  JobMessage m(1);
  ASSERT_TRUE(q.Put(m.builder).ok());
  EXPECT_EQ(q.stats().unfinished, 0);
  EXPECT_EQ(q.stats().items_put, 1u);
}

TEST(StatsTest, BlockedCallsCountWhileTheyWaitAndNotAfterAKill) {
  auto full = MakeQueue(/*maxsize=*/1);
  auto empty = MakeQueue();
  JobMessage m(1);
  ASSERT_TRUE(full.Put(m.builder).ok());
  ReadySignal ready;
  const pid_t putter = ForkChild([&] {
    ready.Notify();
    JobMessage more(2);
    return full.Put(more.builder).ok() ? 0 : 1;  // blocks: the queue is full
  });
  const pid_t getter = ForkChild([&] {
    ready.Notify();
    return empty.Get().ok() ? 0 : 1;  // blocks: nothing comes
  });
  ASSERT_EQ(ready.Wait(), 'r');
  ASSERT_EQ(ready.Wait(), 'r');
  // Nothing announces that a call went to sleep: poll the counters, bounded.
  EXPECT_TRUE(Eventually([&] { return full.stats().blocked_puts == 1; }));
  EXPECT_TRUE(Eventually([&] { return empty.stats().blocked_gets == 1; }));
  EXPECT_EQ(full.stats().attached_processes, 2);  // this process and the blocked putter
  EXPECT_EQ(empty.stats().attached_processes, 1);  // the getter; this process never put
  // A count in shared memory that the dead process cannot decrement would stay at 1.
  channel_test::KillAndReap(putter);
  channel_test::KillAndReap(getter);
  EXPECT_EQ(full.stats().blocked_puts, 0);
  EXPECT_EQ(empty.stats().blocked_gets, 0);
  EXPECT_EQ(empty.stats().attached_processes, 0);
}

TEST(StatsTest, KilledProducerKeepsTotalsConsistent) {
  auto q = MakeQueue<JoinableQueue<demo::Job>>();
  ReadySignal ready;
  const pid_t producer = ForkChild([&] {
    for (int i = 0; i < 50; ++i) {
      JobMessage m(i);
      if (!q.Put(m.builder).ok()) return 1;
    }
    ready.Notify();
    for (;;) pause();
  });
  ASSERT_EQ(ready.Wait(), 'r');
  channel_test::KillAndReap(producer);
  // Whatever the kill caught in the feeder is lost; everything else is delivered.
  int got = 0;
  while (q.Get(absl::Seconds(2)).ok()) ++got;
  const channel::QueueStats s = q.stats();
  EXPECT_EQ(s.items_put, 50u);
  EXPECT_EQ(s.items_got, static_cast<uint64_t>(got));
  EXPECT_EQ(s.items_got + s.items_lost, 50u);
  EXPECT_EQ(s.depth, 0);
  EXPECT_EQ(s.unfinished, got);
  EXPECT_EQ(s.dead_processes, 1u);
  EXPECT_EQ(s.attached_processes, 0);
}

}  // namespace
