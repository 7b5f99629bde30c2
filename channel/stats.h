// QueueStats: what a queue has lost and repaired, across every process on it.
//
// typed_channel's failure promise (see queue.h) is that deaths cost a bounded, visible amount.
// These counters are how it is visible: they live in the queue's shared memory and only grow.
#ifndef CHANNEL_STATS_H_
#define CHANNEL_STATS_H_

#include <cstdint>

namespace channel {

struct QueueStats {
  uint64_t items_lost = 0;      // items that will never be delivered: unflushed items of dead
                                // processes, frames torn by a death, items taken by a reader
                                // that died before its Get returned, items dropped by
                                // CancelJoinThread
  uint64_t resyncs = 0;         // times a reader skipped bytes that were not a valid frame
  uint64_t torn_writes = 0;     // writers that died (or failed) inside a write, repaired
  uint64_t dead_processes = 0;  // dead putting processes whose reservations were released
  uint64_t items_dropped_by_shutdown = 0;  // items Shutdown(immediate = true) discarded (never
                                           // counted in items_lost)
  bool shut_down = false;                  // Shutdown was called on the queue, by any process
};

}  // namespace channel

#endif  // CHANNEL_STATS_H_
