// Unit tests of the process registry (process_registry.h): slot claiming. Liveness has its own
// test (liveness_test.cc).
#include "channel/internal/shm/process_registry.h"

#include <unistd.h>

#include <algorithm>
#include <set>
#include <vector>

#include <gtest/gtest.h>

#include "channel/internal/shm/liveness.h"
#include "channel/internal/testing/test_util.h"

namespace channel {
namespace internal {
namespace {

using ::channel::testing::ExpectExitCode;
using ::channel::testing::ForkChild;
using ::channel::testing::ReadValue;
using ::channel::testing::TestPipe;
using ::channel::testing::WriteValue;

using SlotTest = ::channel::testing::SharedQueueTest;

TEST_F(SlotTest, ClaimAndRelease) {
  absl::StatusOr<int> a = ClaimSlot(q_);
  ASSERT_TRUE(a.ok()) << a.status();
  EXPECT_EQ(*a, 0);
  EXPECT_EQ(q_->slots[0].pid.load(), getpid());
  EXPECT_EQ(q_->slots[0].start_time, ProcessStartTime(getpid()));
  absl::StatusOr<int> b = ClaimSlot(q_);
  ASSERT_TRUE(b.ok());
  EXPECT_EQ(*b, 1) << "each claim takes a new slot, even for the same process";
  ReleaseSlot(q_, 0);
  EXPECT_EQ(q_->slots[0].pid.load(), 0);
  EXPECT_EQ(q_->slots[0].start_time, 0u);
  absl::StatusOr<int> c = ClaimSlot(q_);
  ASSERT_TRUE(c.ok());
  EXPECT_EQ(*c, 0) << "the lowest free slot is reused";
}

TEST_F(SlotTest, AllSlotsTakenIsResourceExhausted) {
  for (int i = 0; i < kMaxSlots; ++i) {
    absl::StatusOr<int> s = ClaimSlot(q_);
    ASSERT_TRUE(s.ok()) << i << ": " << s.status();
    EXPECT_EQ(*s, i);
  }
  absl::StatusOr<int> full = ClaimSlot(q_);
  EXPECT_EQ(full.status().code(), absl::StatusCode::kResourceExhausted) << full.status();
  EXPECT_FALSE(full.status().message().empty());
  ReleaseSlot(q_, 77);
  absl::StatusOr<int> again = ClaimSlot(q_);
  ASSERT_TRUE(again.ok());
  EXPECT_EQ(*again, 77);
}

TEST_F(SlotTest, ConcurrentClaimsFromManyProcessesAreDistinct) {
  constexpr int kProcs = 8;
  constexpr int kClaims = 12;
  SharedQueue* q = q_;
  TestPipe start;
  const int start_r = start.r;
  std::vector<pid_t> kids;
  for (int p = 0; p < kProcs; ++p) {
    kids.push_back(ForkChild([=] {
      char c;
      if (!ReadValue(start_r, &c)) return 2;  // all start together
      for (int i = 0; i < kClaims; ++i) {
        if (!ClaimSlot(q).ok()) return 3;
      }
      return 0;
    }));
    ASSERT_GT(kids.back(), 0);
  }
  for (int p = 0; p < kProcs; ++p) ASSERT_TRUE(WriteValue(start.w, char{'g'}));
  std::multiset<pid_t> owners;
  for (pid_t k : kids) {
    ASSERT_NO_FATAL_FAILURE(ExpectExitCode(k, 0, absl::Seconds(60)));
  }
  for (int i = 0; i < kMaxSlots; ++i) {
    const pid_t owner = q_->slots[i].pid.load();
    if (owner != 0) owners.insert(owner);
  }
  EXPECT_EQ(owners.size(), static_cast<size_t>(kProcs * kClaims));
  for (pid_t k : kids) EXPECT_EQ(owners.count(k), static_cast<size_t>(kClaims)) << k;
}

}  // namespace
}  // namespace internal
}  // namespace channel
