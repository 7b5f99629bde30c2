#include "channel/internal/shm/futex.h"

#include <linux/futex.h>
#include <sched.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <climits>
#include <cstdlib>

#include "channel/internal/core/deadline.h"

namespace channel {
namespace internal {

namespace {

void Wait(uint32_t* word, uint32_t expected, int64_t timeout_ns) {
  timespec ts;
  timespec* tsp = nullptr;
  if (timeout_ns >= 0) {
    ts.tv_sec = timeout_ns / 1000000000;
    ts.tv_nsec = timeout_ns % 1000000000;
    tsp = &ts;
  }
  // EAGAIN (value changed), EINTR and ETIMEDOUT all mean "re-check"; nothing else can happen
  // for a valid aligned word.
  syscall(SYS_futex, word, FUTEX_WAIT, expected, tsp, nullptr, 0);
}

// The low half of a 64-bit word is the 32-bit word at its own address on a little-endian CPU.
static_assert(__BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__, "FutexWaitLow32 assumes little endian");
static_assert(sizeof(std::atomic<uint64_t>) == 8 && sizeof(std::atomic<uint32_t>) == 4);
uint32_t* Low32(std::atomic<uint64_t>* word) { return reinterpret_cast<uint32_t*>(word); }

}  // namespace

void FutexWait(std::atomic<uint32_t>* word, uint32_t expected, int64_t timeout_ns) {
  Wait(reinterpret_cast<uint32_t*>(word), expected, timeout_ns);
}

void FutexWaitLow32(std::atomic<uint64_t>* word, uint32_t expected, int64_t timeout_ns) {
  Wait(Low32(word), expected, timeout_ns);
}

void FutexWakeOneLow32(std::atomic<uint64_t>* word) {
  syscall(SYS_futex, Low32(word), FUTEX_WAKE, 1, nullptr, nullptr, 0);
}

void FutexWakeAll(std::atomic<uint32_t>* word) {
  syscall(SYS_futex, reinterpret_cast<uint32_t*>(word), FUTEX_WAKE, INT_MAX, nullptr, nullptr, 0);
}

namespace {

// How long a waiter watches the counter before it sleeps. The default covers a peer's critical
// section and system call on another core; TYPED_CHANNEL_SPIN_US (0 to 1000; 0 never spins)
// overrides it for the whole process.
constexpr int64_t kDefaultSpinNs = 20 * 1000;

int64_t ConfiguredSpinNs() {
  static const int64_t ns = [] {
    const char* env = getenv("TYPED_CHANNEL_SPIN_US");
    if (env == nullptr || *env == '\0') return kDefaultSpinNs;
    char* end = nullptr;
    const long us = strtol(env, &end, 10);
    if (*end != '\0' || us < 0) return kDefaultSpinNs;
    return int64_t{std::min(us, 1000L)} * 1000;
  }();
  return ns;
}

// Polls `word` until MonotonicNanos() reaches `until`; true as soon as it differs from `snapshot`.
bool SpinWhileEqual(const std::atomic<uint32_t>& word, uint32_t snapshot, int64_t until) {
  do {
    for (int i = 0; i < 16; ++i) {
      if (word.load(std::memory_order_seq_cst) != snapshot) return true;
#if defined(__x86_64__) || defined(__i386__)
      __builtin_ia32_pause();
#endif
    }
  } while (MonotonicNanos() < until);
  return false;
}

thread_local uint64_t waits_in_this_thread = 0;

}  // namespace

uint64_t WaitsInThisThread() { return waits_in_this_thread; }

void SharedEvent::Signal() {
  // A hint for waiters (see Wait); any value, even garbage from a queue file, is harmless.
  signal_cpu.store(static_cast<uint32_t>(sched_getcpu() + 1), std::memory_order_relaxed);
  seq.fetch_add(1, std::memory_order_seq_cst);
  if (armed.load(std::memory_order_seq_cst) != 0 &&
      armed.exchange(0, std::memory_order_seq_cst) != 0) {
    // Again, now after the lowering: a waiter whose `armed` this lowered (it may have armed
    // after the increment above, and then SignalIfArmed callers no longer see it) has its
    // snapshot invalidated all the same.
    seq.fetch_add(1, std::memory_order_seq_cst);
    FutexWakeAll(&seq);
  }
}

void SharedEvent::Wait(uint32_t snapshot, int64_t timeout_ns, bool may_spin) {
  ++waits_in_this_thread;
  // Spinning only pays when the signaller can run meanwhile. If the last signal came from this
  // CPU, the next one probably needs this CPU too (one core, both sides pinned to it, or the
  // scheduler keeps them together): spinning would only delay it, so sleep at once.
  const uint32_t last_cpu = signal_cpu.load(std::memory_order_relaxed);
  const bool same_cpu = last_cpu == static_cast<uint32_t>(sched_getcpu() + 1);
  const int64_t spin = same_cpu || !may_spin ? 0 : ConfiguredSpinNs();
  const int64_t spin_ns = timeout_ns >= 0 ? std::min(spin, timeout_ns) : spin;
  if (spin_ns > 0) {
    const int64_t now = MonotonicNanos();
    int64_t until = spinning_until.load(std::memory_order_relaxed);
    // A time further ahead than any spin is garbage (a queue file is untrusted): overrule it.
    if ((until <= now || until - now > 1000 * 1000) &&
        spinning_until.compare_exchange_strong(until, now + spin_ns, std::memory_order_relaxed)) {
      const bool signalled = SpinWhileEqual(seq, snapshot, now + spin_ns);
      spinning_until.store(0, std::memory_order_relaxed);
      if (signalled) return;
      if (timeout_ns >= 0) timeout_ns -= spin_ns;
    }
  }
  armed.store(1, std::memory_order_seq_cst);
  FutexWait(&seq, snapshot, timeout_ns);
}

}  // namespace internal
}  // namespace channel
