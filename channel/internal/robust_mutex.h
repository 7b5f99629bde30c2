// RobustMutex: a process-shared pthread mutex that survives its holder being killed.
//
// The kernel walks a dying thread's robust list and marks the mutexes it held; the next locker
// is told so (Acquired::kOwnerDied) and must repair the state the mutex protects before the
// guard marks it consistent again. Every lock in a queue's shared memory is one of these, and
// every critical section is written so that its state can be repaired from a journal
// (see accounts.h and pipe_reader.h): that is what makes "no deadlock, no torn state after a
// SIGKILL" true.
//
// The object lives in shared memory: construct it with Init() on zeroed memory exactly once,
// by the process that creates the queue, never by placement-new in an attaching process.
#ifndef CHANNEL_INTERNAL_ROBUST_MUTEX_H_
#define CHANNEL_INTERNAL_ROBUST_MUTEX_H_

#include <pthread.h>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "channel/internal/deadline.h"

namespace channel {
namespace internal {

class RobustMutex {
 public:
  enum class Acquired { kClean, kOwnerDied };

  absl::Status Init();

  // Blocks until locked or the deadline passes (kDeadlineExceeded). kOwnerDied: the previous
  // holder died inside its critical section; repair, then the guard marks the mutex consistent.
  absl::StatusOr<Acquired> Lock(const Deadline& deadline);
  // Never blocks: kUnavailable when someone else holds it.
  absl::StatusOr<Acquired> TryLock();
  void Unlock();
  // After repairing a kOwnerDied state, before Unlock.
  void MarkConsistent();

 private:
  absl::StatusOr<Acquired> Interpret(int rc);
  // pthread_mutex_clocklock until `deadline`; returns its error code.
  int TimedLock(const Deadline& deadline);
  pthread_mutex_t mu_;
};

// Scoped holder. `repair` runs (still holding the lock) when the previous owner died.
class RobustLock {
 public:
  RobustLock() = default;
  RobustLock(const RobustLock&) = delete;
  RobustLock& operator=(const RobustLock&) = delete;
  ~RobustLock() { Release(); }

  template <typename Repair>
  absl::Status Acquire(RobustMutex* mu, const Deadline& deadline, Repair&& repair) {
    return Finish(mu, mu->Lock(deadline), repair);
  }
  template <typename Repair>
  absl::Status TryAcquire(RobustMutex* mu, Repair&& repair) {
    return Finish(mu, mu->TryLock(), repair);
  }
  void Release() {
    if (mu_ != nullptr) mu_->Unlock();
    mu_ = nullptr;
  }

 private:
  template <typename Repair>
  absl::Status Finish(RobustMutex* mu, absl::StatusOr<RobustMutex::Acquired> r, Repair& repair) {
    if (!r.ok()) return r.status();
    mu_ = mu;
    if (*r == RobustMutex::Acquired::kOwnerDied) {
      repair();
      mu->MarkConsistent();
    }
    return absl::OkStatus();
  }
  RobustMutex* mu_ = nullptr;
};

}  // namespace internal
}  // namespace channel

#endif  // CHANNEL_INTERNAL_ROBUST_MUTEX_H_
