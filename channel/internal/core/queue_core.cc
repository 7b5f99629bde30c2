#include "channel/internal/core/queue_core.h"

#include <capnp/schema.capnp.h>

#include <iterator>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "channel/internal/core/backend.h"
#include "channel/internal/core/deadline.h"
#include "channel/internal/core/factory.h"
#include "channel/internal/wire/capnp_codec.h"

namespace channel {
namespace internal {
namespace {

absl::Status MovedFromError() {
  return absl::FailedPreconditionError("this queue handle was moved from");
}

absl::Status ValidateOptions(const QueueOptions& options) {
  // Frame headers carry a 32-bit length, and staging holds two maximum frames.
  constexpr size_t kLimit = size_t{1} << 30;
  if (options.max_message_bytes < 8 || options.max_message_bytes > kLimit) {
    return absl::InvalidArgumentError(absl::StrCat("QueueOptions::max_message_bytes is ",
                                                   options.max_message_bytes,
                                                   "; it must be between 8 and ", kLimit));
  }
  return absl::OkStatus();
}

QueueShape ShapeOf(const QueueOptions& options) {
  QueueShape shape;
  shape.maxsize = options.maxsize > 0 ? options.maxsize : 0;
  shape.max_message_bytes = options.max_message_bytes;
  return shape;
}

// The schema node compiled into the program: trusted, so read unchecked.
std::string TypeName(MessageType type) {
  return std::string(capnp::readMessageUnchecked<capnp::schema::Node>(type.schema->encodedNode)
                         .getDisplayName()
                         .cStr());
}

QueueIdentity IdentityOf(QueueKind kind, MessageType type) {
  QueueIdentity id;
  id.kind = kind;
  id.type_id = type.schema->id;
  id.type_name = TypeName(type);
  return id;
}

absl::Status WrongRoot(MessageType type, StructShape root) {
  const std::string name = TypeName(type);
  return absl::InvalidArgumentError(absl::StrCat(
      "the message's root is not a ", name, ": its root struct has ", root.data_words,
      " data words and ", root.pointers, " pointers, a ", name, " has ", type.data_words, " and ",
      type.pointers,
      ". Cap'n Proto messages do not carry their type: build the message "
      "as a channel::Builder<T> of the queue's type (or with initRoot<T>() of it). A message of "
      "another version of this schema is put with Put(T::Reader)"));
}

}  // namespace

QueueCore::QueueCore(std::shared_ptr<QueueBackend> backend, MessageType type)
    : backend_(std::move(backend)), type_(type) {}

QueueCore& QueueCore::operator=(QueueCore&& other) noexcept {
  if (this != &other) {
    Release();
    backend_ = std::move(other.backend_);
    type_ = other.type_;
  }
  return *this;
}

QueueCore::~QueueCore() { Release(); }

void QueueCore::Release() {
  if (backend_ != nullptr) backend_->Release();
  backend_.reset();
}

absl::StatusOr<QueueCore> QueueCore::Create(QueueKind kind, MessageType type,
                                            const QueueOptions& options) {
  if (absl::Status valid = ValidateOptions(options); !valid.ok()) return valid;
  auto backend = LocalTransport().CreateAnonymous(IdentityOf(kind, type), ShapeOf(options));
  if (!backend.ok()) return backend.status();
  return QueueCore(*std::move(backend), type);
}

absl::StatusOr<QueueCore> QueueCore::CreateNamed(absl::string_view name, QueueKind kind,
                                                 MessageType type, const QueueOptions& options) {
  if (absl::Status valid = ValidateOptions(options); !valid.ok()) return valid;
  absl::StatusOr<const Transport*> transport = TransportFor(name);
  if (!transport.ok()) return transport.status();
  auto backend = (*transport)->CreateNamed(name, IdentityOf(kind, type), ShapeOf(options));
  if (!backend.ok()) return backend.status();
  return QueueCore(*std::move(backend), type);
}

absl::StatusOr<QueueCore> QueueCore::Open(absl::string_view name, QueueKind kind,
                                          MessageType type) {
  absl::StatusOr<const Transport*> transport = TransportFor(name);
  if (!transport.ok()) return transport.status();
  auto backend = (*transport)->Open(name, IdentityOf(kind, type));
  if (!backend.ok()) return backend.status();
  return QueueCore(*std::move(backend), type);
}

absl::Status QueueCore::Unlink(absl::string_view name) {
  absl::StatusOr<const Transport*> transport = TransportFor(name);
  if (!transport.ok()) return transport.status();
  return (*transport)->Unlink(name);
}

absl::Status QueueCore::Put(capnp::MessageBuilder& message, absl::Duration timeout) {
  return PutBuilder(message, /*check_root=*/true, timeout);
}

absl::Status QueueCore::Put(capnp::AnyStruct::Reader message, absl::Duration timeout) {
  return WithCopiedMessage(message, [&](capnp::MessageBuilder& b) {
    return PutBuilder(b, /*check_root=*/false, timeout);
  });
}

absl::Status QueueCore::PutBuilder(capnp::MessageBuilder& message, bool check_root,
                                   absl::Duration timeout) {
  const Deadline deadline = Deadline::After(timeout);
  if (backend_ == nullptr) return MovedFromError();
  StructShape root;
  auto segments = SegmentsOf(message, &root);
  if (!segments.ok()) return segments.status();
  if (check_root && (root.data_words != type_.data_words || root.pointers != type_.pointers)) {
    return WrongRoot(type_, root);
  }
  return backend_->Put(
      SerializedBytes(*segments), [&](char* out) { WriteSegments(*segments, out); }, deadline);
}

absl::Status QueueCore::PutMany(size_t count,
                                absl::FunctionRef<capnp::AnyStruct::Reader(size_t)> message_at,
                                absl::Duration timeout, size_t* put) {
  const Deadline deadline = Deadline::After(timeout);
  size_t done = 0;
  absl::Status s =
      backend_ == nullptr
          ? MovedFromError()
          : backend_->PutMany(
                count,
                [&](size_t i, QueueBackend::ItemSink sink) {
                  return WithCopiedMessage(message_at(i), [&](capnp::MessageBuilder& b) {
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

absl::StatusOr<std::vector<Received>> QueueCore::GetMany(size_t max_items, absl::Duration timeout) {
  if (max_items == 0) return absl::InvalidArgumentError("GetMany needs max_items >= 1");
  if (backend_ == nullptr) return MovedFromError();
  std::vector<Payload> payloads;
  absl::Status s = backend_->GetMany(max_items, Deadline::After(timeout), &payloads);
  if (!s.ok()) return s;
  std::vector<Received> received;
  received.reserve(payloads.size());
  for (size_t i = 0; i < payloads.size(); ++i) {
    absl::StatusOr<OpenedPayload> opened = OpenPayload(payloads[i]);
    if (!opened.ok()) {
      // As if got one by one: the batch ends before an undecodable item, which the next
      // Get/GetMany on this handle reports (kDataLoss, consumed), and returns the rest after.
      const size_t rest = i == 0 ? 1 : i;
      backend_->Unget(std::vector<Payload>(std::make_move_iterator(payloads.begin() + rest),
                                           std::make_move_iterator(payloads.end())));
      if (i == 0) return opened.status();
      break;
    }
    received.push_back(Received{std::move(payloads[i]), std::move(opened->reader), opened->root});
  }
  return received;
}

absl::StatusOr<Received> QueueCore::Get(absl::Duration timeout) {
  if (backend_ == nullptr) return MovedFromError();
  absl::StatusOr<Payload> payload = backend_->Get(Deadline::After(timeout));
  if (!payload.ok()) return payload.status();
  absl::StatusOr<OpenedPayload> opened = OpenPayload(*payload);
  if (!opened.ok()) return opened.status();
  return Received{*std::move(payload), std::move(opened->reader), opened->root};
}

int64_t QueueCore::qsize() const { return backend_ == nullptr ? 0 : backend_->qsize(); }
int64_t QueueCore::maxsize() const { return backend_ == nullptr ? 0 : backend_->maxsize(); }
size_t QueueCore::max_message_bytes() const {
  return backend_ == nullptr ? 0 : backend_->max_message_bytes();
}
QueueStats QueueCore::stats() const {
  return backend_ == nullptr ? QueueStats{} : backend_->stats();
}

absl::StatusOr<int> QueueCore::ReadableFd() {
  return backend_ == nullptr ? MovedFromError() : backend_->ReadableFd();
}
absl::Status QueueCore::Shutdown(bool immediate) {
  return backend_ == nullptr ? MovedFromError() : backend_->Shutdown(immediate);
}

void QueueCore::Close() {
  if (backend_ != nullptr) backend_->Close();
}
absl::Status QueueCore::JoinThread() {
  return backend_ == nullptr ? MovedFromError() : backend_->JoinThread();
}
void QueueCore::CancelJoinThread() {
  if (backend_ != nullptr) backend_->CancelJoinThread();
}

absl::Status QueueCore::TaskDone() {
  return backend_ == nullptr ? MovedFromError() : backend_->TaskDone();
}
int64_t QueueCore::unfinished() const { return backend_ == nullptr ? 0 : backend_->unfinished(); }
absl::Status QueueCore::Join(absl::Duration timeout) {
  const Deadline deadline = Deadline::After(timeout);
  return backend_ == nullptr ? MovedFromError() : backend_->Join(deadline);
}

}  // namespace internal
}  // namespace channel
