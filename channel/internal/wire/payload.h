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

class PayloadArena;

// Frees a Payload's buffer: a small one into the calling thread's cache (if it has room), one lent
// by a PayloadArena by dropping a reference to the arena's block, any other with delete[].
// Default-constructed it is plain delete[] (for buffers from new uint64_t[]).
struct PayloadFree {
  bool small = false;
  struct ArenaBlock* block = nullptr;
  void operator()(uint64_t* words) const;
};

struct Payload {
  // Makes `words` hold at least `bytes` (kept if it already does; the contents are not kept).
  void Reserve(size_t bytes);

  std::unique_ptr<uint64_t[], PayloadFree> words;
  size_t bytes = 0;     // the message's size
  size_t capacity = 0;  // what `words` can hold; 0 when it was set without Reserve
};

// One allocation shared by the payloads of a batch (GetMany): each payload lent from it keeps the
// block alive, and the last one freed frees it. A payload that does not fit what is left gets its
// own buffer from Payload::Reserve as usual. Not thread-safe (the block's count is atomic: lent
// payloads may be freed on any thread).
class PayloadArena {
 public:
  explicit PayloadArena(size_t bytes);
  ~PayloadArena();
  PayloadArena(const PayloadArena&) = delete;
  PayloadArena& operator=(const PayloadArena&) = delete;

  // Points `p` (empty) at the arena's free space; Reserve keeps it when the message fits.
  void Lend(Payload* p);
  // After `p` was filled: the bytes it used in the arena are no longer free.
  void Keep(const Payload& p);

 private:
  ArenaBlock* block_;
  uint64_t* next_;
  size_t free_bytes_;
};

}  // namespace internal
}  // namespace channel

#endif  // CHANNEL_INTERNAL_WIRE_PAYLOAD_H_
