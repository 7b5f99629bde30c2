// The pipe transport's registration with the transport factory (core/factory.h): plain names
// (named_store.h) and anonymous queues (PipeQueue::CreateAnonymous).
#ifndef CHANNEL_INTERNAL_PIPE_PIPE_TRANSPORT_H_
#define CHANNEL_INTERNAL_PIPE_PIPE_TRANSPORT_H_

#include "channel/internal/core/transport.h"

namespace channel {
namespace internal {

const Transport& PipeTransport();

}  // namespace internal
}  // namespace channel

#endif  // CHANNEL_INTERNAL_PIPE_PIPE_TRANSPORT_H_
