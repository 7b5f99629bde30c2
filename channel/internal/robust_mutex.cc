#include "channel/internal/robust_mutex.h"

#include <errno.h>
#include <string.h>

#include "absl/strings/str_cat.h"

#if defined(__SANITIZE_THREAD__)
#include <sanitizer/tsan_interface.h>
#endif

namespace channel {
namespace internal {
namespace {

constexpr int kSpins = 100;  // a few microseconds at most
// The longest single sleep in Lock (see there). Critical sections last microseconds, so only a
// lost wake-up or a stopped holder ever makes a waiter wake up for nothing.
constexpr absl::Duration kWaitSlice = absl::Milliseconds(10);

inline void CpuRelax() {
#if defined(__x86_64__) || defined(__i386__)
  __builtin_ia32_pause();
#endif
}

}  // namespace

absl::Status RobustMutex::Init() {
  pthread_mutexattr_t attr;
  pthread_mutexattr_init(&attr);
  pthread_mutexattr_setpshared(&attr, PTHREAD_PROCESS_SHARED);
  pthread_mutexattr_setrobust(&attr, PTHREAD_MUTEX_ROBUST);
  const int rc = pthread_mutex_init(&mu_, &attr);
  pthread_mutexattr_destroy(&attr);
  if (rc != 0) return absl::InternalError(absl::StrCat("pthread_mutex_init: ", strerror(rc)));
  return absl::OkStatus();
}

absl::StatusOr<RobustMutex::Acquired> RobustMutex::Interpret(int rc) {
  switch (rc) {
    case 0:
      return Acquired::kClean;
    case EOWNERDEAD:
      return Acquired::kOwnerDied;
    case ETIMEDOUT:
      return absl::DeadlineExceededError("timed out waiting for a queue lock");
    case EBUSY:
      return absl::UnavailableError("queue lock is held");
    case ENOTRECOVERABLE:
      // Only reachable if a repair path unlocked without MarkConsistent: a bug, not a user error.
      return absl::InternalError("queue lock is not recoverable (a holder died mid-repair)");
    default:
      return absl::InternalError(absl::StrCat("pthread mutex lock: ", strerror(rc)));
  }
}

absl::StatusOr<RobustMutex::Acquired> RobustMutex::Lock(const Deadline& deadline) {
  // glibc never spins on robust mutexes, but every critical section here is a few hundred
  // nanoseconds: a short spin avoids most futex sleeps and context switches under contention.
  for (int i = 0; i < kSpins; ++i) {
    const int rc = pthread_mutex_trylock(&mu_);
    if (rc == 0) return Acquired::kClean;  // the common case, without Interpret's call
    if (rc != EBUSY) return Interpret(rc);
    CpuRelax();
  }
  // Never one unbounded sleep. A waiter that the unlocker woke and that is killed before it
  // takes the lock dies with the wake-up; if another process took the free lock meanwhile on
  // the fast path (which clears FUTEX_WAITERS), nobody wakes the remaining sleepers, ever —
  // the kernel's robust-list cleanup only covers a dead waiter when the lock word is 0. Such
  // a sleeper would stay blocked on a free lock; waking up every kWaitSlice bounds that.
  for (;;) {
    const int rc = TimedLock(deadline.Earliest(Deadline::After(kWaitSlice)));
    if (rc != ETIMEDOUT || deadline.expired()) return Interpret(rc);
  }
}

int RobustMutex::TimedLock(const Deadline& deadline) {
#if defined(__SANITIZE_THREAD__)
  // ThreadSanitizer does not intercept pthread_mutex_clocklock and would then report every
  // unlock as unbalanced; under TSan, wait against CLOCK_REALTIME instead (a clock jump can
  // stretch or shorten the wait, which only matters in production, where clocklock is used).
  timespec now;
  clock_gettime(CLOCK_REALTIME, &now);
  const int64_t at = int64_t{now.tv_sec} * 1000000000 + now.tv_nsec + deadline.RemainingNanos();
  const timespec abs{static_cast<time_t>(at / 1000000000), static_cast<long>(at % 1000000000)};
  const int rc = pthread_mutex_timedlock(&mu_, &abs);
  // TSan's timedlock interceptor records only rc == 0 as an acquisition; report this one.
  if (rc == EOWNERDEAD) {
    __tsan_mutex_pre_lock(&mu_, 0);
    __tsan_mutex_post_lock(&mu_, 0, 0);
  }
  return rc;
#else
  const timespec abs = deadline.AbsTimespec();
  return pthread_mutex_clocklock(&mu_, CLOCK_MONOTONIC, &abs);
#endif
}

absl::StatusOr<RobustMutex::Acquired> RobustMutex::TryLock() {
  return Interpret(pthread_mutex_trylock(&mu_));
}

void RobustMutex::Unlock() { pthread_mutex_unlock(&mu_); }

void RobustMutex::MarkConsistent() { pthread_mutex_consistent(&mu_); }

}  // namespace internal
}  // namespace channel
