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
#include <capnp/generated-header-support.h>  // capnp::_::rawSchema<T>()
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

namespace channel {
namespace internal {

class QueueBackend;

// The struct a queue carries: its schema (id and name) and its size, which is all a builder's
// root can be compared with (Cap'n Proto messages do not carry their type).
struct MessageType {
  const capnp::_::RawSchema* schema;
  uint16_t data_words;
  uint16_t pointers;
};

template <typename T>
MessageType MessageTypeOf() {
  return {&capnp::_::rawSchema<T>(), T::_capnpPrivate::dataWordSize,
          T::_capnpPrivate::pointerCount};
}

class QueueCore {
 public:
  QueueCore() = default;
  QueueCore(QueueCore&& other) noexcept = default;
  QueueCore& operator=(QueueCore&& other) noexcept;  // releases this core's queue first
  ~QueueCore();  // releases: flushes what this handle put, unless cancelled

  // `type` (MessageTypeOf<T>()): its schema's id and name become the queue's identity.
  static absl::StatusOr<QueueCore> Create(QueueKind kind, MessageType type,
                                          const QueueOptions& options);
  static absl::StatusOr<QueueCore> CreateNamed(absl::string_view name, QueueKind kind,
                                               MessageType type, const QueueOptions& options);
  static absl::StatusOr<QueueCore> Open(absl::string_view name, QueueKind kind, MessageType type);
  static absl::Status Unlink(absl::string_view name);

  // A builder whose root should be a T: refused (kInvalidArgument) when the root's data or
  // pointer section differs in size from T's.
  absl::Status Put(capnp::MessageBuilder& message, absl::Duration timeout);
  // A reader typed T by the compiler: not compared (it may come from another version of T's
  // schema, whose sizes differ legitimately).
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
  QueueCore(std::shared_ptr<QueueBackend> backend, MessageType type);
  void Release();
  absl::Status PutBuilder(capnp::MessageBuilder& message, bool check_root, absl::Duration timeout);

  std::shared_ptr<QueueBackend> backend_;
  MessageType type_ = {};
};

}  // namespace internal
}  // namespace channel

#endif  // CHANNEL_INTERNAL_CORE_QUEUE_CORE_H_
