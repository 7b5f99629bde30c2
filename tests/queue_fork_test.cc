// Queue<T> tests whose child processes start threads after forking a parent that already runs a
// feeder thread. Kept apart because ThreadSanitizer cannot follow that ("dup thread with used
// id": the child reuses a thread id TSan still thinks is alive), so this target is "no_tsan".
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <set>
#include <thread>
#include <vector>

#include <gtest/gtest.h>

#include "channel/channel.h"
#include "tests/test_util.h"

namespace {

using channel_test::GetId;
using channel_test::JobMessage;
using channel_test::MakeQueue;

TEST(QueueForkTest, ForkAfterUseNeverResendsParentBufferedItems) {
  auto q = MakeQueue();
  constexpr int kParentItems = 2000;
  for (int i = 0; i < kParentItems; ++i) {
    JobMessage m(i);
    ASSERT_TRUE(q.Put(m.builder).ok());
  }
  // Fork while the parent's feeder very likely still holds some of those items.
  const pid_t child = channel_test::ForkChild([&] {
    JobMessage m(1000000);
    if (!q.Put(m.builder).ok()) return 1;
    auto got = q.Get(absl::Seconds(30));  // the child can read too
    if (!got.ok()) return 2;
    JobMessage back((*got)->getId());
    if (!q.Put(back.builder).ok()) return 3;
    exit(0);
  });
  ASSERT_EQ(channel_test::WaitChild(child), 0);
  std::multiset<uint64_t> ids;
  for (int i = 0; i < kParentItems + 1; ++i) ids.insert(GetId(q));
  EXPECT_TRUE(channel::IsEmpty(q.Get(absl::Milliseconds(300)).status()));
  for (int i = 0; i < kParentItems; ++i) EXPECT_EQ(ids.count(i), 1u) << i;
  EXPECT_EQ(ids.count(1000000), 1u);
}


TEST(QueueForkTest, ConsumerKilledWhileBlockedInGetLosesNothing) {
  auto q = MakeQueue();
  channel_test::ReadySignal ready;
  const pid_t victim = channel_test::ForkChild([&] {
    ready.Notify();
    auto m = q.Get();  // blocks until killed
    return 0;
  });
  ASSERT_EQ(ready.Wait(), 'r');
  channel_test::KillAndReap(victim);
  constexpr int kItems = 100;
  for (int i = 0; i < kItems; ++i) {
    JobMessage m(i);
    ASSERT_TRUE(q.Put(m.builder).ok());
  }
  auto results = MakeQueue();
  channel::Process consumer([&] {
    for (int i = 0; i < kItems; ++i) {
      auto m = q.Get(absl::Seconds(30));
      if (!m.ok()) return 1;
      JobMessage echo((*m)->getId());
      if (!results.Put(echo.builder).ok()) return 2;
    }
    return 0;
  });
  ASSERT_TRUE(consumer.Start().ok());
  EXPECT_EQ(*consumer.Join(absl::Seconds(60)), 0);
  for (int i = 0; i < kItems; ++i) EXPECT_EQ(GetId(results), static_cast<uint64_t>(i));
  EXPECT_EQ(q.stats().items_lost, 0u);
}

}  // namespace
