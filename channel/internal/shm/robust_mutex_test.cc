// Unit tests of RobustMutex / RobustLock (robust_mutex.h) across real processes: a holder that
// is SIGKILLed or exits inside its critical section (reaped or still a zombie), a repairer killed
// in its repair, forged holders (a recycled pid, no process at all), timed locks against a live
// holder, TryLock, and contention between threads of several processes.
#include "channel/internal/shm/robust_mutex.h"

#include <signal.h>
#include <sys/mman.h>
#include <unistd.h>

#include <atomic>
#include <thread>
#include <vector>

#include <gtest/gtest.h>

#include "channel/internal/testing/test_util.h"

namespace channel {
namespace internal {
namespace {

using ::channel::testing::ExpectExitCode;
using ::channel::testing::ForkChild;
using ::channel::testing::KillAndReap;
using ::channel::testing::ReadValue;
using ::channel::testing::TestPipe;
using ::channel::testing::WaitChild;
using ::channel::testing::WriteValue;

// A RobustMutex plus a counter it protects, in anonymous shared memory (inherited by fork).
struct Shared {
  RobustMutex mu;
  int64_t counter;
  int64_t half_done;  // set while a critical section is in progress
};

class RobustMutexTest : public ::testing::Test {
 protected:
  void SetUp() override {
    void* p = mmap(nullptr, sizeof(Shared), PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS,
                   -1, 0);
    ASSERT_NE(p, MAP_FAILED);
    s_ = static_cast<Shared*>(p);  // zeroed by mmap: an unlocked mutex
  }
  void TearDown() override { munmap(s_, sizeof(Shared)); }

  // Forks a child (*holder) that locks the mutex, marks a half-done critical section and
  // reports it; returns once it has. The child then waits for `release` (a byte: unlock and
  // exit 0) or its end (EOF: exit holding the lock) — or is killed.
  void StartHolder(TestPipe& release, pid_t* holder) {
    TestPipe ready;
    Shared* s = s_;
    const int ready_w = ready.w;
    const int release_r = release.r;
    const int release_w = release.w;
    *holder = ForkChild([=] {
      close(release_w);  // so that the parent closing its end is an EOF here
      absl::StatusOr<RobustMutex::Acquired> r = s->mu.Lock(Deadline::Never());
      if (!r.ok()) return 2;
      s->half_done = 1;
      WriteValue(ready_w, char{'L'});
      char c;
      if (ReadValue(release_r, &c, absl::Seconds(60))) {
        s->half_done = 0;
        s->mu.Unlock();
        return 0;
      }
      return 5;  // exit still holding the lock
    });
    ASSERT_GT(*holder, 0);
    char c;
    ASSERT_TRUE(ReadValue(ready.r, &c, absl::Seconds(30)));
  }

  // Forks a child (*waiter) that blocks in Lock (no deadline), releases the mutex once it has it,
  // and reports through `result` what it got: 'C' clean, 'D' owner died, 'E' an error.
  void StartWaiter(TestPipe& result, pid_t* waiter) {
    Shared* s = s_;
    const int result_w = result.w;
    *waiter = ForkChild([=] {
      absl::StatusOr<RobustMutex::Acquired> r = s->mu.Lock(Deadline::Never());
      const char code = !r.ok() ? 'E' : *r == RobustMutex::Acquired::kOwnerDied ? 'D' : 'C';
      if (r.ok()) s->mu.Unlock();
      WriteValue(result_w, code);
      return 0;
    });
    ASSERT_GT(*waiter, 0);
  }

  // Expects `r`, the result of locking the mutex, to have found it clean; then unlocks it.
  void ExpectClean(absl::StatusOr<RobustMutex::Acquired> r) {
    ASSERT_TRUE(r.ok()) << r.status();
    EXPECT_EQ(*r, RobustMutex::Acquired::kClean);
    s_->mu.Unlock();
  }

  std::atomic<uint64_t>* Word() { return reinterpret_cast<std::atomic<uint64_t>*>(&s_->mu); }

