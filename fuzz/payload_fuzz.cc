// Fuzz target: arbitrary bytes as a received message payload (what a frame carries, after its
// checksum matched). Complements frame_fuzz, whose mutations rarely keep a payload's CRC valid:
// here the input is the payload itself. OpenPayload must return a status, never crash or throw,
// and an accepted message must be fully readable (fuzz_util.h).
#include <cstdint>
#include <cstring>

#include "channel/internal/pipe/pipe_reader.h"
#include "fuzz/fuzz_util.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  channel::internal::Payload payload;
  payload.bytes = size / 8 * 8;  // frames only carry multiples of 8 bytes
  payload.words.reset(new uint64_t[payload.bytes / 8 + 1]);
  if (payload.bytes > 0) memcpy(payload.words.get(), data, payload.bytes);
  channel::fuzz::ConsumePayload(payload);
  return 0;
}
