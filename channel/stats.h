// QueueStats: a snapshot of a whole queue (every process on it), from its shared memory.
//
// `stats()` on any handle returns it; `channelctl stat` shows the same fields for named queues
// (docs/api.md). Reading it takes no lock in the common case (a seqlock read of the counters,
// plus one pass over the per-process tables) and never blocks a Put or Get; it may reap dead
// processes first, like qsize().
//
// Totals count since the queue was created and only grow. Unless a field says otherwise, a field
// is exact when read: it includes every call that returned before stats() started and none that
// started after it returned. Fields are read one after another, not as one atomic snapshot: while
// traffic flows, two fields may disagree by the calls that completed in between (for example
// items_put - items_got - items_lost may differ from depth by the calls running meanwhile).
//
// Crash safety: every counter lives in shared memory and is either changed in the same
// crash-atomic step as the queue's own accounting, or kept per process and summed over live
// processes only, so a process killed at any point never leaves a field permanently wrong. The
// bounded exceptions are stated per field.
#ifndef CHANNEL_STATS_H_
#define CHANNEL_STATS_H_

#include <cstdint>

namespace channel {

struct QueueStats {
  // --- Losses and repairs (the failure promise of queue.h: deaths cost a bounded, visible
  // amount). Exact.
  uint64_t items_lost = 0;      // items that will never be delivered: unflushed items of dead
                                // processes, frames torn by a death, items taken by a reader
                                // that died before its Get returned, items dropped by
                                // CancelJoinThread
  uint64_t resyncs = 0;         // times a reader skipped bytes that were not a valid frame
  uint64_t torn_writes = 0;     // writers that died (or failed) inside a write, repaired
  uint64_t dead_processes = 0;  // dead putting processes whose reservations were released

  // --- Traffic: totals since the queue was created.
  // Puts that returned OK. Exact: derived from the crash-safe counters Put already keeps
  // (items_put == depth + items_got + items_lost + items_dropped_by_shutdown at rest).
  uint64_t items_put = 0;
  // Items returned by Get (and handed to a caller). Exact; an item whose reader was killed
  // inside Get counts in items_lost instead.
  uint64_t items_got = 0;
  // Serialized bytes (Cap'n Proto flat-array form, as written to the queue) of those items.
  // bytes_put may miss the bytes of an item whose Put was cut short by its process's death (the
  // item counts in items_put and items_lost). bytes_got may include one item more per reader
  // killed inside a Get after it took its item (that item counts in items_lost, its bytes here).
  uint64_t bytes_put = 0;
  uint64_t bytes_got = 0;

  // --- Depth.
  int64_t depth = 0;  // qsize() at the snapshot
  // The largest depth the queue has had. Approximate: sampled by Puts, which may not yet see
  // Gets that ran concurrently (a Put's reservation folds them in only when the queue looks
  // full), so it can exceed the true peak by the items taken since the queue's counters were
  // last folded — in steady traffic less than one feeder batch (128 items). Never below depth,
  // never above maxsize for a bounded queue.
  int64_t peak_depth = 0;
  // JoinableQueue: items put and not yet TaskDone'd, like unfinished(). Queue: always 0.
  int64_t unfinished = 0;

  // --- Right now. Counted per process and summed over live processes. A call counts from its
  // first unsuccessful attempt until it returns. The queue keeps 128 per-process entries:
  // calls in more than 128 distinct live processes that have ever waited are not all counted.
  int64_t blocked_puts = 0;  // Put calls waiting for room, in all processes
  int64_t blocked_gets = 0;  // Get calls waiting for an item, in all processes
  // Processes using the queue, each counted once however many handles it holds. Named queue:
  // live processes that have it open. Anonymous queue (shared by fork): live processes whose
  // handle has put into it and is not released, or with a call blocked on it right now — a
  // process that only gets without waiting is not known to the queue. A killed process stops
  // counting as soon as stats() runs.
  int64_t attached_processes = 0;

  // --- Shutdown (joinable_queue.h, queue.h). Exact.
  uint64_t items_dropped_by_shutdown = 0;  // items Shutdown(immediate = true) discarded (never
                                           // counted in items_lost)
  bool shut_down = false;                  // Shutdown was called on the queue, by any process
};

}  // namespace channel

#endif  // CHANNEL_STATS_H_
