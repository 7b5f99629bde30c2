// Received: one message as the queue core hands it to Message<T> (message.h), validated.
#ifndef CHANNEL_INTERNAL_CORE_RECEIVED_H_
#define CHANNEL_INTERNAL_CORE_RECEIVED_H_

#include <memory>

#include <capnp/any.h>
#include <capnp/serialize.h>

#include "channel/internal/wire/payload.h"

namespace channel {
namespace internal {

// `root` reads `payload`, through `reader` unless that is null (see wire/capnp_codec.h's
// OpenedPayload); moving the struct or its members does not invalidate it.
struct Received {
  Payload payload;
  std::unique_ptr<capnp::FlatArrayMessageReader> reader;
  capnp::AnyStruct::Reader root;
};

}  // namespace internal
}  // namespace channel

#endif  // CHANNEL_INTERNAL_CORE_RECEIVED_H_
