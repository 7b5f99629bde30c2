// Cap'n Proto glue: flat-array framing of a MessageBuilder's segments, and validated decoding of
// received payloads. This is the only file that catches kj exceptions: capnp reports malformed
// input by throwing, and nothing may escape the library, so every capnp call on untrusted bytes
// or user-supplied messages happens in here, inside a try.
#ifndef CHANNEL_INTERNAL_WIRE_CAPNP_CODEC_H_
#define CHANNEL_INTERNAL_WIRE_CAPNP_CODEC_H_

#include <capnp/any.h>
#include <capnp/message.h>
#include <capnp/serialize.h>

#include <cstddef>
#include <cstdint>
#include <memory>

#include "absl/functional/function_ref.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "channel/internal/wire/payload.h"

namespace channel {
namespace internal {

// Size of the standard serialization of `segments` (segment table + segments).
size_t SerializedBytes(kj::ArrayPtr<const kj::ArrayPtr<const capnp::word>> segments);
// Writes that serialization to out[0, SerializedBytes(segments)).
void WriteSegments(kj::ArrayPtr<const kj::ArrayPtr<const capnp::word>> segments, char* out);

// The sizes of a struct's two sections, as its pointer records them.
struct StructShape {
  uint32_t data_words = 0;
  uint32_t pointers = 0;
};

// Gets a builder's segments after checking it has a struct root. kInvalidArgument otherwise.
// `root`, when not null, receives the root struct's shape.
absl::StatusOr<kj::ArrayPtr<const kj::ArrayPtr<const capnp::word>>> SegmentsOf(
    capnp::MessageBuilder& message, StructShape* root = nullptr);

// Copies `root` into a builder over a reusable per-thread scratch area (no allocation once it
// has grown) and passes the builder to `put`. Errors from reading `root` become kInvalidArgument.
absl::Status WithCopiedMessage(capnp::AnyStruct::Reader root,
                               absl::FunctionRef<absl::Status(capnp::MessageBuilder&)> put);

// A received message, validated. `root` reads the payload it was opened from and is valid while
// that payload (and `reader`, when there is one) lives; moving either does not invalidate it.
struct OpenedPayload {
  capnp::AnyStruct::Reader root;
  // The checked reader `root` reads through; null when the payload passed CheckFlatMessage
  // (flat_check.h) and `root` is an unchecked reader needing none.
  std::unique_ptr<capnp::FlatArrayMessageReader> reader;
};

// Parses and fully validates a received payload (segment table, every pointer, nesting,
// traversal amplification) so that the caller's later reads cannot throw or read out of bounds.
// kDataLoss with the reason otherwise. A single-segment message without far pointers (what a
// MessageBuilder produces for all but very large messages) is checked flat and read unchecked;
// any other goes through OpenPayloadChecked. Either way the reader has no traversal limit.
absl::StatusOr<OpenedPayload> OpenPayload(const Payload& payload);

// OpenPayload through capnp's checked reader only, never the flat path. The same verdict for
// every payload the flat path accepts (tests and fuzzers compare the two).
absl::StatusOr<OpenedPayload> OpenPayloadChecked(const Payload& payload);

}  // namespace internal
}  // namespace channel

#endif  // CHANNEL_INTERNAL_WIRE_CAPNP_CODEC_H_
