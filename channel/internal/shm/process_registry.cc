#include "channel/internal/shm/process_registry.h"

#include <unistd.h>

#include "absl/strings/str_cat.h"
#include "channel/internal/shm/liveness.h"

namespace channel {
namespace internal {

absl::StatusOr<int> ClaimSlot(SharedQueue* q) {
  const pid_t self = getpid();
  const uint64_t start = ProcessStartTime(self);
  for (int i = 0; i < kMaxSlots; ++i) {
    int32_t expected = 0;
    if (q->slots[i].pid.compare_exchange_strong(expected, self)) {
      StoreRelease(q->slots[i].start_time, start);
      return i;
    }
  }
  return absl::ResourceExhaustedError(absl::StrCat(
      "more than ", kMaxSlots, " live handles put into this queue; close some handles"));
}

int ClaimWaiterSlot(SharedQueue* q) {
  const pid_t self = getpid();
  const uint64_t start = ProcessStartTime(self);
  int reusable = -1;
  for (int i = 0; i < kMaxSlots; ++i) {
    const int32_t pid = q->waiters[i].pid.load();
    if (pid == self && LoadRelaxed(q->waiters[i].start_time) == start) return i;
    if (reusable < 0 && (pid == 0 || !ProcessAlive(pid, LoadRelaxed(q->waiters[i].start_time)))) {
      reusable = i;
    }
  }
  for (int i = reusable; i >= 0 && i < kMaxSlots; ++i) {
    WaiterSlot& w = q->waiters[i];
    int32_t pid = w.pid.load();
    if (pid != 0 && ProcessAlive(pid, LoadRelaxed(w.start_time))) continue;
    if (!w.pid.compare_exchange_strong(pid, self)) continue;
    // A dead owner may have died blocked: its counts go with it. Until start_time is stored,
    // a reader judges the new owner by its pid alone, which is alive.
    w.blocked_puts.store(0);
    w.blocked_gets.store(0);
    StoreRelease(w.start_time, start);
    return i;
  }
  return -1;
}

void ReleaseSlot(SharedQueue* q, int slot) {
  StoreRelease(q->slots[slot].start_time, uint64_t{0});
  q->slots[slot].pid.store(0);
}

}  // namespace internal
}  // namespace channel
