#include "channel/internal/wire/frame.h"

#include <cstring>

#include "absl/strings/str_cat.h"
#include "channel/internal/wire/crc32c.h"

namespace channel {
namespace internal {
namespace {

template <typename U>
void Put(char* out, size_t offset, U v) {
  memcpy(out + offset, &v, sizeof v);  // x86-64 and aarch64 Linux are little-endian.
}
template <typename U>
U Get(const char* in, size_t offset) {
  U v;
  memcpy(&v, in + offset, sizeof v);
  return v;
}

}  // namespace

void EncodeUnsealedHeader(const FrameHeader& h, char* out) {
  Put<uint32_t>(out, 0, kFrameMagic);
  Put<uint16_t>(out, 4, static_cast<uint16_t>(h.kind));
  Put<uint16_t>(out, 6, kFrameVersion);
  Put<uint64_t>(out, 8, h.seq);
  Put<uint32_t>(out, 16, h.payload_bytes);
  Put<uint32_t>(out, 20, h.payload_crc);
  Put<uint32_t>(out, 24, 0);
  Put<uint32_t>(out, 28, 0);
}

void EncodeHeader(const FrameHeader& h, char* out) {
  EncodeUnsealedHeader(h, out);
  Put<uint32_t>(out, 28, Crc32c(out, 28));
}

size_t StampSeq(char* header, uint64_t seq) {
  Put<uint64_t>(header, 8, seq);
  Put<uint32_t>(header, 28, Crc32c(header, 28));
  return kFrameHeaderBytes + Get<uint32_t>(header, 16);
}

FrameKind KindOf(const char* header) { return static_cast<FrameKind>(Get<uint16_t>(header, 4)); }

absl::StatusOr<FrameHeader> DecodeHeader(const char* in, size_t max_payload_bytes) {
  if (Get<uint32_t>(in, 0) != kFrameMagic) return absl::DataLossError("frame: bad magic");
  if (Get<uint32_t>(in, 28) != Crc32c(in, 28)) return absl::DataLossError("frame: bad header crc");
  if (Get<uint16_t>(in, 6) != kFrameVersion || Get<uint32_t>(in, 24) != 0) {
    return absl::DataLossError(
        absl::StrCat("frame: unsupported version ", Get<uint16_t>(in, 6)));
  }
  FrameHeader h;
  const uint16_t kind = Get<uint16_t>(in, 4);
  h.seq = Get<uint64_t>(in, 8);
  h.payload_bytes = Get<uint32_t>(in, 16);
  h.payload_crc = Get<uint32_t>(in, 20);
  if (kind == static_cast<uint16_t>(FrameKind::kItem)) {
    h.kind = FrameKind::kItem;
    if (h.payload_bytes % 8 != 0 || h.payload_bytes > max_payload_bytes) {
      return absl::DataLossError(absl::StrCat("frame: payload of ", h.payload_bytes,
                                              " bytes is not a valid message size (limit ",
                                              max_payload_bytes, ")"));
    }
  } else if (kind == static_cast<uint16_t>(FrameKind::kSlabItem)) {
    h.kind = FrameKind::kSlabItem;
    if (h.payload_bytes != kSlabRefBytes) return absl::DataLossError("frame: bad slab reference");
  } else if (kind == static_cast<uint16_t>(FrameKind::kTombstone)) {
    h.kind = FrameKind::kTombstone;
    if (h.payload_bytes != 0) return absl::DataLossError("frame: tombstone with a payload");
  } else {
    return absl::DataLossError(absl::StrCat("frame: unknown kind ", kind));
  }
  return h;
}

absl::Status VerifyPayload(const FrameHeader& h, const char* payload) {
  if (Crc32c(payload, h.payload_bytes) != h.payload_crc) {
    return absl::DataLossError(absl::StrCat("frame ", h.seq, ": payload checksum mismatch"));
  }
  return absl::OkStatus();
}

size_t FindMagic(const char* data, size_t size) {
  char magic[4];
  memcpy(magic, &kFrameMagic, 4);
  for (size_t i = 0; i < size; ++i) {
    if (data[i] != magic[0]) continue;
    const size_t n = size - i < 4 ? size - i : 4;
    if (memcmp(data + i, magic, n) == 0) return i;
  }
  return size;
}

}  // namespace internal
}  // namespace channel
