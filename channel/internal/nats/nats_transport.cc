#include "channel/internal/nats/nats_transport.h"

#include "channel/internal/nats/nats_queue.h"

namespace channel {
namespace internal {
namespace {

class Nats final : public Transport {
 public:
  absl::StatusOr<std::shared_ptr<QueueBackend>> CreateAnonymous(
      const QueueIdentity&, const QueueShape&) const override {
    return absl::InvalidArgumentError("NATS queues are named: use CreateNamed(\"nats://...\")");
  }
  absl::StatusOr<std::shared_ptr<QueueBackend>> CreateNamed(
      absl::string_view name, const QueueIdentity& identity,
      const QueueShape& shape) const override {
    return NatsQueue::Create(name, identity, shape);
  }
  absl::StatusOr<std::shared_ptr<QueueBackend>> Open(
      absl::string_view name, const QueueIdentity& identity) const override {
    return NatsQueue::Open(name, identity);
  }
  absl::Status Unlink(absl::string_view name) const override { return NatsQueue::Unlink(name); }
};

}  // namespace

const Transport& NatsTransport() {
  static const Nats* const nats = new Nats;  // never destroyed: used until exit
  return *nats;
}

}  // namespace internal
}  // namespace channel
