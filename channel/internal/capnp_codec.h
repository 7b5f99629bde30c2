// Cap'n Proto glue: flat-array framing of a MessageBuilder's segments, and validated decoding of
// received payloads. This is the only file that catches kj exceptions: capnp reports malformed
// input by throwing, and nothing may escape the library, so every capnp call on untrusted bytes
// or user-supplied messages happens in here, inside a try.
#ifndef CHANNEL_INTERNAL_CAPNP_CODEC_H_
#define CHANNEL_INTERNAL_CAPNP_CODEC_H_

#include <cstddef>
#include <cstdint>
#include <memory>

#include <capnp/any.h>
#include <capnp/message.h>
#include <capnp/serialize.h>

#include "absl/functional/function_ref.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "channel/internal/pipe_reader.h"

namespace channel {
namespace internal {

// Size of the standard serialization of `segments` (segment table + segments).
size_t SerializedBytes(kj::ArrayPtr<const kj::ArrayPtr<const capnp::word>> segments);
// Writes that serialization to out[0, SerializedBytes(segments)).
void WriteSegments(kj::ArrayPtr<const kj::ArrayPtr<const capnp::word>> segments, char* out);

// Gets a builder's segments after checking it has a struct root. kInvalidArgument otherwise.
absl::StatusOr<kj::ArrayPtr<const kj::ArrayPtr<const capnp::word>>> SegmentsOf(
    capnp::MessageBuilder& message);

// Copies `root` into a builder over a reusable per-thread scratch area (no allocation once it
// has grown) and passes the builder to `put`. Errors from reading `root` become kInvalidArgument.
absl::Status WithCopiedMessage(capnp::AnyStruct::Reader root,
                               absl::FunctionRef<absl::Status(capnp::MessageBuilder&)> put);

// Parses and fully validates a received payload (segment table, every pointer, nesting) so that
// the caller's later reads cannot throw. kDataLoss with the reason otherwise. The reader has no
// traversal limit; `root_out`, if given, receives its root struct (valid while the reader and the
// payload live), which spares the caller another getRoot().
absl::StatusOr<std::unique_ptr<capnp::FlatArrayMessageReader>> OpenPayload(
    const Payload& payload, capnp::AnyStruct::Reader* root_out = nullptr);

}  // namespace internal
}  // namespace channel

#endif  // CHANNEL_INTERNAL_CAPNP_CODEC_H_
