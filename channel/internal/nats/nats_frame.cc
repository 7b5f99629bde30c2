#include "channel/internal/nats/nats_frame.h"

#include <cstring>

#include "absl/strings/str_cat.h"
#include "channel/internal/wire/crc32c.h"
#include "channel/internal/wire/frame.h"

namespace channel {
namespace internal {

void EncodeNatsFrame(size_t payload_bytes, absl::FunctionRef<void(char*)> encode,
                     std::string* out) {
  out->resize(kFrameHeaderBytes + payload_bytes);
  char* payload = out->data() + kFrameHeaderBytes;
  encode(payload);
  FrameHeader h;
  h.kind = FrameKind::kItem;
  h.payload_bytes = static_cast<uint32_t>(payload_bytes);
  h.payload_crc = Crc32c(payload, payload_bytes);
  EncodeHeader(h, out->data());
}

absl::StatusOr<Payload> DecodeNatsFrame(const char* data, size_t size, size_t max_payload_bytes) {
  if (size < kFrameHeaderBytes) {
    return absl::DataLossError(
        absl::StrCat("NATS message of ", size, " bytes is not a typed_channel item"));
  }
  absl::StatusOr<FrameHeader> h = DecodeHeader(data, max_payload_bytes);
  if (!h.ok()) return h.status();
  if (h->kind != FrameKind::kItem || h->frame_bytes() != size) {
    return absl::DataLossError(absl::StrCat("NATS message of ", size,
                                            " bytes does not hold exactly one item frame"));
  }
  absl::Status verified = VerifyPayload(*h, data + kFrameHeaderBytes);
  if (!verified.ok()) return verified;
  Payload p;
  p.Reserve(h->payload_bytes);
  if (h->payload_bytes > 0) std::memcpy(p.words.get(), data + kFrameHeaderBytes, h->payload_bytes);
  p.bytes = h->payload_bytes;
  return p;
}

}  // namespace internal
}  // namespace channel
