// JoinableQueue<T>: TaskDone/Join accounting across processes, Join's timeout, too many
// TaskDone calls, and a consumer killed between Get and TaskDone.
#include <unistd.h>

#include <vector>

#include <gtest/gtest.h>

#include "channel/channel.h"
#include "tests/test_util.h"

namespace {

using channel::JoinableQueue;
using channel_test::JobMessage;

JoinableQueue<demo::Job> MakeQueue(int64_t maxsize = 0) {
  return channel_test::MakeQueue<JoinableQueue<demo::Job>>(maxsize);
}

TEST(JoinableQueueTest, JoinReturnsAtOnceWhenNothingWasPut) {
  auto q = MakeQueue();
  EXPECT_TRUE(q.Join(absl::ZeroDuration()).ok());
}

TEST(JoinableQueueTest, TooManyTaskDoneIsOutOfRange) {
  auto q = MakeQueue();
  absl::Status s = q.TaskDone();
  EXPECT_TRUE(absl::IsOutOfRange(s)) << s;
  EXPECT_NE(s.message().find("task_done() called too many times"), std::string::npos);
  JobMessage m(1);
  ASSERT_TRUE(q.Put(m.builder).ok());
  ASSERT_TRUE(q.Get(absl::Seconds(10)).ok());
  EXPECT_TRUE(q.TaskDone().ok());
  EXPECT_TRUE(absl::IsOutOfRange(q.TaskDone()));
}

TEST(JoinableQueueTest, JoinTimesOutWithUnfinishedItems) {
  auto q = MakeQueue();
  JobMessage m(1);
  ASSERT_TRUE(q.Put(m.builder).ok());
  const absl::Time start = absl::Now();
  absl::Status s = q.Join(absl::Milliseconds(200));
  EXPECT_TRUE(absl::IsDeadlineExceeded(s)) << s;
  EXPECT_GE(absl::Now() - start, absl::Milliseconds(190));
  EXPECT_EQ(s.message(), "Join waited 200ms (its timeout); 1 item(s) not yet marked done");
  ASSERT_TRUE(q.Get(absl::Seconds(10)).ok());
  ASSERT_TRUE(absl::IsDeadlineExceeded(q.Join(absl::Milliseconds(50))));  // got, not done
  ASSERT_TRUE(q.TaskDone().ok());
  EXPECT_TRUE(q.Join(absl::Seconds(10)).ok());
}

TEST(JoinableQueueTest, ProducersJoinWhileConsumerProcessesFinishItems) {
  // The seed's program: producers that Join, daemon consumers that TaskDone.
  auto q = MakeQueue();
  constexpr int kProducers = 3;
  constexpr int kItems = 200;
  std::vector<channel::Process> consumers;
  for (int c = 0; c < 2; ++c) {
    consumers.emplace_back([&] {
      for (;;) {
        auto m = q.Get();
        if (!m.ok()) return 1;
        if (!q.TaskDone().ok()) return 2;
      }
    });
    consumers.back().set_daemon(true);
    ASSERT_TRUE(consumers.back().Start().ok());
  }
  std::vector<channel::Process> producers;
  for (int p = 0; p < kProducers; ++p) {
    producers.emplace_back([&, p] {
      for (int i = 0; i < kItems; ++i) {
        JobMessage m(p * kItems + i);
        if (!q.Put(m.builder).ok()) return 1;
      }
      return q.Join(absl::Seconds(60)).ok() ? 0 : 3;
    });
    ASSERT_TRUE(producers.back().Start().ok());
  }
  for (auto& p : producers) EXPECT_EQ(*p.Join(absl::Seconds(90)), 0);
  EXPECT_TRUE(q.Join(absl::Seconds(10)).ok());
  EXPECT_EQ(q.qsize(), 0);
  for (auto& c : consumers) EXPECT_TRUE(c.is_alive());  // daemons: terminated on destruction
}

TEST(JoinableQueueTest, TaskDoneFromAnotherProcessCounts) {
  auto q = MakeQueue();
  for (int i = 0; i < 10; ++i) {
    JobMessage m(i);
    ASSERT_TRUE(q.Put(m.builder).ok());
  }
  for (int i = 0; i < 10; ++i) ASSERT_TRUE(q.Get(absl::Seconds(10)).ok());
  channel::Process finisher([&] {
    for (int i = 0; i < 10; ++i) {
      if (!q.TaskDone().ok()) return 1;
    }
    return 0;
  });
  ASSERT_TRUE(finisher.Start().ok());
  EXPECT_TRUE(q.Join(absl::Seconds(30)).ok());
  EXPECT_EQ(*finisher.Join(absl::Seconds(30)), 0);
}

TEST(JoinableQueueTest, ConsumerKilledBetweenGetAndTaskDoneLeavesItUnfinished) {
  // Documented behaviour: an item delivered to a consumer that died before TaskDone stays
  // unfinished (nobody can know whether it was processed); Join's timeout reports it.
  auto q = MakeQueue();
  JobMessage m(1);
  ASSERT_TRUE(q.Put(m.builder).ok());
  channel_test::ReadySignal got;
  const pid_t victim = channel_test::ForkChild([&] {
    auto item = q.Get(absl::Seconds(30));
    got.Notify(item.ok() ? 'g' : 'x');
    pause();  // killed before TaskDone
    return 0;
  });
  ASSERT_EQ(got.Wait(), 'g');
  channel_test::KillAndReap(victim);
  absl::Status s = q.Join(absl::Milliseconds(1500));  // long enough for the reaper to run
  EXPECT_TRUE(absl::IsDeadlineExceeded(s)) << s;
  EXPECT_EQ(q.qsize(), 0);
}

TEST(JoinableQueueTest, UndeliveredItemsOfADeadProducerDoNotBlockJoin) {
  auto q = MakeQueue(/*maxsize=*/3);
  channel_test::ReadySignal ready;
  const pid_t victim = channel_test::StartProducerThenHang(q, 3, 1 << 20, ready);
  ASSERT_EQ(ready.Wait(), 'r');
  channel_test::KillAndReap(victim);
  // What arrived whole can be taken and marked done; Join then returns because every item that
  // never arrived was dropped from the unfinished count.
  int taken = 0;
  for (;;) {
    auto item = q.Get(absl::Seconds(3));
    if (!item.ok()) break;
    ASSERT_TRUE(channel_test::DataMatches((*item)->getId(), (*item)->getData()));
    ASSERT_TRUE(q.TaskDone().ok());
    ++taken;
  }
  EXPECT_TRUE(q.Join(absl::Seconds(20)).ok());
  EXPECT_EQ(q.stats().items_lost, static_cast<uint64_t>(3 - taken));
}

}  // namespace
