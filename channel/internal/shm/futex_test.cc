// Unit tests of SharedEvent (futex.h) across processes: a signal after the snapshot is never
// slept through, a sleeper in another process is woken, waits time out, a signal with no
// sleeper issues no wake-up, and SignalIfArmed with waiters that look again after arming loses no
// wake-up either, while plain signals keep lowering `armed` under it.
#include "channel/internal/shm/futex.h"

#include <signal.h>
#include <sys/mman.h>
#include <unistd.h>

#include <atomic>
#include <vector>

#include <gtest/gtest.h>

#include "absl/time/clock.h"
#include "channel/internal/testing/test_util.h"

namespace channel {
namespace internal {
namespace {

using ::channel::testing::ExpectExitCode;
using ::channel::testing::ForkChild;
using ::channel::testing::KillAndReap;
using ::channel::testing::ProcessState;
using ::channel::testing::ReadValue;
using ::channel::testing::TestPipe;
using ::channel::testing::WaitChild;
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

TEST_F(SharedEventTest, SignalIfArmedLeavesAnUnarmedEventAlone) {
  const uint32_t before = e_->Snapshot();
  e_->SignalIfArmed();
  EXPECT_EQ(e_->Snapshot(), before) << "nobody armed: the counter's line is only read";
  e_->Arm();
  e_->SignalIfArmed();
  EXPECT_EQ(e_->armed.load(), 0u);
  EXPECT_EQ(e_->Snapshot(), before + 2) << "once before lowering `armed`, once after";
}

// Two processes hand a turn back and forth 20,000 times through two counters, each waiting with
// no timeout by the SignalIfArmed protocol (snapshot, look, Arm, look again, Wait) and signalling
// with SignalIfArmed after a seq_cst increment. A third process calls plain Signal() on both
// events all along, lowering `armed` at arbitrary moments. A lost wake-up hangs the run.
TEST(SignalIfArmedTest, NoWakeUpIsLostWhilePlainSignalsLowerArmed) {
  struct Shared {
    SharedEvent ping_event;
    SharedEvent pong_event;
    std::atomic<uint64_t> pings{0};
    std::atomic<uint64_t> pongs{0};
    std::atomic<uint32_t> stop{0};
  };
  void* p =
      mmap(nullptr, sizeof(Shared), PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
  ASSERT_NE(p, MAP_FAILED);
  Shared* sh = new (p) Shared();
  constexpr uint64_t kRounds = 20000;
  // Waits until `count` reaches `target`, the way PipeQueue's WaitFor does for space_free.
  auto await = [](SharedEvent& e, const std::atomic<uint64_t>& count, uint64_t target) {
    for (;;) {
      const uint32_t snapshot = e.Snapshot();
      if (count.load() >= target) return;
      e.Arm();
      if (count.load() >= target) return;
      e.Wait(snapshot, /*timeout_ns=*/-1, /*may_spin=*/false);
    }
  };
  auto player = [sh, await](bool first) {
    SharedEvent& mine = first ? sh->ping_event : sh->pong_event;
    SharedEvent& theirs = first ? sh->pong_event : sh->ping_event;
    std::atomic<uint64_t>& my_count = first ? sh->pings : sh->pongs;
    std::atomic<uint64_t>& their_count = first ? sh->pongs : sh->pings;
    for (uint64_t i = 1; i <= kRounds; ++i) {
      if (!first) await(mine, their_count, i);
      my_count.fetch_add(1);  // the seq_cst read-modify-write SignalIfArmed relies on
      theirs.SignalIfArmed();
      if (first) await(mine, their_count, i);
    }
    return 0;
  };
  const pid_t noise = ForkChild([sh] {
    while (sh->stop.load() == 0) {
      sh->ping_event.Signal();
      sh->pong_event.Signal();
    }
    return 0;
  });
  ASSERT_GT(noise, 0);
  const pid_t a = ForkChild([&] { return player(true); });
  const pid_t b = ForkChild([&] { return player(false); });
  ASSERT_GT(a, 0);
  ASSERT_GT(b, 0);
  absl::StatusOr<int> a_code = WaitChild(a, absl::Seconds(20));
  absl::StatusOr<int> b_code = WaitChild(b, absl::Seconds(20));
  sh->stop.store(1);
  ASSERT_NO_FATAL_FAILURE(ExpectExitCode(noise, 0));
  if (!a_code.ok()) KillAndReap(a);
  if (!b_code.ok()) KillAndReap(b);
  EXPECT_TRUE(a_code.ok() && b_code.ok())
      << "a wake-up was lost: the turns stopped at " << sh->pings.load() << "/" << sh->pongs.load();
  EXPECT_EQ(sh->pongs.load(), kRounds);
  munmap(p, sizeof(Shared));
}

}  // namespace
}  // namespace internal
}  // namespace channel
