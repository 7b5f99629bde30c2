// QueueCore: the one non-template queue behind Queue<T> and JoinableQueue<T>, whose headers hold
// the contract. The templates only add the message type: its identity at create/open time, and
// the typed root of what Get returns. Everything else (encoding, deadlines, the moved-from rule)
// is here, compiled once; the transport is a QueueBackend chosen at create time by the factory
// (factory.h), so this header names no transport.
//
// A default-constructed or moved-from core has no backend: status-returning calls return
// kFailedPrecondition ("this queue handle was moved from"), observers return 0 / empty stats,
// Close and CancelJoinThread do nothing.
#ifndef CHANNEL_INTERNAL_CORE_QUEUE_CORE_H_
#define CHANNEL_INTERNAL_CORE_QUEUE_CORE_H_

#include <capnp/any.h>
#include <capnp/message.h>

#include <cstddef>
#include <cstdint>
#include <memory>
#include <vector>

#include "absl/functional/function_ref.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "channel/internal/core/queue_identity.h"
#include "channel/internal/core/received.h"
#include "channel/options.h"
#include "channel/stats.h"

namespace capnp {
namespace _ {
struct RawSchema;
}  // namespace _
}  // namespace capnp

namespace channel {
namespace internal {

class QueueBackend;

class QueueCore {
 public:
  QueueCore() = default;
  QueueCore(QueueCore&& other) noexcept = default;
  QueueCore& operator=(QueueCore&& other) noexcept;  // releases this core's queue first
  ~QueueCore();  // releases: flushes what this handle put, unless cancelled

  // `type` is capnp::_::rawSchema<T>() of the message struct: its id and name become the
  // queue's identity.
  static absl::StatusOr<QueueCore> Create(QueueKind kind, const capnp::_::RawSchema& type,
                                          const QueueOptions& options);
  static absl::StatusOr<QueueCore> CreateNamed(absl::string_view name, QueueKind kind,
                                               const capnp::_::RawSchema& type,
                                               const QueueOptions& options);
  static absl::StatusOr<QueueCore> Open(absl::string_view name, QueueKind kind,
                                        const capnp::_::RawSchema& type);
  static absl::Status Unlink(absl::string_view name);

  absl::Status Put(capnp::MessageBuilder& message, absl::Duration timeout);
  absl::Status Put(capnp::AnyStruct::Reader message, absl::Duration timeout);
  // Puts messages 0..count-1 in order (message_at(i) reads item i); *put: how many went in.
  absl::Status PutMany(size_t count, absl::FunctionRef<capnp::AnyStruct::Reader(size_t)> message_at,
                       absl::Duration timeout, size_t* put);
  absl::StatusOr<Received> Get(absl::Duration timeout);
  // 1..max_items messages; an undecodable one ends the batch (reported by the next call).
  absl::StatusOr<std::vector<Received>> GetMany(size_t max_items, absl::Duration timeout);

  int64_t qsize() const;
  int64_t maxsize() const;
  size_t max_message_bytes() const;
  QueueStats stats() const;

  absl::StatusOr<int> ReadableFd();
  absl::Status Shutdown(bool immediate);

  void Close();
  absl::Status JoinThread();
  void CancelJoinThread();

  absl::Status TaskDone();
  int64_t unfinished() const;
  absl::Status Join(absl::Duration timeout);

 private:
  explicit QueueCore(std::shared_ptr<QueueBackend> backend);
  void Release();

  std::shared_ptr<QueueBackend> backend_;
};

}  // namespace internal
}  // namespace channel

#endif  // CHANNEL_INTERNAL_CORE_QUEUE_CORE_H_
