// Unit tests of SharedEvent (futex.h) across processes: a signal after the snapshot is never
// slept through, a sleeper in another process is woken, waits time out, and a signal with no
// sleeper issues no wake-up.
#include "channel/internal/futex.h"

#include <sys/mman.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include "absl/time/clock.h"
#include "channel/internal/test_util.h"

namespace channel {
namespace internal {
namespace {

using ::channel::testing::ExpectExitCode;
using ::channel::testing::ForkChild;
using ::channel::testing::ProcessState;
using ::channel::testing::ReadValue;
using ::channel::testing::TestPipe;
using ::channel::testing::WriteValue;

class SharedEventTest : public ::testing::Test {
 protected:
  void SetUp() override {
    void* p = mmap(nullptr, sizeof(SharedEvent), PROT_READ | PROT_WRITE,
                   MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    ASSERT_NE(p, MAP_FAILED);
    e_ = new (p) SharedEvent();
  }
  void TearDown() override { munmap(e_, sizeof(SharedEvent)); }
  SharedEvent* e_ = nullptr;
};

TEST_F(SharedEventTest, SignalAfterTheSnapshotIsNeverSleptThrough) {
  const uint32_t snapshot = e_->Snapshot();
  e_->Signal();
  const absl::Time start = absl::Now();
  // Would block for ever if the signal were missed.
  e_->Wait(snapshot, /*timeout_ns=*/-1, /*may_spin=*/true);
  EXPECT_LT(absl::Now() - start, absl::Seconds(10));
}

TEST_F(SharedEventTest, WaitTimesOut) {
  // Early returns are allowed; never returning is not. 5 us is shorter than the spin: the time
  // left for the futex wait must come out as zero, not as negative (which means "no limit").
  for (int64_t timeout_ns : {int64_t{0}, int64_t{5000}, int64_t{50 * 1000 * 1000}}) {
    const absl::Time start = absl::Now();
    e_->Wait(e_->Snapshot(), timeout_ns, /*may_spin=*/true);
    const absl::Duration waited = absl::Now() - start;
    EXPECT_LT(waited, absl::Seconds(10)) << timeout_ns;
  }
}

TEST_F(SharedEventTest, SleeperInAnotherProcessIsWoken) {
  TestPipe done;
  SharedEvent* e = e_;
  const int done_w = done.w;
  const uint32_t snapshot = e_->Snapshot();
  const pid_t waiter = ForkChild([=] {
    // Far longer than the parent waits for the report: returning means it was woken.
    e->Wait(snapshot, int64_t{120} * 1000 * 1000 * 1000, /*may_spin=*/false);
    WriteValue(done_w, char{'w'});
    return 0;
  });
  ASSERT_GT(waiter, 0);
  // Past its spin and asleep in the kernel: armed, and the process sleeping.
  const Deadline asleep = Deadline::After(absl::Seconds(30));
  while (!(e_->armed.load() != 0 && ProcessState(waiter) == 'S')) {
    ASSERT_FALSE(asleep.expired()) << "the waiter never went to sleep";
    sched_yield();
  }
  e_->Signal();
  char c = 0;
  ASSERT_TRUE(ReadValue(done.r, &c, absl::Seconds(30))) << "the sleeper was not woken";
  ASSERT_NO_FATAL_FAILURE(ExpectExitCode(waiter, 0));
  EXPECT_EQ(e_->armed.load(), 0u) << "the wake-up disarmed the event";
}

}  // namespace
}  // namespace internal
}  // namespace channel
