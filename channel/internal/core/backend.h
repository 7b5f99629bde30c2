// QueueBackend: the transport seam behind Queue<T> and JoinableQueue<T>.
//
// The public templates only encode and decode Cap'n Proto messages; everything about moving
// bytes between processes sits behind this interface, so another transport can implement it
// without touching the public API. The pipe transport (pipe_queue.h) is the one implementation
// today. All methods are thread-safe and never throw.
#ifndef CHANNEL_INTERNAL_CORE_BACKEND_H_
#define CHANNEL_INTERNAL_CORE_BACKEND_H_

#include <cstddef>
#include <cstdint>
#include <vector>

#include "absl/functional/function_ref.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "channel/internal/core/deadline.h"
#include "channel/internal/wire/payload.h"
#include "channel/stats.h"

namespace channel {
namespace internal {

class QueueBackend {
 public:
  virtual ~QueueBackend() = default;

  // Reserves room (blocking until `deadline` while full), then has `encode` write exactly
  // `payload_bytes` bytes (a multiple of 8) of serialized message into the feeder's buffer.
  virtual absl::Status Put(size_t payload_bytes, absl::FunctionRef<void(char*)> encode,
                           const Deadline& deadline) = 0;
  // PutMany's per-item hand-off: checks the size, reserves room if needed (blocking until the
  // deadline), then has `encode` write the payload; any failure is the Put's status.
  using ItemSink =
      absl::FunctionRef<absl::Status(size_t payload_bytes, absl::FunctionRef<void(char*)> encode)>;
  // Puts items 0..count-1 in order, as Put would one by one: `item(i, sink)` serializes item i
  // and passes it to `sink` (or fails: the batch stops there). Room is reserved for as many items
  // as fit in one transaction. *put is how many went in, whatever the status.
  virtual absl::Status PutMany(size_t count,
                               absl::FunctionRef<absl::Status(size_t index, ItemSink sink)> item,
                               const Deadline& deadline, size_t* put) = 0;
  virtual absl::StatusOr<Payload> Get(const Deadline& deadline) = 0;
  // Waits until `deadline` while nothing is available, then appends to *out what is available
  // now: 1..max_items payloads (max_items > 0) in queue order. The statuses of Get.
  virtual absl::Status GetMany(size_t max_items, const Deadline& deadline,
                               std::vector<Payload>* out) = 0;
  // Gives back payloads GetMany returned that the caller could not hand out (it stopped at an
  // undecodable one): this handle's next Get/GetMany returns them first, in order.
  virtual void Unget(std::vector<Payload> payloads) = 0;

  virtual int64_t qsize() = 0;
  virtual int64_t maxsize() const = 0;
  virtual size_t max_message_bytes() const = 0;
  virtual QueueStats stats() = 0;

  // A descriptor owned by the handle, readable while an item may be there for a Get, the
  // queue is shut down (and empty, unless immediately), or the handle is closed.
  virtual absl::StatusOr<int> ReadableFd() = 0;

  virtual void Close() = 0;
  virtual absl::Status JoinThread() = 0;
  virtual void CancelJoinThread() = 0;

  // Queue-wide, every process (Ledger::shut_down): later Puts fail with kCancelled, Gets once
  // nothing is left; `immediate` also drops what is left. Wakes every blocked call.
  virtual absl::Status Shutdown(bool immediate) = 0;

  virtual absl::Status TaskDone() = 0;
  virtual int64_t unfinished() = 0;
  virtual absl::Status Join(const Deadline& deadline) = 0;

  // The handle is going away: flush (unless cancelled), then let go of process resources.
  virtual void Release() = 0;
};

}  // namespace internal
}  // namespace channel

#endif  // CHANNEL_INTERNAL_CORE_BACKEND_H_
