// Message contents when messages are made per Put (ChannelSpec::fresh_messages), the same for
// every system (cpython_baseline.py has a copy): every 8-byte word of the payload is
// (id ^ kPayloadPattern) in little-endian order, a partial last word its first bytes. The
// producer writes every byte of each message; the consumer reads every byte into
// PayloadChecksum, and the scenario driver compares that with ExpectedChecksum(id, size), which
// costs O(1), so a message with a wrong, stale or torn payload fails the repetition.
#ifndef BENCH_PAYLOAD_H_
#define BENCH_PAYLOAD_H_

#include <cstddef>
#include <cstdint>
#include <cstring>

namespace bench {

static_assert(__BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__, "the payload pattern is little-endian");

inline constexpr uint64_t kPayloadPattern = 0x9E3779B97F4A7C15ull;

inline void FillPayload(void* dst, size_t n, uint64_t id) {
  const uint64_t word = id ^ kPayloadPattern;
  char* p = static_cast<char*>(dst);
  size_t i = 0;
  for (; i + sizeof word <= n; i += sizeof word) memcpy(p + i, &word, sizeof word);
  memcpy(p + i, &word, n - i);
}

// The sum of the payload's whole words plus its remaining bytes, mod 2^64.
inline uint64_t PayloadChecksum(const void* src, size_t n) {
  const char* p = static_cast<const char*>(src);
  uint64_t sum = 0;
  size_t i = 0;
  for (; i + sizeof sum <= n; i += sizeof sum) {
    uint64_t word;
    memcpy(&word, p + i, sizeof word);
    sum += word;
  }
  for (; i < n; ++i) sum += static_cast<unsigned char>(p[i]);
  return sum;
}

inline uint64_t ExpectedChecksum(uint64_t id, size_t n) {
  const uint64_t word = id ^ kPayloadPattern;
  uint64_t sum = word * (n / sizeof word);
  for (size_t i = 0; i < n % sizeof word; ++i) sum += (word >> (8 * i)) & 0xff;
  return sum;
}

}  // namespace bench

#endif  // BENCH_PAYLOAD_H_
