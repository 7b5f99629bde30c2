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

void ReleaseSlot(SharedQueue* q, int slot) {
  StoreRelease(q->slots[slot].start_time, uint64_t{0});
  q->slots[slot].pid.store(0);
}

}  // namespace internal
}  // namespace channel
