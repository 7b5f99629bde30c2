// Futex seam: the only place that talks to futex(2).
//
// Waits are on 32-bit words in shared memory mapped by several processes, so these use the
// non-private futex operations. A waiter keeps no state in the word itself: a process killed
// while waiting leaves nothing behind, which is why the queue uses bare futexes rather than
// process-shared condition variables (glibc's can be left wedged by a dead waiter).
#ifndef CHANNEL_INTERNAL_SHM_FUTEX_H_
#define CHANNEL_INTERNAL_SHM_FUTEX_H_

#include <atomic>
#include <cstdint>

namespace channel {
namespace internal {

// Sleeps while *word == expected, for at most timeout_ns (negative: no limit). Returns on wake,
// on timeout, on a signal, or at once if *word != expected; callers always re-check their
// condition.
void FutexWait(std::atomic<uint32_t>* word, uint32_t expected, int64_t timeout_ns);

// Wakes every waiter on the word.
void FutexWakeAll(std::atomic<uint32_t>* word);

// FutexWait and a wake-up of one waiter, on the low 32 bits of a 64-bit word (RobustMutex keeps
// its owner's identity in the word's upper half and the state a waiter sleeps on in the lower).
void FutexWaitLow32(std::atomic<uint64_t>* word, uint32_t expected, int64_t timeout_ns);
void FutexWakeOneLow32(std::atomic<uint64_t>* word);

// An event counter in shared memory. A waiter snapshots the counter, checks its condition, and
// sleeps only if the counter has not moved since the snapshot; Signal() bumps the counter after
// the condition changed. `armed` says someone may be asleep: a waiter raises it just before
// sleeping and the first Signal() after that lowers it, bumps the counter once more and issues
// the one wake-up syscall, so a signal nobody sleeps through costs two atomic operations.
//
// Why no wake-up is lost (all operations seq_cst): if Signal's increment comes before the
// waiter raises `armed`, it also comes after the waiter's snapshot only if the condition changed
// after the waiter checked it, and then the kernel sees seq != snapshot and does not sleep; if it
// comes after, Signal sees `armed` and wakes every sleeper.
//
// A busy signaller can skip even the increment (SignalIfArmed) when its waiters follow a longer
// protocol: snapshot, check, Arm(), check again, Wait(). Either the second check sees the change,
// or the signaller sees `armed` raised; and whoever lowered it since bumped the counter after
// lowering it, hence after the waiter's snapshot.
struct SharedEvent {
  std::atomic<uint32_t> seq{0};
  std::atomic<uint32_t> armed{0};
  std::atomic<uint32_t> signal_cpu{0};  // 1 + the CPU of the last Signal(), 0 before any
  // Until when (MonotonicNanos) a waiter is spinning: one spinner at a time is enough to catch
  // the next signal quickly, and more would only take CPU from the signallers. A spinner that
  // dies leaves a time that passes, not a count that stays wrong.
  std::atomic<int64_t> spinning_until{0};

  void Signal();
  // Signal() only if a waiter is armed: then the event's cache line is only read. The caller must
  // have changed the condition before a seq_cst read-modify-write (a lock's release), and every
  // waiter must check again after Arm(). On x86 that read-modify-write is a locked instruction, a
  // full barrier, so no fence is needed here (one measured 6% of a 4-to-4 queue's throughput).
  void SignalIfArmed() {
#if defined(__x86_64__) || defined(__i386__)
    std::atomic_signal_fence(std::memory_order_seq_cst);
#else
    std::atomic_thread_fence(std::memory_order_seq_cst);
#endif
    if (armed.load(std::memory_order_seq_cst) != 0) Signal();
  }
  // For waiters on events signalled by SignalIfArmed: raise `armed`, then check the condition
  // once more before Wait().
  void Arm() {
    armed.store(1, std::memory_order_seq_cst);
    std::atomic_thread_fence(std::memory_order_seq_cst);
  }
  uint32_t Snapshot() const { return seq.load(std::memory_order_seq_cst); }
  // Returns once Signal() was called since `snapshot` was taken, or timeout_ns (>= 0) passed,
  // or spuriously. If `may_spin`, no other waiter is spinning and the last signal did not come
  // from the caller's CPU, it first watches the counter for 20 us without sleeping
  // (TYPED_CHANNEL_SPIN_US overrides that; 0 turns it off): the other side of a busy queue usually
  // signals within that time, and then neither side pays for a futex wake-up and a context switch.
  // On a saturated machine the spin can cost more than it saves.
  void Wait(uint32_t snapshot, int64_t timeout_ns, bool may_spin);
};

// How many times the calling thread has called SharedEvent::Wait: a thread that waited between
// two of its Puts is exchanging messages (request/response), not streaming them (feeder.cc).
uint64_t WaitsInThisThread();

}  // namespace internal
}  // namespace channel

#endif  // CHANNEL_INTERNAL_SHM_FUTEX_H_
