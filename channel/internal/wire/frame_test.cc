// Unit tests of the frame codec (frame.h): the header round trip, rejection of every corrupted
// or inconsistent header, payload checksums, and FindMagic's resynchronisation contract.
#include "channel/internal/wire/frame.h"

#include <cstring>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "channel/internal/wire/crc32c.h"

namespace channel {
namespace internal {
namespace {

constexpr size_t kMax = 1 << 20;

std::string Header(const FrameHeader& h) {
  std::string out(kFrameHeaderBytes, '\0');
  EncodeHeader(h, &out[0]);
  return out;
}

// Raw header bytes with arbitrary field values and a *correct* header crc, to reach the checks
// behind the crc.
std::string RawHeader(uint32_t magic, uint16_t kind, uint16_t version, uint64_t seq,
                      uint32_t payload_bytes, uint32_t payload_crc, uint32_t reserved) {
  std::string out(kFrameHeaderBytes, '\0');
  memcpy(&out[0], &magic, 4);
  memcpy(&out[4], &kind, 2);
  memcpy(&out[6], &version, 2);
  memcpy(&out[8], &seq, 8);
  memcpy(&out[16], &payload_bytes, 4);
  memcpy(&out[20], &payload_crc, 4);
  memcpy(&out[24], &reserved, 4);
  const uint32_t crc = Crc32c(out.data(), 28);
  memcpy(&out[28], &crc, 4);
  return out;
}

FrameHeader Item(uint64_t seq, const std::string& payload) {
  FrameHeader h;
  h.kind = FrameKind::kItem;
  h.seq = seq;
  h.payload_bytes = static_cast<uint32_t>(payload.size());
  h.payload_crc = Crc32c(payload.data(), payload.size());
  return h;
}

TEST(FrameTest, LayoutIsAsDocumented) {
  const std::string payload(24, 'x');
  const std::string h = Header(Item(0x0102030405060708ull, payload));
  ASSERT_EQ(h.size(), 32u);
  EXPECT_EQ(h.substr(0, 4), "TCF1");
  uint16_t kind, version;
  uint64_t seq;
  uint32_t bytes, crc, reserved, header_crc;
  memcpy(&kind, &h[4], 2);
  memcpy(&version, &h[6], 2);
  memcpy(&seq, &h[8], 8);
  memcpy(&bytes, &h[16], 4);
  memcpy(&crc, &h[20], 4);
  memcpy(&reserved, &h[24], 4);
  memcpy(&header_crc, &h[28], 4);
  EXPECT_EQ(kind, 1);
  EXPECT_EQ(version, kFrameVersion);
  EXPECT_EQ(seq, 0x0102030405060708ull);
  EXPECT_EQ(bytes, 24u);
  EXPECT_EQ(crc, Crc32c(payload.data(), payload.size()));
  EXPECT_EQ(reserved, 0u);
  EXPECT_EQ(header_crc, Crc32c(h.data(), 28));
}

TEST(FrameTest, ItemRoundTrip) {
  for (uint64_t seq : {uint64_t{1}, uint64_t{2}, uint64_t{1} << 40, ~uint64_t{0}}) {
    for (size_t size : {size_t{0}, size_t{8}, size_t{64}, size_t{4096}}) {
      std::string payload(size, '\0');
      for (size_t i = 0; i < size; ++i) payload[i] = static_cast<char>(i * 37 + seq);
      const FrameHeader in = Item(seq, payload);
      const std::string bytes = Header(in);
      absl::StatusOr<FrameHeader> out = DecodeHeader(bytes.data(), kMax);
      ASSERT_TRUE(out.ok()) << out.status();
      EXPECT_EQ(out->kind, FrameKind::kItem);
      EXPECT_EQ(out->seq, seq);
      EXPECT_EQ(out->payload_bytes, size);
      EXPECT_EQ(out->payload_crc, in.payload_crc);
      EXPECT_EQ(out->frame_bytes(), kFrameHeaderBytes + size);
      EXPECT_TRUE(VerifyPayload(*out, payload.data()).ok());
    }
  }
}

TEST(FrameTest, StampSeqSealsAnUnsealedHeader) {
  const std::string payload(40, 'y');
  std::string h(kFrameHeaderBytes, '\xff');
  EncodeUnsealedHeader(Item(0, payload), &h[0]);  // as Put buffers it
  EXPECT_EQ(DecodeHeader(h.data(), 1 << 20).status().code(), absl::StatusCode::kDataLoss)
      << "an unsealed header must not pass for a frame";
  EXPECT_EQ(StampSeq(&h[0], 77), kFrameHeaderBytes + 40);
  EXPECT_EQ(h, Header(Item(77, payload)));
  absl::StatusOr<FrameHeader> d = DecodeHeader(h.data(), 1 << 20);
  ASSERT_TRUE(d.ok()) << d.status();
  EXPECT_EQ(d->seq, 77u);
}

TEST(FrameTest, TombstoneRoundTrip) {
  FrameHeader t;
  t.kind = FrameKind::kTombstone;
  t.seq = 77;
  const std::string bytes = Header(t);
  absl::StatusOr<FrameHeader> out = DecodeHeader(bytes.data(), kMax);
  ASSERT_TRUE(out.ok()) << out.status();
  EXPECT_EQ(out->kind, FrameKind::kTombstone);
  EXPECT_EQ(out->seq, 77u);
  EXPECT_EQ(out->payload_bytes, 0u);
  EXPECT_EQ(out->frame_bytes(), kFrameHeaderBytes);
}

TEST(FrameTest, SlabItemsCarryExactlyAReference) {
  FrameHeader h{FrameKind::kSlabItem, 9, kSlabRefBytes, 0};
  std::string bytes = Header(h);
  absl::StatusOr<FrameHeader> out = DecodeHeader(bytes.data(), kMax);
  ASSERT_TRUE(out.ok()) << out.status();
  EXPECT_EQ(out->kind, FrameKind::kSlabItem);
  EXPECT_TRUE(IsItem(out->kind));
  EXPECT_EQ(KindOf(bytes.data()), FrameKind::kSlabItem);
  EXPECT_EQ(out->frame_bytes(), kFrameHeaderBytes + kSlabRefBytes);
  for (uint32_t wrong : {0u, 8u, 24u, 1u << 20}) {
    h.payload_bytes = wrong;
    bytes = Header(h);
    EXPECT_EQ(DecodeHeader(bytes.data(), kMax).status().code(), absl::StatusCode::kDataLoss);
  }
}

TEST(FrameTest, EveryCorruptionOfEveryHeaderByteIsRejected) {
  const std::string payload(16, 'p');
  for (FrameKind kind : {FrameKind::kItem, FrameKind::kTombstone, FrameKind::kSlabItem}) {
    FrameHeader h = Item(12345, payload);
    if (kind == FrameKind::kTombstone) h = FrameHeader{kind, 12345, 0, 0};
    if (kind == FrameKind::kSlabItem) h = FrameHeader{kind, 12345, kSlabRefBytes, 0};
    const std::string good = Header(h);
    ASSERT_TRUE(DecodeHeader(good.data(), kMax).ok());
    for (size_t i = 0; i < kFrameHeaderBytes; ++i) {
      for (int v = 0; v < 256; ++v) {
        if (static_cast<char>(v) == good[i]) continue;
        std::string bad = good;
        bad[i] = static_cast<char>(v);
        absl::StatusOr<FrameHeader> out = DecodeHeader(bad.data(), kMax);
        ASSERT_FALSE(out.ok()) << "byte " << i << " = " << v << " accepted";
        ASSERT_EQ(out.status().code(), absl::StatusCode::kDataLoss) << out.status();
      }
    }
  }
}

TEST(FrameTest, MultiBitCorruptionsAreRejected) {
  // CRC-32C detects every burst of up to 32 bits: flip all bit pairs of the header.
  const std::string good = Header(Item(9, std::string(8, 'a')));
  for (size_t a = 0; a < 8 * kFrameHeaderBytes; ++a) {
    for (size_t b = a + 1; b < 8 * kFrameHeaderBytes; ++b) {
      std::string bad = good;
      bad[a / 8] ^= static_cast<char>(1 << (a % 8));
      bad[b / 8] ^= static_cast<char>(1 << (b % 8));
      ASSERT_EQ(DecodeHeader(bad.data(), kMax).status().code(), absl::StatusCode::kDataLoss)
          << "bits " << a << "," << b;
    }
  }
}

TEST(FrameTest, FieldChecksBehindAValidCrc) {
  const uint32_t m = kFrameMagic;
  // Sanity: RawHeader builds a valid header when the fields are valid.
  ASSERT_TRUE(DecodeHeader(RawHeader(m, 1, kFrameVersion, 1, 8, 0, 0).data(), kMax).ok());
  struct Case {
    const char* what;
    std::string bytes;
  } cases[] = {
      {"bad magic", RawHeader(m ^ 1, 1, kFrameVersion, 1, 8, 0, 0)},
      {"version 0", RawHeader(m, 1, 0, 1, 8, 0, 0)},
      {"version 2", RawHeader(m, 1, kFrameVersion + 1, 1, 8, 0, 0)},
      {"reserved != 0", RawHeader(m, 1, kFrameVersion, 1, 8, 0, 1)},
      {"kind 0", RawHeader(m, 0, kFrameVersion, 1, 8, 0, 0)},
      {"kind 4", RawHeader(m, 4, kFrameVersion, 1, 0, 0, 0)},
      {"kind 0xffff", RawHeader(m, 0xffff, kFrameVersion, 1, 8, 0, 0)},
      {"payload not a multiple of 8", RawHeader(m, 1, kFrameVersion, 1, 12, 0, 0)},
      {"payload of 1 byte", RawHeader(m, 1, kFrameVersion, 1, 1, 0, 0)},
      {"payload over the limit", RawHeader(m, 1, kFrameVersion, 1, kMax + 8, 0, 0)},
      {"payload of 4 GiB - 8", RawHeader(m, 1, kFrameVersion, 1, 0xfffffff8u, 0, 0)},
      {"tombstone with a payload", RawHeader(m, 2, kFrameVersion, 1, 8, 0, 0)},
      {"tombstone with an unaligned payload", RawHeader(m, 2, kFrameVersion, 1, 3, 0, 0)},
      {"kind 3", RawHeader(m, 3, kFrameVersion, 1, 0, 0, 0)},
  };
  for (const Case& c : cases) {
    absl::StatusOr<FrameHeader> out = DecodeHeader(c.bytes.data(), kMax);
    EXPECT_EQ(out.status().code(), absl::StatusCode::kDataLoss) << c.what;
  }
}

TEST(FrameTest, PayloadLimitIsInclusive) {
  EXPECT_TRUE(DecodeHeader(RawHeader(kFrameMagic, 1, kFrameVersion, 1, 64, 0, 0).data(), 64).ok());
  EXPECT_EQ(DecodeHeader(RawHeader(kFrameMagic, 1, kFrameVersion, 1, 72, 0, 0).data(), 64)
                .status()
                .code(),
            absl::StatusCode::kDataLoss);
  // An oversize header made by EncodeHeader itself is rejected too.
  FrameHeader h;
  h.payload_bytes = 1 << 21;
  const std::string bytes = Header(h);
  absl::StatusOr<FrameHeader> out = DecodeHeader(bytes.data(), 1 << 20);
  EXPECT_EQ(out.status().code(), absl::StatusCode::kDataLoss);
  EXPECT_NE(out.status().message().find("limit"), absl::string_view::npos) << out.status();
  EXPECT_TRUE(DecodeHeader(bytes.data(), 1 << 21).ok());
}

TEST(FrameTest, PayloadCrcMismatchIsDataLoss) {
  std::string payload(64, '\0');
  for (size_t i = 0; i < payload.size(); ++i) payload[i] = static_cast<char>(i);
  const FrameHeader h = Item(5, payload);
  ASSERT_TRUE(VerifyPayload(h, payload.data()).ok());
  for (size_t i = 0; i < payload.size(); ++i) {
    std::string bad = payload;
    bad[i] ^= 0x10;
    absl::Status s = VerifyPayload(h, bad.data());
    EXPECT_EQ(s.code(), absl::StatusCode::kDataLoss) << "byte " << i;
  }
  FrameHeader wrong_crc = h;
  wrong_crc.payload_crc ^= 1;
  EXPECT_EQ(VerifyPayload(wrong_crc, payload.data()).code(), absl::StatusCode::kDataLoss);
  // An empty payload has crc 0.
  FrameHeader empty;
  EXPECT_TRUE(VerifyPayload(empty, payload.data()).ok());
}

std::string Magic() {
  std::string m(4, '\0');
  memcpy(&m[0], &kFrameMagic, 4);
  return m;
}

TEST(FrameTest, FindMagicWholeMagic) {
  const std::string m = Magic();
  EXPECT_EQ(FindMagic("", 0), 0u);
  EXPECT_EQ(FindMagic(m.data(), 4), 0u);
  std::string s = "abcde" + m + "xyz";
  EXPECT_EQ(FindMagic(s.data(), s.size()), 5u);
  s = "no magic here at all";
  EXPECT_EQ(FindMagic(s.data(), s.size()), s.size());
  // The first of several.
  s = "zz" + m + "yy" + m;
  EXPECT_EQ(FindMagic(s.data(), s.size()), 2u);
  // A false start (first byte of the magic, then something else) is skipped.
  s = "T" + std::string("CFx") + "TC" + m;
  EXPECT_EQ(FindMagic(s.data(), s.size()), 6u);
  // Embedded NULs are ordinary bytes.
  s = std::string("\0\0\0", 3) + m;
  EXPECT_EQ(FindMagic(s.data(), s.size()), 3u);
}

TEST(FrameTest, FindMagicPartialMagicAtTheEnd) {
  const std::string m = Magic();
  for (size_t k = 1; k < 4; ++k) {
    const std::string s = "garbage" + m.substr(0, k);
    EXPECT_EQ(FindMagic(s.data(), s.size()), 7u) << k << " magic bytes at the end";
    // The same prefix in the middle, followed by a mismatch, is not a candidate.
    const std::string t = "garbage" + m.substr(0, k) + "!" + "tail";
    EXPECT_EQ(FindMagic(t.data(), t.size()), t.size()) << k;
  }
  // A prefix that goes wrong before the end of the range is not a candidate either.
  const std::string u = "ab" + m.substr(0, 2) + "X";
  EXPECT_EQ(FindMagic(u.data(), u.size()), u.size());
}

TEST(FrameTest, FindMagicFindsEveryEncodedHeader) {
  // A stream of frames separated by junk: FindMagic from just after each frame start lands on
  // the next frame start (what Resync relies on), given the junk has no 'T'.
  std::string stream;
  std::vector<size_t> starts;
  for (int i = 0; i < 20; ++i) {
    stream += std::string(static_cast<size_t>(i % 5), 'j');
    starts.push_back(stream.size());
    stream += Header(Item(static_cast<uint64_t>(i + 1), std::string(8 * (i % 3), 'p')));
    stream += std::string(8 * (i % 3), 'p');
  }
  for (size_t i = 0; i + 1 < starts.size(); ++i) {
    const size_t from = starts[i] + 1;
    EXPECT_EQ(from + FindMagic(stream.data() + from, stream.size() - from), starts[i + 1]);
  }
}

}  // namespace
}  // namespace internal
}  // namespace channel
