// RobustMutex: a lock in shared memory that survives its holder's process being killed.
//
// The lock word names its holder: the holding process's pid and the low 32 bits of its kernel
// start time (so that a recycled pid is not taken for the holder). A waiter that has waited 1 ms
// for the same holder (then every 10 ms) checks whether that process still lives
// (liveness.h; a zombie counts as dead); if not, it takes the lock over with one CAS and
// is told so (Acquired::kOwnerDied), and must repair the state the lock protects before releasing
// it. A repairer killed in turn leaves its own dead name in the word, so the next locker repairs
// again: repairs must be idempotent. Every lock in a queue's shared memory is one of these, and
// every critical section is written so that its state can be repaired from a journal (see
// accounts.h and pipe_reader.h): that is what makes "no deadlock, no torn state after a SIGKILL"
// true.
//
// Why not a robust pthread mutex (what this was until layout version 5): glibc's robust lock and
// unlock walk the thread's robust list, ~90 instructions each, and it never spins, so a lock held
// for a few hundred nanoseconds sends its waiters to sleep; here an uncontended lock and unlock is
// one compare-and-swap and one exchange, and waiters spin first. And a queue file's lock word is
// untrusted: one naming a process that is gone (a stale file) is recovered here, where glibc waits
// for ever or asserts on a garbage mutex kind.
//
// Limits, by design: the unit of death is the process. A thread that exits holding the lock
// while its process lives is not detected (the library never does that). A child created by a
// raw clone(2) that bypasses fork()'s atfork handlers would lock under its parent's name. All
// processes must share a pid namespace and /proc, as for the process registry.
//
// Zero-filled memory is an unlocked mutex: a queue file is created zeroed, and an attaching
// process never initialises anything.
#ifndef CHANNEL_INTERNAL_SHM_ROBUST_MUTEX_H_
#define CHANNEL_INTERNAL_SHM_ROBUST_MUTEX_H_

#include <atomic>
#include <cstdint>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "channel/internal/core/deadline.h"

namespace channel {
namespace internal {

class RobustMutex {
 public:
  enum class Acquired { kClean, kOwnerDied };

  // Blocks until locked or the deadline passes (kDeadlineExceeded); a free lock is taken even
  // with an expired deadline. A lock whose holder is dead is taken over (kOwnerDied: repair,
  // then Unlock) whatever the deadline: the holder is checked at the latest before giving up.
  absl::StatusOr<Acquired> Lock(const Deadline& deadline);
  // Never blocks and never checks the holder: kUnavailable whenever the lock is held, even by a
  // dead process (only Lock recovers those), so it costs nothing on hot paths.
  absl::StatusOr<Acquired> TryLock();
  void Unlock();

  // The word's layout, for tests that need to forge a holder.
  static constexpr uint64_t kContended = uint64_t{1} << 31;  // someone may sleep on the word
  static constexpr uint64_t kPidMask = (uint64_t{1} << 30) - 1;  // Linux pids are < 2^22
  // How this process names itself in the word: pid | start time's low 32 bits << 32.
  static uint64_t SelfName();

 private:
  std::atomic<uint64_t> word_;  // 0: free
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
    if (*r == RobustMutex::Acquired::kOwnerDied) repair();
    return absl::OkStatus();
  }
  RobustMutex* mu_ = nullptr;
};

}  // namespace internal
}  // namespace channel

#endif  // CHANNEL_INTERNAL_SHM_ROBUST_MUTEX_H_
