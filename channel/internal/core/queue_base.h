// QueueBase: the body shared by Queue<T> and JoinableQueue<T> (their headers hold the contract).
//
// Derived is the public class (CRTP, so the factories return it); T is the Cap'n Proto struct.
// This layer only encodes and decodes messages and maps timeouts to deadlines; the transport is a
// QueueBackend. A moved-from handle answers every call with kFailedPrecondition.
#ifndef CHANNEL_INTERNAL_CORE_QUEUE_BASE_H_
#define CHANNEL_INTERNAL_CORE_QUEUE_BASE_H_

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include <capnp/any.h>
#include <capnp/message.h>
#include <capnp/schema.h>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/types/span.h"
#include "absl/time/time.h"
#include "channel/internal/core/backend.h"
#include "channel/internal/wire/capnp_codec.h"
#include "channel/internal/core/deadline.h"
#include "channel/internal/pipe/named_store.h"
#include "channel/internal/pipe/pipe_queue.h"
#include "channel/message.h"
#include "channel/stats.h"

namespace channel {

struct QueueOptions {
  int64_t maxsize = 0;                  // <= 0: unbounded
  size_t max_message_bytes = 64 << 20;  // larger messages: Put returns kInvalidArgument;
                                        // readers accept messages up to this size
};

namespace internal {

// Owns one process's reference to a backend; releasing it flushes (see QueueBackend::Release).
class Handle {
 public:
  Handle() = default;
  explicit Handle(std::shared_ptr<QueueBackend> backend) : backend_(std::move(backend)) {}
  Handle(Handle&& other) noexcept = default;
  Handle& operator=(Handle&& other) noexcept {
    if (this != &other) {
      Reset();
      backend_ = std::move(other.backend_);
    }
    return *this;
  }
  ~Handle() { Reset(); }

  QueueBackend* get() const { return backend_.get(); }

 private:
  void Reset() {
    if (backend_ != nullptr) backend_->Release();
    backend_.reset();
  }
  std::shared_ptr<QueueBackend> backend_;
};

inline absl::Status MovedFromError() {
  return absl::FailedPreconditionError("this queue handle was moved from");
}

template <typename T>
QueueIdentity IdentityOf(QueueKind kind) {
  QueueIdentity id;
  id.kind = kind;
  id.type_id = capnp::typeId<T>();
  id.type_name = std::string(capnp::Schema::from<T>().getProto().getDisplayName().cStr());
  return id;
}

absl::Status ValidateOptions(const QueueOptions& options);

// Named queues, by transport: the name's form selects it (a plain name: the pipe transport; the
// URL forms in docs/distributed.md: a remote one). Each has the rules of CreateNamed/Open/Unlink.
absl::StatusOr<std::shared_ptr<QueueBackend>> CreateNamedBackend(absl::string_view name,
                                                                 const QueueIdentity& identity,
                                                                 const QueueShape& shape);
absl::StatusOr<std::shared_ptr<QueueBackend>> OpenNamedBackend(absl::string_view name,
                                                               const QueueIdentity& identity);
absl::Status UnlinkNamedBackend(absl::string_view name);

template <typename Derived, typename T>
class QueueBase {
 public:
  static absl::StatusOr<Derived> Create(QueueOptions options = {}) {
    absl::Status valid = ValidateOptions(options);
    if (!valid.ok()) return valid;
    auto backend = PipeQueue::CreateAnonymous(IdentityOf<T>(Derived::kKind), Shape(options));
    if (!backend.ok()) return backend.status();
    return Derived(Handle(*std::move(backend)));
  }
  static absl::StatusOr<Derived> CreateNamed(absl::string_view name, QueueOptions options = {}) {
    absl::Status valid = ValidateOptions(options);
    if (!valid.ok()) return valid;
    auto backend = CreateNamedBackend(name, IdentityOf<T>(Derived::kKind), Shape(options));
    if (!backend.ok()) return backend.status();
    return Derived(Handle(*std::move(backend)));
  }
  static absl::StatusOr<Derived> Open(absl::string_view name) {
    auto backend = OpenNamedBackend(name, IdentityOf<T>(Derived::kKind));
    if (!backend.ok()) return backend.status();
    return Derived(Handle(*std::move(backend)));
  }
  static absl::Status Unlink(absl::string_view name) { return UnlinkNamedBackend(name); }

  absl::Status Put(typename T::Reader message, absl::Duration timeout = absl::InfiniteDuration()) {
    return WithCopiedMessage(capnp::AnyStruct::Reader(message),
                             [&](capnp::MessageBuilder& b) { return Put(b, timeout); });
  }
  absl::Status Put(capnp::MessageBuilder& message,
                   absl::Duration timeout = absl::InfiniteDuration()) {
    const Deadline deadline = Deadline::After(timeout);
    if (backend() == nullptr) return MovedFromError();
    auto segments = SegmentsOf(message);
    if (!segments.ok()) return segments.status();
    return backend()->Put(SerializedBytes(*segments),
                          [&](char* out) { WriteSegments(*segments, out); }, deadline);
  }
  absl::Status PutNowait(typename T::Reader message) { return Put(message, absl::ZeroDuration()); }
  absl::Status PutNowait(capnp::MessageBuilder& message) {
    return Put(message, absl::ZeroDuration());
  }

