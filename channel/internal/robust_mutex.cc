#include "channel/internal/robust_mutex.h"

#include <errno.h>
#include <string.h>

#include "absl/strings/str_cat.h"

namespace channel {
namespace internal {

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
  if (deadline.never()) return Interpret(pthread_mutex_lock(&mu_));
  const timespec abs = deadline.AbsTimespec();
  return Interpret(pthread_mutex_clocklock(&mu_, CLOCK_MONOTONIC, &abs));
}

absl::StatusOr<RobustMutex::Acquired> RobustMutex::TryLock() {
  return Interpret(pthread_mutex_trylock(&mu_));
}

void RobustMutex::Unlock() { pthread_mutex_unlock(&mu_); }

void RobustMutex::MarkConsistent() { pthread_mutex_consistent(&mu_); }

}  // namespace internal
}  // namespace channel
