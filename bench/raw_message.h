// The baselines' message: the same information as demo::Small, without a schema: a little-
// endian u64 id followed by the payload bytes. Shared by the pipe, Boost and ZeroMQ baselines.
#ifndef BENCH_RAW_MESSAGE_H_
#define BENCH_RAW_MESSAGE_H_

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <vector>

#include "bench/payload.h"
#include "bench/transport.h"

namespace bench {

inline constexpr size_t kRawIdBytes = 8;

// Writes a fresh message (id + payload made by FillPayload) at `dst`, which has room for
// kRawIdBytes + payload_bytes.
inline void WriteRawMessage(char* dst, uint64_t id, size_t payload_bytes) {
  memcpy(dst, &id, sizeof id);
  FillPayload(dst + kRawIdBytes, payload_bytes, id);
}

// A reusable pre-built outgoing message: the payload is filled once, Send() paths only stamp
// the id.
class RawMessage {
 public:
  // `prefix_bytes` of room before the id (the pipe baseline puts its length prefix there).
  explicit RawMessage(size_t payload_bytes, size_t prefix_bytes = 0)
      : prefix_(prefix_bytes), bytes_(prefix_bytes + kRawIdBytes + payload_bytes) {
    for (size_t i = 0; i < payload_bytes; ++i) {
      bytes_[prefix_ + kRawIdBytes + i] = static_cast<char>(i * 7 + 1);
    }
  }
  void set_id(uint64_t id) { memcpy(bytes_.data() + prefix_, &id, sizeof id); }
  char* data() { return bytes_.data(); }
  size_t size() const { return bytes_.size(); }
  size_t message_bytes() const { return bytes_.size() - prefix_; }  // id + payload

 private:
  size_t prefix_;
  std::vector<char> bytes_;
};

// Reads a received message (id + payload; with `checksum`, every payload byte). False if it is
// too short to hold an id.
inline bool ParseRawMessage(const char* data, size_t size, bool checksum, Received* out) {
  if (size < kRawIdBytes) return false;
  memcpy(&out->id, data, sizeof out->id);
  out->data_bytes = size - kRawIdBytes;
  if (checksum) out->checksum = PayloadChecksum(data + kRawIdBytes, out->data_bytes);
  return true;
}

}  // namespace bench

#endif  // BENCH_RAW_MESSAGE_H_
