#include "channel/internal/core/queue_base.h"

#include "absl/strings/str_cat.h"
#include "channel/internal/nats/nats_queue.h"
#include "channel/internal/nats/nats_url.h"
#include "channel/internal/pipe/named_store.h"

namespace channel {
namespace internal {

absl::Status ValidateOptions(const QueueOptions& options) {
  // Frame headers carry a 32-bit length, and staging holds two maximum frames.
  constexpr size_t kLimit = size_t{1} << 30;
  if (options.max_message_bytes < 8 || options.max_message_bytes > kLimit) {
    return absl::InvalidArgumentError(
        absl::StrCat("QueueOptions::max_message_bytes is ", options.max_message_bytes,
                     "; it must be between 8 and ", kLimit));
  }
  return absl::OkStatus();
}

absl::StatusOr<std::shared_ptr<QueueBackend>> CreateNamedBackend(absl::string_view name,
                                                                 const QueueIdentity& identity,
                                                                 const QueueShape& shape) {
  if (IsNatsName(name)) return NatsQueue::Create(name, identity, shape);
  return CreateNamedQueue(name, identity, shape);
}

absl::StatusOr<std::shared_ptr<QueueBackend>> OpenNamedBackend(absl::string_view name,
                                                               const QueueIdentity& identity) {
  if (IsNatsName(name)) return NatsQueue::Open(name, identity);
  return OpenNamedQueue(name, identity);
}

absl::Status UnlinkNamedBackend(absl::string_view name) {
  if (IsNatsName(name)) return NatsQueue::Unlink(name);
  return UnlinkNamedQueue(name);
}

}  // namespace internal
}  // namespace channel
