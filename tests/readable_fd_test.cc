// ReadableFd(): level-triggered readiness across processes, cleared only by this handle's Get
// reporting Empty, readable on Shutdown and Close, and no lost wake-ups with several consumers in
// several processes (a ping-pong whose every round must wake a poller). Every wait is bounded.
#include <poll.h>
#include <unistd.h>

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

constexpr absl::Duration kLong = absl::Seconds(30);

bool Readable(int fd, absl::Duration wait = absl::ZeroDuration()) {
  pollfd p{fd, POLLIN, 0};
  return poll(&p, 1, static_cast<int>(absl::ToInt64Milliseconds(wait))) == 1 &&
         (p.revents & POLLIN) != 0;
}

absl::Status PutId(Queue& q, uint64_t id) {
  JobMessage m(id);
  return q.Put(m.builder, kLong);
}

TEST(ReadableFdTest, ReadableWhileItemsAreThereUntilGetFindsNone) {
  Queue q = MakeQueue();
  absl::StatusOr<int> fd = q.ReadableFd();
  ASSERT_TRUE(fd.ok()) << fd.status();
  EXPECT_EQ(*q.ReadableFd(), *fd);  // one per handle
  EXPECT_FALSE(Readable(*fd));
  const pid_t producer = ForkChild([&q] {
    for (uint64_t id = 0; id < 3; ++id) {
      if (!PutId(q, id).ok()) return 10;
    }
    exit(0);  // flushes
  });
  EXPECT_EQ(WaitChild(producer), 0);
  ASSERT_TRUE(Readable(*fd, kLong));
  EXPECT_EQ(channel_test::GetId(q, absl::ZeroDuration()), 0u);
  EXPECT_TRUE(Readable(*fd));  // level-triggered: two are left
  auto rest = q.GetMany(10, absl::ZeroDuration());
  ASSERT_TRUE(rest.ok()) << rest.status();
  while (rest->size() < 2) {
    auto more = q.GetNowait();
    ASSERT_TRUE(more.ok()) << more.status();
    rest->push_back(*std::move(more));
  }
  EXPECT_TRUE(channel::IsEmpty(q.GetNowait().status()));
  EXPECT_FALSE(Readable(*fd));
}

TEST(ReadableFdTest, ShutdownInAnotherProcessMakesItReadable) {
  Queue q = MakeQueue();
  const int fd = *q.ReadableFd();
  EXPECT_FALSE(Readable(fd));
  const pid_t shutter = ForkChild([&q] { return q.Shutdown().ok() ? 0 : 10; });
  EXPECT_EQ(WaitChild(shutter), 0);
  ASSERT_TRUE(Readable(fd, kLong));
  EXPECT_TRUE(channel::IsShutDown(q.GetNowait().status()));
  EXPECT_TRUE(Readable(fd));  // stays readable: the queue stays shut down
}

TEST(ReadableFdTest, CloseMakesItReadable) {
  Queue q = MakeQueue();
  const int fd = *q.ReadableFd();
  EXPECT_FALSE(Readable(fd));
  q.Close();
  EXPECT_TRUE(Readable(fd, kLong));
  EXPECT_TRUE(channel::IsClosed(q.GetNowait().status()));
  EXPECT_TRUE(Readable(fd));
}

// Each round puts one item; one of two polling consumer processes must wake and answer. A lost
// wake-up would leave both asleep and the round unanswered.
TEST(ReadableFdTest, NoLostWakeUpsWithTwoPollingConsumers) {
  constexpr uint64_t kRounds = 300;
  Queue requests = MakeQueue();
  Queue replies = MakeQueue();
  std::vector<pid_t> consumers;
  ReadySignal ready;
  for (int c = 0; c < 2; ++c) {
    consumers.push_back(ForkChild([&] {
      absl::StatusOr<int> fd = requests.ReadableFd();  // this process's own
      if (!fd.ok()) return 10;
      ready.Notify();
      for (;;) {
        if (!Readable(*fd, absl::Seconds(60))) return 11;
        for (;;) {
          auto m = requests.GetNowait();
          if (channel::IsEmpty(m.status())) break;
          if (channel::IsShutDown(m.status())) exit(0);
          if (!m.ok()) return 12;
          if (!PutId(replies, (*m)->getId()).ok()) return 13;
        }
      }
    }));
  }
  for (int c = 0; c < 2; ++c) ASSERT_EQ(ready.Wait(), 'r');
  for (uint64_t round = 0; round < kRounds; ++round) {
    ASSERT_TRUE(PutId(requests, round).ok());
    ASSERT_EQ(channel_test::GetId(replies, kLong), round) << "round " << round;
  }
  ASSERT_TRUE(requests.Shutdown().ok());
  for (pid_t c : consumers) EXPECT_EQ(WaitChild(c), 0);
}

// A child's copy of a handle has its own descriptor.
TEST(ReadableFdTest, ForkedChildGetsItsOwn) {
  Queue q = MakeQueue();
  const int parent_fd = *q.ReadableFd();
  const pid_t child = ForkChild([&q] {
    absl::StatusOr<int> fd = q.ReadableFd();
    if (!fd.ok()) return 10;
    if (!Readable(*fd, kLong)) return 11;
    return q.GetNowait().ok() ? 0 : 12;
  });
  ASSERT_TRUE(PutId(q, 1).ok());
  EXPECT_EQ(WaitChild(child), 0);
  EXPECT_TRUE(channel::IsEmpty(q.GetNowait().status()));
  EXPECT_FALSE(Readable(parent_fd));
}

TEST(ReadableFdTest, MovedFromHandle) {
  Queue q = MakeQueue();
  Queue other = std::move(q);
  EXPECT_TRUE(absl::IsFailedPrecondition(q.ReadableFd().status()));  // NOLINT(bugprone-use-after-move)
  EXPECT_TRUE(other.ReadableFd().ok());
}

}  // namespace
