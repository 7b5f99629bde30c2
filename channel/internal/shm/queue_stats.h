// Reading QueueStats (stats.h) out of a queue's shared memory: for stats() and for channelctl.
//
// Where each field comes from, and why none costs a Put or a Get a new cache line:
//   items_put   ledger: unfinished + tasks_folded + items_lost + items_dropped_by_shutdown
//               (every Put adds one to unfinished; only TaskDone, losses and Shutdown's drops
//               take it away, each counted beside it)
//   items_got   ledger: read_seq - 1 - seqs_lost (every seq below read_seq was delivered or
//               counted in seqs_lost, drops included; accounts.h)
//   bytes_put   sum of ProcessSlot::bytes_put, added as each item goes to its feeder
//   bytes_got   ReaderState::bytes_got, added by the take on read_seq's line
//   depth, unfinished, losses   the ledger, as qsize() reads it
//   peak_depth  AccountsState::peak_items, raised by transaction commits
//   blocked_*   WaiterSlot counts of live processes
//   attached    live pids in attached[] (named queues), ProcessSlot and blocked WaiterSlots
#ifndef CHANNEL_INTERNAL_SHM_QUEUE_STATS_H_
#define CHANNEL_INTERNAL_SHM_QUEUE_STATS_H_

#include <sys/types.h>

#include <vector>

#include "channel/internal/shm/shared_state.h"
#include "channel/stats.h"

namespace channel {
namespace internal {

// The snapshot stats() returns. Lock-free unless a transaction stays in flight (then it takes
// the accounts lock, repairing a dead holder's transaction: see Accounts::Snapshot).
QueueStats ReadQueueStats(SharedQueue* queue);

// The live processes counted in attached_processes, ascending, each once.
std::vector<pid_t> AttachedPids(SharedQueue* queue);

}  // namespace internal
}  // namespace channel

#endif  // CHANNEL_INTERNAL_SHM_QUEUE_STATS_H_
