// Payload: one received message's bytes, 8-byte aligned, owned (what a Message<T> keeps alive).
//
// Small payloads (up to kSmallPayloadBytes) live in fixed-size buffers that a freed Payload
// returns to a small per-thread cache, and the next Reserve on that thread takes back: a busy
// consumer then allocates nothing per message (malloc and free were ~150 instructions of a
// ~1,300-instruction Get). A Get reserves a small buffer before it takes the reader lock, so that
// the critical section, which every consumer of the queue serialises on, only copies.
//
// Thread safety: a Payload is a value; the cache is per thread, and a buffer may be freed on a
// thread other than the one that reserved it.
#ifndef CHANNEL_INTERNAL_WIRE_PAYLOAD_H_
#define CHANNEL_INTERNAL_WIRE_PAYLOAD_H_

#include <cstddef>
#include <cstdint>
#include <memory>

namespace channel {
namespace internal {

inline constexpr size_t kSmallPayloadBytes = 256;

// Frees a Payload's buffer: a small one into the calling thread's cache (if it has room), any
// other with delete[]. Default-constructed it is plain delete[] (for buffers from new uint64_t[]).
struct PayloadFree {
  bool small = false;
  void operator()(uint64_t* words) const;
};

struct Payload {
  // Makes `words` hold at least `bytes` (kept if it already does; the contents are not kept).
  void Reserve(size_t bytes);

  std::unique_ptr<uint64_t[], PayloadFree> words;
  size_t bytes = 0;     // the message's size
  size_t capacity = 0;  // what `words` can hold; 0 when it was set without Reserve
};

}  // namespace internal
}  // namespace channel

#endif  // CHANNEL_INTERNAL_WIRE_PAYLOAD_H_
