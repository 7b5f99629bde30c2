// What a NATS queue is declared as, kept in its stream's description (nats-server 2.9 has no
// stream metadata): one line a typed_channel Open parses and compares, like the pipe transport's
// shared header. The description is written once, when the stream is created.
#ifndef CHANNEL_INTERNAL_NATS_NATS_IDENTITY_H_
#define CHANNEL_INTERNAL_NATS_NATS_IDENTITY_H_

#include <cstdint>
#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "channel/internal/shm/shared_state.h"

namespace channel {
namespace internal {

struct NatsQueueHeader {
  QueueIdentity identity;
  int64_t maxsize = 0;  // 0: unbounded
  uint64_t max_message_bytes = 0;
};

// `nonce` makes two racing CreateNamed calls differ, so the server refuses the second stream
// instead of treating it as an idempotent re-creation.
std::string EncodeNatsDescription(const NatsQueueHeader& header, uint64_t nonce);
// kFailedPrecondition if `description` is not one EncodeNatsDescription wrote (the stream was
// not made by typed_channel, or by an incompatible version). Untrusted input.
absl::StatusOr<NatsQueueHeader> ParseNatsDescription(absl::string_view description);

}  // namespace internal
}  // namespace channel

#endif  // CHANNEL_INTERNAL_NATS_NATS_IDENTITY_H_
