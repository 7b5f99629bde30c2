// Fuzz target: arbitrary bytes as the body of a message fetched from a NATS queue's stream.
//
// Anyone with rights on the subject can publish into the stream, so a consumer must treat every
// body as hostile: DecodeNatsFrame either refuses it (kDataLoss) or returns a payload of at most
// max_message_bytes that matches its header, which is then opened and read like any received
// payload. Must never crash, hang or allocate without bound.
#include <cstdint>
#include <cstdlib>

#include "channel/internal/nats/nats_frame.h"
#include "fuzz/fuzz_util.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  constexpr size_t kMaxMessageBytes = 1 << 16;
  absl::StatusOr<channel::internal::Payload> payload = channel::internal::DecodeNatsFrame(
      reinterpret_cast<const char*>(data), size, kMaxMessageBytes);
  if (!payload.ok()) {
    if (payload.status().code() != absl::StatusCode::kDataLoss) {
      channel::fuzz::Fail("DecodeNatsFrame: not kDataLoss");
    }
    return 0;
  }
  if (payload->bytes > kMaxMessageBytes) channel::fuzz::Fail("payload over max_message_bytes");
  channel::fuzz::ConsumePayload(*payload);
  return 0;
}
