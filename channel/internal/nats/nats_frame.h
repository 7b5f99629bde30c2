// The bytes of one item in a NATS stream: the pipe's frame (wire/frame.h, kind item, seq 0)
// holding the Cap'n Proto message. The header's magic and CRCs let a consumer tell an item from
// anything else published on the subject (the stream is open to any client with rights on it).
//
// Message bodies from the server are untrusted: DecodeNatsFrame checks everything before it
// copies the payload; Cap'n Proto validation of the payload is the caller's (OpenPayload).
#ifndef CHANNEL_INTERNAL_NATS_NATS_FRAME_H_
#define CHANNEL_INTERNAL_NATS_NATS_FRAME_H_

#include <cstddef>
#include <string>

#include "absl/functional/function_ref.h"
#include "absl/status/statusor.h"
#include "channel/internal/wire/payload.h"

namespace channel {
namespace internal {

// Makes `out` the frame of a payload of `payload_bytes` bytes that `encode` writes.
void EncodeNatsFrame(size_t payload_bytes, absl::FunctionRef<void(char*)> encode,
                     std::string* out);

// kDataLoss unless [data, data+size) is exactly one item frame whose payload is at most
// max_payload_bytes and matches its CRC.
absl::StatusOr<Payload> DecodeNatsFrame(const char* data, size_t size, size_t max_payload_bytes);

}  // namespace internal
}  // namespace channel

#endif  // CHANNEL_INTERNAL_NATS_NATS_FRAME_H_
