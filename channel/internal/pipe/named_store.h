// Named-queue store: where named queues live on disk and how processes rendezvous on them.
//
// Directory: $TYPED_CHANNEL_DIR if set, else /dev/shm/typed_channel-<uid>; created 0700, and
// refused unless it is a real directory (not a symlink) owned by the caller with no group or
// other access. For queue NAME it holds:
//   NAME.queue              the shared memory (SharedQueue), 0600
//   NAME.<queue_id>.fifo    the pipe, 0600; queue_id comes from the header, so a queue
//                           re-created under the same name never shares a FIFO with the old one
// CreateNamed builds both under temporary names and publishes the .queue file with link(2),
// which fails if the name exists: a name is never half-created. Unlink removes the .queue file
// first (new Opens fail from then on), then the FIFO; handles already open keep working.
//
// Persistence: a FIFO forgets its bytes when its last descriptor closes, but a named queue keeps
// its items until Unlink. So the last process to detach (SharedQueue::attached, counted under
// the reader lock) drains the FIFO into the staging area, which lives in the .queue file; the
// next Open finds the items there. Attach and the drain both run under the reader lock, so an
// Open racing a last close either attaches first (and the closer does not drain) or finds
// everything in staging.
#ifndef CHANNEL_INTERNAL_PIPE_NAMED_STORE_H_
#define CHANNEL_INTERNAL_PIPE_NAMED_STORE_H_

#include <memory>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "channel/internal/core/backend.h"
#include "channel/internal/pipe/pipe_queue.h"
#include "channel/internal/shm/shared_state.h"

namespace channel {
namespace internal {

// kInvalidArgument unless `name` is 1..200 chars of [A-Za-z0-9._-] not starting with '.'.
absl::Status ValidateQueueName(absl::string_view name);

// The directory named queues live in (see above); created if missing.
absl::StatusOr<std::string> QueueDirectory();

absl::StatusOr<std::shared_ptr<QueueBackend>> CreateNamedQueue(absl::string_view name,
                                                               const QueueIdentity& identity,
                                                               const QueueShape& shape);
// kNotFound if absent; kFailedPrecondition naming both sides if kind or type differ.
absl::StatusOr<std::shared_ptr<QueueBackend>> OpenNamedQueue(absl::string_view name,
                                                             const QueueIdentity& identity);
absl::Status UnlinkNamedQueue(absl::string_view name);

// For inspection (inspect.h): a named queue's file, checked and validated exactly as Open checks
// it (ownership, mode, layout, header, counters), but of any message type and not attached.
struct MappedNamedQueue {
  std::string dir;
  SharedMapping mapping;
};
absl::StatusOr<MappedNamedQueue> MapNamedQueue(absl::string_view name);
// Both ends of its FIFO (the read end non-blocking), checked as Open checks them. Holding them
// does not attach: whoever detaches last still drains the FIFO into staging.
absl::StatusOr<PipeEnds> OpenNamedQueueFifo(const MappedNamedQueue& queue, absl::string_view name);

}  // namespace internal
}  // namespace channel

#endif  // CHANNEL_INTERNAL_PIPE_NAMED_STORE_H_