  Shared* s_ = nullptr;
};

TEST_F(RobustMutexTest, UncontendedLockIsClean) {
  ASSERT_NO_FATAL_FAILURE(ExpectClean(s_->mu.Lock(Deadline::Never())));
  ASSERT_NO_FATAL_FAILURE(ExpectClean(s_->mu.TryLock()));
  absl::StatusOr<RobustMutex::Acquired> r = s_->mu.Lock(Deadline::After(absl::ZeroDuration()));
  ASSERT_TRUE(r.ok()) << "a free mutex is locked even with an expired deadline: " << r.status();
  s_->mu.Unlock();
}

void HolderDiesThenRepairRunsOnce(Shared* s, pid_t holder, bool sigkill) {
  if (sigkill) {
    ASSERT_EQ(kill(holder, SIGKILL), 0);
    ASSERT_NO_FATAL_FAILURE(ExpectExitCode(holder, -SIGKILL));
  }
  int repairs = 0;
  {
    RobustLock lock;
    absl::Status st = lock.Acquire(&s->mu, Deadline::After(absl::Seconds(30)), [&] {
      ++repairs;
      EXPECT_EQ(s->half_done, 1) << "repair sees the dead holder's half-done state";
      s->half_done = 0;
    });
    ASSERT_TRUE(st.ok()) << st;
    EXPECT_EQ(repairs, 1);
    ++s->counter;
  }
  // Consistent again: later lockers do not repair, and the mutex works normally.
  for (int i = 0; i < 3; ++i) {
    RobustLock lock;
    ASSERT_TRUE(lock.Acquire(&s->mu, Deadline::After(absl::Seconds(30)), [&] { ++repairs; }).ok());
    ++s->counter;
  }
  {
    RobustLock lock;
    ASSERT_TRUE(lock.TryAcquire(&s->mu, [&] { ++repairs; }).ok());
  }
  EXPECT_EQ(repairs, 1);
  EXPECT_EQ(s->counter, 4);
  EXPECT_EQ(s->half_done, 0);
}

TEST_F(RobustMutexTest, HolderSigkilledRepairRunsExactlyOnce) {
  TestPipe release;
  pid_t holder;
  ASSERT_NO_FATAL_FAILURE(StartHolder(release, &holder));
  HolderDiesThenRepairRunsOnce(s_, holder, /*sigkill=*/true);
}

TEST_F(RobustMutexTest, HolderExitsHoldingRepairRunsExactlyOnce) {
  TestPipe release;
  pid_t holder;
  ASSERT_NO_FATAL_FAILURE(StartHolder(release, &holder));
  release.CloseWrite();  // EOF: the holder _exit()s still holding the lock
  ASSERT_NO_FATAL_FAILURE(ExpectExitCode(holder, 5));
  HolderDiesThenRepairRunsOnce(s_, holder, /*sigkill=*/false);
}

TEST_F(RobustMutexTest, WaiterBlockedOnTheLockIsWokenByTheDeath) {
  TestPipe release;
  pid_t holder;
  ASSERT_NO_FATAL_FAILURE(StartHolder(release, &holder));
  TestPipe result;
  pid_t waiter;
  ASSERT_NO_FATAL_FAILURE(StartWaiter(result, &waiter));
  ASSERT_EQ(kill(holder, SIGKILL), 0);
  ASSERT_TRUE(WaitChild(holder, absl::Seconds(30)).ok());
  char got = 0;
  ASSERT_TRUE(ReadValue(result.r, &got, absl::Seconds(30))) << "the waiter was not woken";
  EXPECT_EQ(got, 'D');
  ASSERT_NO_FATAL_FAILURE(ExpectExitCode(waiter, 0));
  ASSERT_NO_FATAL_FAILURE(ExpectClean(s_->mu.TryLock()));
}

TEST_F(RobustMutexTest, SleeperWhoseWakeUpWasLostStillTakesTheFreeLock) {
  // The state a killed waiter can leave behind (see RobustMutex::Lock): the lock word is 0,
  // nobody holds the lock, and a waiter sleeps in the kernel with no wake-up coming. The
  // test makes that state directly: a live holder, a waiter asleep on it, then the word is
  // cleared the way an unlock does, minus the futex wake.
  TestPipe release;
  pid_t holder;
  ASSERT_NO_FATAL_FAILURE(StartHolder(release, &holder));
  TestPipe result;
  pid_t waiter;
  ASSERT_NO_FATAL_FAILURE(StartWaiter(result, &waiter));
  auto* word = Word();
  const Deadline asleep = Deadline::After(absl::Seconds(30));
  auto asleep_on_lock = [&] {
    return (word->load() & RobustMutex::kContended) != 0 &&
           ::channel::testing::ProcessState(waiter) == 'S';
  };
  while (!asleep_on_lock()) {
    ASSERT_FALSE(asleep.expired()) << "the waiter never went to sleep on the lock";
    sched_yield();
  }
  word->store(0);  // released, and the wake-up lost
  char got = 0;
  ASSERT_TRUE(ReadValue(result.r, &got, absl::Seconds(30))) << "the waiter sleeps on a free lock";
  EXPECT_EQ(got, 'C');
  ASSERT_NO_FATAL_FAILURE(ExpectExitCode(waiter, 0));
  KillAndReap(holder);  // it still believes it holds the lock; its death changes nothing now
}

TEST_F(RobustMutexTest, TimedLockAndTryLockAgainstALiveHolder) {
  TestPipe release;
  pid_t holder;
  ASSERT_NO_FATAL_FAILURE(StartHolder(release, &holder));

  const absl::Time start = absl::Now();
  absl::StatusOr<RobustMutex::Acquired> r =
      s_->mu.Lock(Deadline::After(absl::Milliseconds(200)));
  const absl::Duration waited = absl::Now() - start;
  EXPECT_EQ(r.status().code(), absl::StatusCode::kDeadlineExceeded) << r.status();
  EXPECT_GE(waited, absl::Milliseconds(190));

  // A zero / negative deadline does not block.
  r = s_->mu.Lock(Deadline::After(-absl::Seconds(1)));
  EXPECT_EQ(r.status().code(), absl::StatusCode::kDeadlineExceeded) << r.status();

  r = s_->mu.TryLock();
  EXPECT_EQ(r.status().code(), absl::StatusCode::kUnavailable) << r.status();

  int repairs = 0;
  {
    RobustLock lock;
    EXPECT_EQ(lock.TryAcquire(&s_->mu, [&] { ++repairs; }).code(),
              absl::StatusCode::kUnavailable);
    EXPECT_EQ(lock.Acquire(&s_->mu, Deadline::After(absl::Milliseconds(50)), [&] { ++repairs; })
                  .code(),
              absl::StatusCode::kDeadlineExceeded);
  }  // a RobustLock that failed to acquire must not unlock someone else's mutex
  r = s_->mu.TryLock();
  EXPECT_EQ(r.status().code(), absl::StatusCode::kUnavailable) << "still held by the child";

  // The holder releases cleanly: the mutex is clean for the next locker.
  ASSERT_TRUE(WriteValue(release.w, char{'u'}));
  ASSERT_NO_FATAL_FAILURE(ExpectExitCode(holder, 0));
  ASSERT_NO_FATAL_FAILURE(ExpectClean(s_->mu.Lock(Deadline::After(absl::Seconds(30)))));
  EXPECT_EQ(repairs, 0);
}

TEST_F(RobustMutexTest, TryLockNeverTakesOverLockDoesEvenWithAnExpiredDeadline) {
  TestPipe release;
  pid_t holder;
  ASSERT_NO_FATAL_FAILURE(StartHolder(release, &holder));
  KillAndReap(holder);
  absl::StatusOr<RobustMutex::Acquired> r = s_->mu.TryLock();
  EXPECT_EQ(r.status().code(), absl::StatusCode::kUnavailable) << r.status();
  r = s_->mu.Lock(Deadline::After(absl::ZeroDuration()));
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(*r, RobustMutex::Acquired::kOwnerDied);
  s_->mu.Unlock();
  ASSERT_NO_FATAL_FAILURE(ExpectClean(s_->mu.Lock(Deadline::Never())));
}

TEST_F(RobustMutexTest, HolderKilledButNotYetReapedIsDead) {
  // A killed child stays a zombie until its parent waits for it; its lock must not wait for that.
  TestPipe release;
  pid_t holder;
  ASSERT_NO_FATAL_FAILURE(StartHolder(release, &holder));
  ASSERT_EQ(kill(holder, SIGKILL), 0);
  const Deadline gone = Deadline::After(absl::Seconds(30));
  while (::channel::testing::ProcessState(holder) != 'Z') {
    ASSERT_FALSE(gone.expired()) << "the holder never became a zombie";
    sched_yield();
  }
  absl::StatusOr<RobustMutex::Acquired> r = s_->mu.Lock(Deadline::After(absl::Seconds(30)));
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(*r, RobustMutex::Acquired::kOwnerDied);
  s_->mu.Unlock();
  ASSERT_NO_FATAL_FAILURE(ExpectExitCode(holder, -SIGKILL));
}

TEST_F(RobustMutexTest, RepairerKilledInItsRepairLeavesTheRepairToTheNext) {
  TestPipe release;
  pid_t holder;
  ASSERT_NO_FATAL_FAILURE(StartHolder(release, &holder));
  KillAndReap(holder);
  TestPipe repairing;
  Shared* s = s_;
  const int repairing_w = repairing.w;
  const pid_t repairer = ForkChild([=] {
    absl::StatusOr<RobustMutex::Acquired> r = s->mu.Lock(Deadline::After(absl::Seconds(30)));
    if (!r.ok() || *r != RobustMutex::Acquired::kOwnerDied) return 2;
    WriteValue(repairing_w, char{'R'});
    pause();  // killed here, mid-repair
    return 0;
  });
  ASSERT_GT(repairer, 0);
  char c;
  ASSERT_TRUE(ReadValue(repairing.r, &c, absl::Seconds(30)));
  KillAndReap(repairer);
  absl::StatusOr<RobustMutex::Acquired> r = s_->mu.Lock(Deadline::After(absl::Seconds(30)));
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(*r, RobustMutex::Acquired::kOwnerDied);
  s_->mu.Unlock();
  ASSERT_NO_FATAL_FAILURE(ExpectClean(s_->mu.TryLock()));
}

TEST_F(RobustMutexTest, ForgedHoldersThatAreNotAliveAreTakenOver) {
  // A queue file's lock word is untrusted: a stale file names a process that is gone, and a pid
  // may since name another process (same pid, another start time).
  const uint64_t self = RobustMutex::SelfName();
  const uint64_t forged[] = {
      RobustMutex::kPidMask,                               // a pid no process can have
      self ^ (uint64_t{1} << 32),                          // our pid, born at another time
      RobustMutex::kContended | (uint64_t{0xabcd} << 32),  // pid 0
  };
  for (uint64_t word : forged) {
    Word()->store(word);
    absl::StatusOr<RobustMutex::Acquired> r = s_->mu.Lock(Deadline::After(absl::Seconds(30)));
    ASSERT_TRUE(r.ok()) << r.status();
    EXPECT_EQ(*r, RobustMutex::Acquired::kOwnerDied) << std::hex << word;
    s_->mu.Unlock();
  }
  // A holder that is alive (this process, named correctly) is waited for, not taken over.
  Word()->store(self);
  absl::StatusOr<RobustMutex::Acquired> r = s_->mu.Lock(Deadline::After(absl::Milliseconds(30)));
  EXPECT_EQ(r.status().code(), absl::StatusCode::kDeadlineExceeded) << r.status();
  Word()->store(0);
}

TEST_F(RobustMutexTest, ThreadsOfSeveralProcessesCountExactly) {
  // Contention through every path (spin, sleep, wake-up): 2 processes x 3 threads increment a
  // plain counter under the lock.
  constexpr int kThreads = 3;
  constexpr int kIncrements = 20000;
  Shared* s = s_;
  auto hammer = [s] {
    std::vector<std::thread> threads;
    for (int t = 0; t < kThreads; ++t) {
      threads.emplace_back([s] {
        for (int i = 0; i < kIncrements; ++i) {
          if (!s->mu.Lock(Deadline::After(absl::Seconds(60))).ok()) return;
          ++s->counter;
          s->mu.Unlock();
        }
      });
    }
    for (std::thread& t : threads) t.join();
  };
  const pid_t child = ForkChild([&] {
    hammer();
    return 0;
  });
  ASSERT_GT(child, 0);
  hammer();
  ASSERT_NO_FATAL_FAILURE(ExpectExitCode(child, 0));
  EXPECT_EQ(s_->counter, 2 * kThreads * kIncrements);
  ASSERT_NO_FATAL_FAILURE(ExpectClean(s_->mu.TryLock()));
}

TEST_F(RobustMutexTest, ManyProcessesManyDeaths) {
  // Each round: a child takes the lock, bumps the counter in two halves and is killed either
  // between them (then the repair completes its work) or after it unlocked. The counter always
  // ends consistent, and every owner-died lock is repaired exactly once.
  constexpr int kRounds = 20;
  int repairs = 0;
  int deaths_inside = 0;
  for (int round = 0; round < kRounds; ++round) {
    TestPipe ready;
    Shared* s = s_;
    const int ready_w = ready.w;
    const bool die_inside = round % 2 == 0;
    const pid_t child = ForkChild([=] {
      if (!s->mu.Lock(Deadline::Never()).ok()) return 2;
      s->half_done = 1;
      ++s->counter;
      if (!die_inside) {
        ++s->counter;
        s->half_done = 0;
        s->mu.Unlock();
      }
      WriteValue(ready_w, char{'x'});
      pause();
      return 0;
    });
    ASSERT_GT(child, 0);
    char c;
    ASSERT_TRUE(ReadValue(ready.r, &c, absl::Seconds(30)));
    KillAndReap(child);
    deaths_inside += die_inside;
    RobustLock lock;
    ASSERT_TRUE(lock.Acquire(&s_->mu, Deadline::After(absl::Seconds(30)), [&] {
                      ++repairs;
                      if (s_->half_done) {
                        ++s_->counter;  // roll the dead holder's work forward
                        s_->half_done = 0;
                      }
                    }).ok());
    EXPECT_EQ(s_->counter % 2, 0);
  }
  EXPECT_EQ(repairs, deaths_inside);
  EXPECT_EQ(s_->counter, 2 * kRounds);
}

}  // namespace
}  // namespace internal
}  // namespace channel
