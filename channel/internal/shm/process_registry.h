// Process registry: which processes put into a queue (the slots of a SharedQueue).
//
// A process claims a ProcessSlot (by CAS on its pid) before its first Put on a handle; the slot
// carries the items it reserved and has not yet written. When that process dies, whoever notices
// first (any waiting Get/Put/Join, or qsize()) reclaims the slot and releases what it held
// (queue.h's failure behaviour). Whether a slot's process lives is liveness.h's question.
#ifndef CHANNEL_INTERNAL_SHM_PROCESS_REGISTRY_H_
#define CHANNEL_INTERNAL_SHM_PROCESS_REGISTRY_H_

#include "absl/status/statusor.h"
#include "channel/internal/shm/shared_state.h"

namespace channel {
namespace internal {

// Claims a free slot for the calling process. kResourceExhausted when all kMaxSlots are taken by
// live processes.
absl::StatusOr<int> ClaimSlot(SharedQueue* queue);

// Frees a slot the calling process owns; its counters must already be zero.
void ReleaseSlot(SharedQueue* queue, int slot);

// The calling process's WaiterSlot (stats: blocked calls): the one it holds, else a free one or
// one whose process died (its counts reset). -1 when all kMaxSlots belong to live processes.
// Scans the table: callers cache the index for their process.
int ClaimWaiterSlot(SharedQueue* queue);

}  // namespace internal
}  // namespace channel

#endif  // CHANNEL_INTERNAL_SHM_PROCESS_REGISTRY_H_
