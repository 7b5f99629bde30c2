// Transport: one way of making queues (the pipe transport, a network one), behind the factory
// (factory.h) that picks it by the form of a queue's name.
//
// Adding a transport is adding its files (channel/internal/<transport>/: a QueueBackend and a
// Transport) and one registration: a line in factory.cc's table and its target in core/BUILD's
// :factory. The queue core and the public headers do not change.
//
// Implementations are stateless singletons, thread-safe, and never throw. Names reach them as the
// user wrote them, scheme included; each transport validates its own names (kInvalidArgument
// saying what a valid name is) and must never echo credentials a name may carry.
#ifndef CHANNEL_INTERNAL_CORE_TRANSPORT_H_
#define CHANNEL_INTERNAL_CORE_TRANSPORT_H_

#include <memory>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "channel/internal/core/backend.h"
#include "channel/internal/core/queue_identity.h"

namespace channel {
namespace internal {

class Transport {
 public:
  virtual ~Transport() = default;

  // A queue only this process and its later fork()ed children share. Only the transport of plain
  // names is asked for these.
  virtual absl::StatusOr<std::shared_ptr<QueueBackend>> CreateAnonymous(
      const QueueIdentity& identity, const QueueShape& shape) const = 0;
  // The statuses of Queue<T>::CreateNamed / Open / Unlink (queue.h).
  virtual absl::StatusOr<std::shared_ptr<QueueBackend>> CreateNamed(
      absl::string_view name, const QueueIdentity& identity, const QueueShape& shape) const = 0;
  virtual absl::StatusOr<std::shared_ptr<QueueBackend>> Open(
      absl::string_view name, const QueueIdentity& identity) const = 0;
  virtual absl::Status Unlink(absl::string_view name) const = 0;
};

}  // namespace internal
}  // namespace channel

#endif  // CHANNEL_INTERNAL_CORE_TRANSPORT_H_