  absl::StatusOr<Message<T>> Get(absl::Duration timeout = absl::InfiniteDuration()) {
    if (backend() == nullptr) return MovedFromError();
    absl::StatusOr<Payload> payload = backend()->Get(Deadline::After(timeout));
    if (!payload.ok()) return payload.status();
    absl::StatusOr<OpenedPayload> opened = OpenPayload(*payload);
    if (!opened.ok()) return opened.status();
    return Message<T>(*std::move(payload), std::move(opened->reader), opened->root.as<T>());
  }
  absl::StatusOr<Message<T>> GetNowait() { return Get(absl::ZeroDuration()); }

  absl::Status PutMany(absl::Span<const typename T::Reader> messages,
                       absl::Duration timeout = absl::InfiniteDuration(), size_t* put = nullptr) {
    const Deadline deadline = Deadline::After(timeout);
    size_t done = 0;
    absl::Status s =
        backend() == nullptr
            ? MovedFromError()
            : backend()->PutMany(
                  messages.size(),
                  [&](size_t i, QueueBackend::ItemSink sink) {
                    return WithCopiedMessage(
                        capnp::AnyStruct::Reader(messages[i]), [&](capnp::MessageBuilder& b) {
                          auto segments = SegmentsOf(b);
                          if (!segments.ok()) return segments.status();
                          return sink(SerializedBytes(*segments),
                                      [&](char* out) { WriteSegments(*segments, out); });
                        });
                  },
                  deadline, &done);
    if (put != nullptr) *put = done;
    return s;
  }

  absl::StatusOr<std::vector<Message<T>>> GetMany(
      size_t max_items, absl::Duration timeout = absl::InfiniteDuration()) {
    if (max_items == 0) return absl::InvalidArgumentError("GetMany needs max_items >= 1");
    if (backend() == nullptr) return MovedFromError();
    std::vector<Payload> payloads;
    absl::Status s = backend()->GetMany(max_items, Deadline::After(timeout), &payloads);
    if (!s.ok()) return s;
    std::vector<Message<T>> messages;
    messages.reserve(payloads.size());
    for (size_t i = 0; i < payloads.size(); ++i) {
      absl::StatusOr<OpenedPayload> opened = OpenPayload(payloads[i]);
      if (!opened.ok()) {
        // As if got one by one: the batch ends before an undecodable item, which the next
        // Get/GetMany on this handle reports (kDataLoss, consumed), and returns the rest after.
        const size_t rest = i == 0 ? 1 : i;
        backend()->Unget(std::vector<Payload>(std::make_move_iterator(payloads.begin() + rest),
                                              std::make_move_iterator(payloads.end())));
        if (i == 0) return opened.status();
        break;
      }
      messages.push_back(Message<T>(std::move(payloads[i]), std::move(opened->reader),
                                    opened->root.as<T>()));
    }
    return messages;
  }

  int64_t qsize() const { return backend() == nullptr ? 0 : backend()->qsize(); }
  bool empty() const { return qsize() == 0; }
  bool full() const { return maxsize() > 0 && qsize() >= maxsize(); }
  int64_t maxsize() const { return backend() == nullptr ? 0 : backend()->maxsize(); }
  size_t max_message_bytes() const {
    return backend() == nullptr ? 0 : backend()->max_message_bytes();
  }
  QueueStats stats() const { return backend() == nullptr ? QueueStats{} : backend()->stats(); }

  absl::StatusOr<int> ReadableFd() {
    return backend() == nullptr ? MovedFromError() : backend()->ReadableFd();
  }

  absl::Status Shutdown(bool immediate = false) {
    return backend() == nullptr ? MovedFromError() : backend()->Shutdown(immediate);
  }

  void Close() {
    if (backend() != nullptr) backend()->Close();
  }
  absl::Status JoinThread() {
    return backend() == nullptr ? MovedFromError() : backend()->JoinThread();
  }
  void CancelJoinThread() {
    if (backend() != nullptr) backend()->CancelJoinThread();
  }

 protected:
  explicit QueueBase(Handle handle) : handle_(std::move(handle)) {}
  QueueBackend* backend() const { return handle_.get(); }

 private:
  static QueueShape Shape(const QueueOptions& options) {
    QueueShape shape;
    shape.maxsize = options.maxsize > 0 ? options.maxsize : 0;
    shape.max_message_bytes = options.max_message_bytes;
    return shape;
  }
  Handle handle_;
};

}  // namespace internal
}  // namespace channel

#endif  // CHANNEL_INTERNAL_CORE_QUEUE_BASE_H_
