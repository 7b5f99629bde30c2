// The NATS transport's registration with the transport factory (core/factory.h): names of the
// form nats://HOST:PORT[,HOST:PORT...]/NAME (docs/distributed.md). No anonymous queues.
#ifndef CHANNEL_INTERNAL_NATS_NATS_TRANSPORT_H_
#define CHANNEL_INTERNAL_NATS_NATS_TRANSPORT_H_

#include "channel/internal/core/transport.h"

namespace channel {
namespace internal {

const Transport& NatsTransport();

}  // namespace internal
}  // namespace channel

#endif  // CHANNEL_INTERNAL_NATS_NATS_TRANSPORT_H_
