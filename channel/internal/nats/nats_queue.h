// NatsQueue: the NATS JetStream transport, a QueueBackend over one stream per queue.
//
//   stream TC_<NAME>, subject typed_channel.<NAME>: WorkQueue retention (a message is deleted when
//     acknowledged), DiscardNew with MaxMsgs = maxsize (the server refuses a Put to a full queue),
//     MaxMsgSize = the largest frame; the queue's identity in the stream's description
//     (nats_identity.h).
//   durable pull consumer "tc", explicit acks, AckWait from the URL: every handle's Get fetches
//     one item from it, so the consumers of a queue share its items.
//   Put:  synchronous JetStream publish of the item's frame (nats_frame.h) with a MsgId, so a
//         retry after a lost answer is dropped by the server as a duplicate. Refused as full:
//         wait for an acknowledgement to pass on $JS.ACK.<stream>.> (the consumers' ack flow),
//         at most a bounded backoff, and publish again.
//   Get:  fetch of one; a Queue acknowledges it at once without waiting for the server (the item
//         is the consumer's), a JoinableQueue keeps it until TaskDone on the same handle
//         acknowledges it and waits for the server to confirm.
//   Join: until the stream holds no message, re-checked on each ack seen (bounded backoff).
//
// Every call is bounded by its deadline, network included, except that a call which must ask
// the server gets at least kMinRoundTripMs (nats_connection.h). Differences from the pipe
// transport are listed in docs/distributed.md. Thread-safe; never throws.
#ifndef CHANNEL_INTERNAL_NATS_NATS_QUEUE_H_
#define CHANNEL_INTERNAL_NATS_NATS_QUEUE_H_

#include <nats/nats.h>

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "channel/internal/core/backend.h"
#include "channel/internal/nats/nats_connection.h"
#include "channel/internal/nats/nats_identity.h"
#include "channel/internal/nats/nats_url.h"
#include "channel/internal/shm/shared_state.h"

namespace channel {
namespace internal {

class NatsQueue final : public QueueBackend {
 public:
  // kAlreadyExists if the stream exists; kInvalidArgument for a bad URL; kUnavailable if no
  // server answers; kPermissionDenied for refused credentials.
  static absl::StatusOr<std::shared_ptr<QueueBackend>> Create(absl::string_view url,
                                                              const QueueIdentity& identity,
                                                              const QueueShape& shape);
  // kNotFound if absent; kFailedPrecondition naming both sides if kind or type differ, or if the
  // stream is not a typed_channel queue.
  static absl::StatusOr<std::shared_ptr<QueueBackend>> Open(absl::string_view url,
                                                            const QueueIdentity& identity);
  // Deletes the stream and every item in it. kNotFound if absent.
  static absl::Status Unlink(absl::string_view url);

  ~NatsQueue() override;

  absl::Status Put(size_t payload_bytes, absl::FunctionRef<void(char*)> encode,
                   const Deadline& deadline) override;
  // One Put per item (each a confirmed publish).
  absl::Status PutMany(size_t count,
                       absl::FunctionRef<absl::Status(size_t index, ItemSink sink)> item,
                       const Deadline& deadline, size_t* put) override;
  absl::StatusOr<Payload> Get(const Deadline& deadline) override;
  // One item per call (a fetch of one): 1 <= max_items.
  absl::Status GetMany(size_t max_items, const Deadline& deadline,
                       std::vector<Payload>* out) override;
  void Unget(std::vector<Payload> payloads) override;
  // Not on NATS (no descriptor becomes readable when a server has an item): kUnimplemented.
  absl::StatusOr<int> ReadableFd() override;
  // Not on NATS yet: kUnimplemented (see docs/distributed.md).
  absl::Status Shutdown(bool immediate) override;
  int64_t qsize() override;
  int64_t maxsize() const override { return header_.maxsize; }
  size_t max_message_bytes() const override { return header_.max_message_bytes; }
  QueueStats stats() override;
  void Close() override { closed_ = true; }
  absl::Status JoinThread() override;
  void CancelJoinThread() override {}
  absl::Status TaskDone() override;
  int64_t unfinished() override;
  absl::Status Join(const Deadline& deadline) override;
  void Release() override;

 private:
  NatsQueue(std::unique_ptr<NatsConnection> connection, NatsAddress address,
            NatsQueueHeader header);
  // The number of messages in the stream (unread + delivered and not acknowledged).
  absl::StatusOr<int64_t> StreamMessages(const Deadline& deadline);
  // Waits until an acknowledgement passes on the queue's ack subjects, `backoff_ms` passes, or
  // the deadline does; then doubles `backoff_ms` up to its cap.
  void WaitForAck(const Deadline& deadline, int64_t* backoff_ms);
  absl::Status BindConsumer();
  absl::Status Unreachable(absl::string_view call) const;
  // True if the server says the stream is gone (Unlink); false if it cannot tell.
  bool Unlinked();
  // Between retries of a transient failure: waits for the link, or sleeps a bounded backoff.
  void Pause(const Deadline& deadline, int64_t* backoff_ms);
  // After a confirmed ack: waits until the stream no longer holds message `stream_seq`.
  natsStatus AwaitRemoval(uint64_t stream_seq, const Deadline& deadline);
  // Reads, validates and settles one fetched message.
  absl::StatusOr<Payload> Take(natsMsg* msg);

  const std::unique_ptr<NatsConnection> connection_;
  const NatsAddress address_;
  const NatsQueueHeader header_;
  const std::string stream_;
  const std::string subject_;
  const std::string msg_id_prefix_;  // unique per handle; MsgId = prefix + counter
  std::atomic<uint64_t> next_msg_id_{0};
  std::atomic<bool> closed_{false};
  std::atomic<int64_t> last_qsize_{0};
  std::atomic<uint64_t> foreign_messages_{0};
  std::atomic<bool> unflushed_acks_{false};  // Get acked without waiting (a plain Queue)

  std::mutex fetch_mu_;
  std::condition_variable fetch_cv_;  // signalled when fetching_ falls
  bool fetching_ = false;             // guarded by fetch_mu_: a Get owns pull_
  natsSubscription* pull_ = nullptr;  // used by the Get that set fetching_; bound on the first

  std::mutex mu_;
  natsSubscription* acks_ = nullptr;  // guarded by mu_; made on the first wait for room
  std::deque<natsMsg*> delivered_;    // guarded by mu_; a JoinableQueue's items awaiting TaskDone
  std::deque<Payload> ungot_;         // guarded by mu_; given back by Unget, returned first
  bool released_ = false;             // guarded by mu_
};

}  // namespace internal
}  // namespace channel

#endif  // CHANNEL_INTERNAL_NATS_NATS_QUEUE_H_
