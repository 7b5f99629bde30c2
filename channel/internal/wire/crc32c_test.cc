// Unit tests of CRC-32C (crc32c.h). The library picks the SSE4.2 instruction when the CPU has
// it and a table otherwise; only the public function is reachable, so it is checked against
// published vectors and against a bit-at-a-time reference implementation (the definition of
// CRC-32C, independent of both of the library's paths) at every length and alignment that
// exercises the 8-byte main loop and the byte tail.
#include "channel/internal/wire/crc32c.h"

#include <cstring>
#include <random>
#include <string>
#include <vector>

#include <gtest/gtest.h>

namespace channel {
namespace internal {
namespace {

uint32_t ReferenceCrc32c(const void* data, size_t n) {
  const auto* p = static_cast<const uint8_t*>(data);
  uint32_t crc = ~0u;
  for (size_t i = 0; i < n; ++i) {
    crc ^= p[i];
    for (int k = 0; k < 8; ++k) crc = (crc >> 1) ^ (0x82F63B78u & (0u - (crc & 1u)));
  }
  return ~crc;
}

TEST(Crc32cTest, CheckValue) {
  EXPECT_EQ(Crc32c("123456789", 9), 0xE3069283u);
  EXPECT_EQ(ReferenceCrc32c("123456789", 9), 0xE3069283u);
}

TEST(Crc32cTest, EmptyInput) {
  EXPECT_EQ(Crc32c("", 0), 0u);
  EXPECT_EQ(Crc32c(nullptr, 0), 0u);
}

// RFC 3720 (iSCSI) appendix B.4 test vectors.
TEST(Crc32cTest, Rfc3720Vectors) {
  uint8_t buf[32];
  memset(buf, 0, sizeof buf);
  EXPECT_EQ(Crc32c(buf, 32), 0x8A9136AAu);
  memset(buf, 0xff, sizeof buf);
  EXPECT_EQ(Crc32c(buf, 32), 0x62A8AB43u);
  for (int i = 0; i < 32; ++i) buf[i] = static_cast<uint8_t>(i);
  EXPECT_EQ(Crc32c(buf, 32), 0x46DD794Eu);
  for (int i = 0; i < 32; ++i) buf[i] = static_cast<uint8_t>(31 - i);
  EXPECT_EQ(Crc32c(buf, 32), 0x113FDB5Cu);
  const uint8_t iscsi_read[48] = {
      0x01, 0xc0, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
      0x00, 0x00, 0x00, 0x00, 0x14, 0x00, 0x00, 0x00, 0x00, 0x00, 0x04, 0x00,
      0x00, 0x00, 0x00, 0x14, 0x00, 0x00, 0x00, 0x18, 0x28, 0x00, 0x00, 0x00,
      0x00, 0x00, 0x00, 0x00, 0x02, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00};
  EXPECT_EQ(Crc32c(iscsi_read, sizeof iscsi_read), 0xD9963A56u);
}

TEST(Crc32cTest, MoreKnownVectors) {
  EXPECT_EQ(Crc32c("a", 1), 0xC1D04330u);
  EXPECT_EQ(Crc32c("abc", 3), 0x364B3FB7u);
  const std::string fox = "The quick brown fox jumps over the lazy dog";
  EXPECT_EQ(Crc32c(fox.data(), fox.size()), 0x22620404u);
}

TEST(Crc32cTest, AgreesWithReferenceAtEveryLengthAndAlignment) {
  std::mt19937 rng(12345);
  std::vector<uint8_t> buf(1024 + 16);
  for (auto& b : buf) b = static_cast<uint8_t>(rng());
  for (size_t align = 0; align < 16; ++align) {
    for (size_t len = 0; len <= 1024; ++len) {
      const uint8_t* p = buf.data() + align;
      ASSERT_EQ(Crc32c(p, len), ReferenceCrc32c(p, len)) << "align " << align << " len " << len;
    }
  }
}

TEST(Crc32cTest, AgreesWithReferenceAroundTheInterleavedBlockSizes) {
  // Long inputs are checksummed as three interleaved streams of 4 KiB, then of 256 bytes, and
  // the rest in one stream; each boundary is crossed here, at odd alignments too.
  std::mt19937 rng(99);
  std::vector<uint8_t> buf(3 * 3 * 4096 + 64);
  for (auto& b : buf) b = static_cast<uint8_t>(rng());
  for (size_t base : {size_t{3 * 256}, size_t{2 * 3 * 256}, size_t{3 * 4096},
                      size_t{3 * 4096 + 3 * 256}, size_t{2 * 3 * 4096}}) {
    for (size_t len = base - 9; len <= base + 9; ++len) {
      for (size_t align : {0, 1, 7}) {
        const uint8_t* p = buf.data() + align;
        ASSERT_EQ(Crc32c(p, len), ReferenceCrc32c(p, len)) << "align " << align << " len " << len;
      }
    }
  }
}

TEST(Crc32cTest, LargeBuffer) {
  std::vector<uint8_t> buf((1 << 20) + 3);
  std::mt19937 rng(7);
  for (auto& b : buf) b = static_cast<uint8_t>(rng());
  EXPECT_EQ(Crc32c(buf.data(), buf.size()), ReferenceCrc32c(buf.data(), buf.size()));
}

TEST(Crc32cTest, DetectsEverySingleBitFlip) {
  std::vector<uint8_t> buf(64);
  for (size_t i = 0; i < buf.size(); ++i) buf[i] = static_cast<uint8_t>(i * 13);
  const uint32_t good = Crc32c(buf.data(), buf.size());
  for (size_t bit = 0; bit < 8 * buf.size(); ++bit) {
    buf[bit / 8] ^= static_cast<uint8_t>(1u << (bit % 8));
    EXPECT_NE(Crc32c(buf.data(), buf.size()), good) << bit;
    buf[bit / 8] ^= static_cast<uint8_t>(1u << (bit % 8));
  }
}

}  // namespace
}  // namespace internal
}  // namespace channel
