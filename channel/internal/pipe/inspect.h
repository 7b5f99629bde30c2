// Inspection of named queues for operators' tools (tools/channelctl): what a queue is, its
// statistics, its next items, and the repair of a queue left cold by a crash.
//
// Nothing here parses a queue file on its own: files are opened and validated by named_store's
// MapNamedQueue (the checks Open makes: owner, mode, layout version, header CRC and geometry,
// counter plausibility), statistics are read by queue_stats.h, items are walked by
// PipeReader::PeekLocked. Of any message type: the caller needs no schema.
//
// Only RepairNamedQueue attaches to a queue (it opens it as a program would). The others change
// nothing a program on the queue could notice, with two exceptions any reader of qsize() or Get
// could also cause: a lock whose holder died is repaired by whoever takes it next, and
// PeekNamedQueue moves bytes from the queue's pipe into its staging area, as every Get does.
#ifndef CHANNEL_INTERNAL_PIPE_INSPECT_H_
#define CHANNEL_INTERNAL_PIPE_INSPECT_H_

#include <sys/types.h>

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "channel/internal/pipe/pipe_reader.h"
#include "channel/internal/shm/shared_state.h"
#include "channel/stats.h"

namespace channel {
namespace internal {

struct NamedQueueInfo {
  std::string name;
  QueueIdentity identity;
  int64_t maxsize = 0;  // 0: unbounded
  uint64_t max_message_bytes = 0;
  QueueStats stats;
  std::vector<pid_t> pids;       // live processes on the queue (stats.attached_processes)
  std::vector<pid_t> dead_pids;  // dead processes whose put slot or attachment is not released
  bool open = false;  // a live process has the queue open
  // Not open, and a process died with it open: whatever the queue's FIFO held died with the last
  // one, and nobody reaps the dead (RepairNamedQueue does, as the next Open would). A queue whose
  // processes all closed it normally is neither open nor cold: nothing of it was lost.
  bool cold = false;
};

// Names of the queues in the queue directory (named_store.h), sorted. Files that are not
// queues (FIFOs, temporary files) are skipped; a *.queue file is listed even if it would fail
// validation, so that InspectNamedQueue can say why.
absl::StatusOr<std::vector<std::string>> ListNamedQueues();

// kNotFound if absent; kPermissionDenied / kFailedPrecondition for another user's or an unsafe
// file; kDataLoss for a malformed one (the message says what is wrong).
absl::StatusOr<NamedQueueInfo> InspectNamedQueue(absl::string_view name);

// Unlinks the queue as Queue<T>::Unlink does, after checking its file as InspectNamedQueue does:
// a file Open would refuse (another user's, a symlink, malformed) is refused, not removed.
absl::Status UnlinkInspectedQueue(absl::string_view name);

struct PeekResult {
  std::vector<PipeReader::PeekedItem> items;
  bool more = false;  // staging holds further bytes past the items listed
};
// The next `max_items` items without consuming them, under the reader lock for no longer than
// a Get holds it: one drain of the pipe into staging and a walk over the frames; at most
// `max_copy_bytes` of messages are copied (later items are listed by size). Items still in a
// producer's feeder (put, not yet written) are not visible to anyone but that producer.
// kDeadlineExceeded if the reader lock is not free within `lock_timeout`.
absl::StatusOr<PeekResult> PeekNamedQueue(absl::string_view name, size_t max_items,
                                          size_t max_copy_bytes, absl::Duration lock_timeout);

struct RepairReport {
  NamedQueueInfo before, after;
  // Items readers can still get (whole in staging) after the repair. Written items that are
  // not among them died with the FIFO: depth - deliverable of them are counted in items_lost
  // when a Get reaches the marker the repair left after the deliverable ones.
  int64_t deliverable = 0;
};
// For a queue that is not open (cold, or idle: then there is nothing to repair): opens it as a
// program would (which marks the items its FIFO lost), releases what dead processes held and
// repairs locks they held, then detaches. kFailedPrecondition if a live process has the queue
// open: those processes repair it themselves.
absl::StatusOr<RepairReport> RepairNamedQueue(absl::string_view name);

}  // namespace internal
}  // namespace channel

#endif  // CHANNEL_INTERNAL_PIPE_INSPECT_H_
