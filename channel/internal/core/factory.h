// The transport factory: which Transport (transport.h) serves a queue name.
//
//   "jobs"              a plain name: the local transport (pipe/), and every anonymous queue
//   "nats://h:p/jobs"   the transport registered for the scheme "nats://"
//
// A name with "://" whose scheme nobody registered is kInvalidArgument, naming the schemes that
// exist (never the rest of the name, which may carry credentials).
#ifndef CHANNEL_INTERNAL_CORE_FACTORY_H_
#define CHANNEL_INTERNAL_CORE_FACTORY_H_

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "channel/internal/core/transport.h"

namespace channel {
namespace internal {

// The transport of plain names, which also makes anonymous queues.
const Transport& LocalTransport();

// The transport for `name`'s form; kInvalidArgument for an unknown scheme.
absl::StatusOr<const Transport*> TransportFor(absl::string_view name);

}  // namespace internal
}  // namespace channel

#endif  // CHANNEL_INTERNAL_CORE_FACTORY_H_
