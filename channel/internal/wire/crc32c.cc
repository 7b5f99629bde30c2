#include "channel/internal/wire/crc32c.h"

#include <cstring>

namespace channel {
namespace internal {
namespace {

struct Table {
  uint32_t t[256];
  Table() {
    for (uint32_t i = 0; i < 256; ++i) {
      uint32_t c = i;
      for (int k = 0; k < 8; ++k) c = (c & 1) ? (c >> 1) ^ 0x82F63B78u : c >> 1;
      t[i] = c;
    }
  }
};

uint32_t SoftwareCrc(uint32_t crc, const uint8_t* p, size_t n) {
  static const Table table;
  for (size_t i = 0; i < n; ++i) crc = table.t[(crc ^ p[i]) & 0xff] ^ (crc >> 8);
  return crc;
}

#if defined(__x86_64__)
// One dependent chain of crc32q runs at a third of the instruction's throughput (3-cycle
// latency, 1 per cycle issue), so long inputs are split in three equal blocks checksummed in
// one interleaved loop, and the three register values joined with Shift below (CRC is linear:
// crc(A·B) = Shift(crc(A), |B|) ^ crc_from_zero(B)).
constexpr size_t kLongBlock = 4096;  // per stream; inputs of 12 KiB and up
constexpr size_t kShortBlock = 256;  // per stream; 768 bytes and up

__attribute__((target("sse4.2"))) uint64_t Crc8Bytes(uint64_t crc, const uint8_t* p) {
  uint64_t v;
  memcpy(&v, p, 8);
  return __builtin_ia32_crc32di(crc, v);
}

// Multiplies a CRC register by x^(8 * block) mod P: the register after `block` zero bytes.
// Linear in the register, so it is four table lookups, one per register byte.
class ShiftTable {
 public:
  __attribute__((target("sse4.2"))) explicit ShiftTable(size_t block) {
    uint32_t bit_image[32];
    for (int bit = 0; bit < 32; ++bit) {
      uint64_t c = uint32_t{1} << bit;
      for (size_t i = 0; i < block; i += 8) c = __builtin_ia32_crc32di(c, 0);
      bit_image[bit] = static_cast<uint32_t>(c);
    }
    for (int k = 0; k < 4; ++k) {
      for (uint32_t b = 0; b < 256; ++b) {
        uint32_t v = 0;
        for (int j = 0; j < 8; ++j) {
          if (b & (1u << j)) v ^= bit_image[8 * k + j];
        }
        t_[k][b] = v;
      }
    }
  }
  uint32_t Shift(uint32_t crc) const {
    return t_[0][crc & 0xff] ^ t_[1][(crc >> 8) & 0xff] ^ t_[2][(crc >> 16) & 0xff] ^
           t_[3][crc >> 24];
  }

 private:
  uint32_t t_[4][256];
};

// Consumes as many whole rounds of 3 x `block` bytes as fit.
__attribute__((target("sse4.2"))) uint32_t Interleaved(uint32_t crc, const uint8_t** p,
                                                       size_t* n, size_t block,
                                                       const ShiftTable& shift) {
  while (*n >= 3 * block) {
    uint64_t c0 = crc, c1 = 0, c2 = 0;
    const uint8_t* a = *p;
    for (size_t i = 0; i < block; i += 8) {
      c0 = Crc8Bytes(c0, a + i);
      c1 = Crc8Bytes(c1, a + block + i);
      c2 = Crc8Bytes(c2, a + 2 * block + i);
    }
    crc = shift.Shift(static_cast<uint32_t>(c0)) ^ static_cast<uint32_t>(c1);
    crc = shift.Shift(crc) ^ static_cast<uint32_t>(c2);
    *p += 3 * block;
    *n -= 3 * block;
  }
  return crc;
}

__attribute__((target("sse4.2"))) uint32_t HardwareCrc(uint32_t crc, const uint8_t* p, size_t n) {
  if (n >= 3 * kShortBlock) {
    static const ShiftTable long_shift(kLongBlock);
    static const ShiftTable short_shift(kShortBlock);
    crc = Interleaved(crc, &p, &n, kLongBlock, long_shift);
    crc = Interleaved(crc, &p, &n, kShortBlock, short_shift);
  }
  uint64_t c = crc;
  while (n >= 8) {
    c = Crc8Bytes(c, p);
    p += 8;
    n -= 8;
  }
  uint32_t c32 = static_cast<uint32_t>(c);
  if (n >= 4) {  // e.g. the 28 bytes a frame header's CRC covers: 3 quadwords and a word
    uint32_t v;
    memcpy(&v, p, 4);
    c32 = __builtin_ia32_crc32si(c32, v);
    p += 4;
    n -= 4;
  }
  while (n-- > 0) c32 = __builtin_ia32_crc32qi(c32, *p++);
  return c32;
}

bool HasSse42() {
  static const bool has = __builtin_cpu_supports("sse4.2");
  return has;
}
#endif

}  // namespace

uint32_t Crc32c(const void* data, size_t size) {
  const auto* p = static_cast<const uint8_t*>(data);
#if defined(__x86_64__)
  if (HasSse42()) return ~HardwareCrc(~0u, p, size);
#endif
  return ~SoftwareCrc(~0u, p, size);
}

}  // namespace internal
}  // namespace channel
