// Process registry: which processes put into a queue, and whether they are still alive.
//
// A process claims a ProcessSlot (by CAS on its pid) before its first Put on a handle; the slot
// carries the items it reserved and has not yet written. When that process dies, whoever notices
// first (any waiting Get/Put/Join, or qsize()) reclaims the slot and releases what it held
// (queue.h's failure behaviour). Liveness is judged by pid plus the kernel's start time for it,
// so a recycled pid is not mistaken for the original process, and a zombie counts as dead.
#ifndef CHANNEL_INTERNAL_SHM_PROCESS_REGISTRY_H_
#define CHANNEL_INTERNAL_SHM_PROCESS_REGISTRY_H_

#include <sys/types.h>

#include <cstdint>

#include "absl/status/statusor.h"
#include "channel/internal/shm/shared_state.h"

namespace channel {
namespace internal {

// Start time of `pid` in clock ticks since boot (field 22 of /proc/<pid>/stat); 0 if it cannot
// be read.
uint64_t ProcessStartTime(pid_t pid);

// False once `pid` has exited, is a zombie, or now names a different process than the one that
// started at `start_time`. Only the bits of `start_mask` are compared (RobustMutex keeps the low
// 32); a start time of 0 means unknown, and the pid alone decides.
bool ProcessAlive(pid_t pid, uint64_t start_time, uint64_t start_mask = ~uint64_t{0});

// Claims a free slot for the calling process. kResourceExhausted when all kMaxSlots are taken by
// live processes.
absl::StatusOr<int> ClaimSlot(SharedQueue* queue);

// Frees a slot the calling process owns; its counters must already be zero.
void ReleaseSlot(SharedQueue* queue, int slot);

}  // namespace internal
}  // namespace channel

#endif  // CHANNEL_INTERNAL_SHM_PROCESS_REGISTRY_H_
