// Futex seam: the only place that talks to futex(2).
//
// Waits are on 32-bit words in shared memory mapped by several processes, so these use the
// non-private futex operations. A waiter keeps no state in the word itself: a process killed
// while waiting leaves nothing behind, which is why the queue uses bare futexes rather than
// process-shared condition variables (glibc's can be left wedged by a dead waiter).
#ifndef CHANNEL_INTERNAL_FUTEX_H_
#define CHANNEL_INTERNAL_FUTEX_H_

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

// An event counter in shared memory: waiters register, re-check their condition, then sleep
// until the counter moves. Signal() bumps the counter and issues the wake syscall only when
// someone is registered, so the uncontended path costs two atomic operations.
struct SharedEvent {
  std::atomic<uint32_t> seq{0};
  std::atomic<uint32_t> waiters{0};

  void Signal() {
    seq.fetch_add(1, std::memory_order_seq_cst);
    if (waiters.load(std::memory_order_seq_cst) != 0) FutexWakeAll(&seq);
  }
};

// RAII registration on a SharedEvent. Usage:
//   EventWaiter w(&event);
//   for (;;) { uint32_t v = w.Snapshot(); if (condition()) break; w.Wait(v, slice_ns); }
class EventWaiter {
 public:
  explicit EventWaiter(SharedEvent* event) : event_(event) {
    event_->waiters.fetch_add(1, std::memory_order_seq_cst);
  }
  ~EventWaiter() { event_->waiters.fetch_sub(1, std::memory_order_seq_cst); }
  EventWaiter(const EventWaiter&) = delete;
  EventWaiter& operator=(const EventWaiter&) = delete;

  uint32_t Snapshot() const { return event_->seq.load(std::memory_order_seq_cst); }
  void Wait(uint32_t snapshot, int64_t timeout_ns) { FutexWait(&event_->seq, snapshot, timeout_ns); }

 private:
  SharedEvent* event_;
};

}  // namespace internal
}  // namespace channel

#endif  // CHANNEL_INTERNAL_FUTEX_H_
