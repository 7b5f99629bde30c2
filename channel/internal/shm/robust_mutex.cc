#include "channel/internal/shm/robust_mutex.h"

#include <pthread.h>
#include <unistd.h>

#include <algorithm>

#include "channel/internal/shm/futex.h"
#include "channel/internal/shm/liveness.h"

namespace channel {
namespace internal {
namespace {

constexpr int kSpins = 100;  // a few microseconds at most
// A waiter checks whether the holder still lives once it has waited kProbeAfterNs for it, then
// every kWaitSliceNs. Critical sections last microseconds: only a dead, stopped or descheduled
// holder is ever probed, and a probe (a read of /proc) costs a few microseconds.
constexpr int64_t kProbeAfterNs = 1000 * 1000;
constexpr int64_t kWaitSliceNs = 10 * 1000 * 1000;

inline void CpuRelax() {
#if defined(__x86_64__) || defined(__i386__)
  __builtin_ia32_pause();
#endif
}

// This process's name (RobustMutex::SelfName), computed once; a fork()ed child forgets its
// parent's before it can lock anything.
std::atomic<uint64_t> self_name{0};

void ForgetSelfName() { self_name.store(0, std::memory_order_relaxed); }

bool HolderAlive(uint64_t name) {
  return ProcessAlive(static_cast<pid_t>(name & RobustMutex::kPidMask), name >> 32, 0xffffffff);
}

}  // namespace

uint64_t RobustMutex::SelfName() {
  uint64_t name = self_name.load(std::memory_order_relaxed);
  if (name != 0) return name;
  static const bool forget_in_children = pthread_atfork(nullptr, nullptr, ForgetSelfName) == 0;
  (void)forget_in_children;
  const pid_t pid = getpid();
  name = (ProcessStartTime(pid) & 0xffffffff) << 32 | static_cast<uint64_t>(pid);
  self_name.store(name, std::memory_order_relaxed);
  return name;
}

absl::StatusOr<RobustMutex::Acquired> RobustMutex::Lock(const Deadline& deadline) {
  const uint64_t self = SelfName();
  uint64_t seen = 0;
  if (word_.compare_exchange_strong(seen, self, std::memory_order_acquire,
                                    std::memory_order_relaxed)) {
    return Acquired::kClean;
  }
  for (int i = 0; i < kSpins; ++i) {
    CpuRelax();
    seen = word_.load(std::memory_order_relaxed);
    if (seen == 0 && word_.compare_exchange_weak(seen, self, std::memory_order_acquire,
                                                 std::memory_order_relaxed)) {
      return Acquired::kClean;
    }
  }
  // Sleep on the word, marked contended so that Unlock wakes one sleeper. A thread that slept
  // takes the lock marked contended too: others may still sleep, and its Unlock passes the
  // wake-up on. A woken waiter killed before it takes the lock takes its wake-up with it; the
  // remaining sleepers then wake at their next probe time, so no wait on a free lock is longer
  // than kWaitSliceNs.
  uint64_t holder = 0;  // whom we are waiting for (the word without kContended)
  int64_t probe_at = 0;
  bool probed = false;
  for (;;) {
    seen = word_.load(std::memory_order_relaxed);
    if (seen == 0) {
      if (word_.compare_exchange_weak(seen, self | kContended, std::memory_order_acquire,
                                      std::memory_order_relaxed)) {
        return Acquired::kClean;
      }
      continue;
    }
    const uint64_t name = seen & ~kContended;
    const int64_t now = MonotonicNanos();
    if (name != holder) {
      holder = name;
      probe_at = now + kProbeAfterNs;
      probed = false;
    }
    const bool expired = deadline.expired();
    if (now >= probe_at || (expired && !probed)) {
      probed = true;
      probe_at = now + kWaitSliceNs;
      if (name != self && !HolderAlive(name)) {
        // Take it over marked contended: whoever else waited for the dead holder may be asleep.
        if (word_.compare_exchange_strong(seen, self | kContended, std::memory_order_acquire,
                                          std::memory_order_relaxed)) {
          return Acquired::kOwnerDied;
        }
        continue;
      }
    }
    if (expired) return absl::DeadlineExceededError("timed out waiting for a queue lock");
    if ((seen & kContended) == 0) {
      if (!word_.compare_exchange_weak(seen, seen | kContended, std::memory_order_relaxed)) {
        continue;
      }
      seen |= kContended;
    }
    FutexWaitLow32(&word_, static_cast<uint32_t>(seen),
                   std::min(deadline.RemainingNanos(), probe_at - now));
  }
}

absl::StatusOr<RobustMutex::Acquired> RobustMutex::TryLock() {
  uint64_t seen = 0;
  if (word_.compare_exchange_strong(seen, SelfName(), std::memory_order_acquire,
                                    std::memory_order_relaxed)) {
    return Acquired::kClean;
  }
  return absl::UnavailableError("queue lock is held");
}

void RobustMutex::Unlock() {
  if ((word_.exchange(0, std::memory_order_release) & kContended) != 0) {
    FutexWakeOneLow32(&word_);
  }
}

}  // namespace internal
}  // namespace channel
