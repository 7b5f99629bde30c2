// Frame codec: the wire format of the pipe.
//
// Every item travels as one frame: a 32-byte header followed by the payload (a Cap'n Proto
// message in standard flat-array form: segment table, then segments). All integers are
// little-endian.
//
//   offset size field
//        0    4 magic            0x31464354 ("TCF1")
//        4    2 kind             1 = item, 2 = tombstone, 3 = slab item (see below)
//        6    2 version          kFrameVersion
//        8    8 seq              queue-wide sequence number, assigned under the writer lock
//       16    4 payload_bytes    item: a multiple of 8, <= the queue's max_message_bytes;
//                                tombstone: 0; slab item: kSlabRefBytes
//       20    4 payload_crc      CRC-32C of the payload
//       24    4 reserved         0
//       28    4 header_crc       CRC-32C of bytes 0..27
//
// A slab item is an item whose message lies in the queue's shared slab (slab.h); its payload is
// only a reference to the block. Items of both kinds get consecutive seqs. A tombstone closes a
// batch whose writer died (pipe_writer.h) and carries the seq of the batch's last item: "no item up
// to seq that you have not seen yet will ever come". The reader that meets it counts those items
// lost, except the ones already counted (Ledger::accounted_through).
//
// Bytes from the pipe are untrusted: DecodeHeader checks everything a reader relies on before
// the reader believes a length. A reader that finds garbage scans forward for the next header
// that decodes (FindMagic), which is how it re-synchronises after a torn frame.
#ifndef CHANNEL_INTERNAL_WIRE_FRAME_H_
#define CHANNEL_INTERNAL_WIRE_FRAME_H_

#include <cstddef>
#include <cstdint>

#include "absl/status/statusor.h"

namespace channel {
namespace internal {

inline constexpr uint32_t kFrameMagic = 0x31464354;
inline constexpr uint16_t kFrameVersion = 1;
inline constexpr size_t kFrameHeaderBytes = 32;

enum class FrameKind : uint16_t { kItem = 1, kTombstone = 2, kSlabItem = 3 };
inline bool IsItem(FrameKind kind) { return kind != FrameKind::kTombstone; }
inline constexpr uint32_t kSlabRefBytes = 16;

struct FrameHeader {
  FrameKind kind = FrameKind::kItem;
  uint64_t seq = 0;
  uint32_t payload_bytes = 0;
  uint32_t payload_crc = 0;

  size_t frame_bytes() const { return kFrameHeaderBytes + payload_bytes; }
};

// Writes the 32 header bytes to `out`.
void EncodeHeader(const FrameHeader& header, char* out);
// The same without the header CRC (left 0), for a frame whose seq StampSeq sets, and whose header
// it seals, later: what the feeder buffers. A reader refuses an unsealed header.
void EncodeUnsealedHeader(const FrameHeader& header, char* out);

// Sets the seq of a header this process encoded (trusted: not validated) and re-seals its
// header CRC; returns the size of the whole frame. For stamping seqs under the writer lock.
size_t StampSeq(char* header, uint64_t seq);
// The kind of a header this process encoded (trusted).
FrameKind KindOf(const char* header);

// Decodes and validates 32 bytes. kDataLoss when they are not a header this version wrote, or the
// payload would exceed max_payload_bytes.
absl::StatusOr<FrameHeader> DecodeHeader(const char* in, size_t max_payload_bytes);

// Checks a complete frame's payload against its header (kDataLoss on mismatch).
absl::Status VerifyPayload(const FrameHeader& header, const char* payload);

// Offset of the first position in [data, data+size) at which the magic starts, or where a magic
// cut off by the end of the range could start; `size` if neither.
size_t FindMagic(const char* data, size_t size);

}  // namespace internal
}  // namespace channel

#endif  // CHANNEL_INTERNAL_WIRE_FRAME_H_
