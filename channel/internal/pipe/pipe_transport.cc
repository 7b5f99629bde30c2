#include "channel/internal/pipe/pipe_transport.h"

#include "channel/internal/pipe/named_store.h"
#include "channel/internal/pipe/pipe_queue.h"

namespace channel {
namespace internal {
namespace {

class Pipes final : public Transport {
 public:
  absl::StatusOr<std::shared_ptr<QueueBackend>> CreateAnonymous(
      const QueueIdentity& identity, const QueueShape& shape) const override {
    auto queue = PipeQueue::CreateAnonymous(identity, shape);
    if (!queue.ok()) return queue.status();
    return std::shared_ptr<QueueBackend>(*std::move(queue));
  }
  absl::StatusOr<std::shared_ptr<QueueBackend>> CreateNamed(
      absl::string_view name, const QueueIdentity& identity,
      const QueueShape& shape) const override {
    return CreateNamedQueue(name, identity, shape);
  }
  absl::StatusOr<std::shared_ptr<QueueBackend>> Open(
      absl::string_view name, const QueueIdentity& identity) const override {
    return OpenNamedQueue(name, identity);
  }
  absl::Status Unlink(absl::string_view name) const override { return UnlinkNamedQueue(name); }
};

}  // namespace

const Transport& PipeTransport() {
  static const Pipes* const pipes = new Pipes;  // never destroyed: used until exit
  return *pipes;
}

}  // namespace internal
}  // namespace channel
