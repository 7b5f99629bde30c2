// CRC-32C (Castagnoli), the checksum of every frame header and payload.
// Uses the SSE4.2 crc32 instruction when the CPU has it, a table otherwise; both give the same
// values, so processes on different machines sharing a named queue's files agree.
#ifndef CHANNEL_INTERNAL_WIRE_CRC32C_H_
#define CHANNEL_INTERNAL_WIRE_CRC32C_H_

#include <cstddef>
#include <cstdint>

namespace channel {
namespace internal {

uint32_t Crc32c(const void* data, size_t size);

}  // namespace internal
}  // namespace channel

#endif  // CHANNEL_INTERNAL_WIRE_CRC32C_H_
