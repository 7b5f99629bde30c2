#include "channel/internal/wire/payload.h"

namespace channel {
namespace internal {
namespace {

constexpr int kCachedBuffers = 16;  // per thread: 4 KiB at most

// Trivially destructible, so it can be used at any point of a thread's exit, even after
// CacheOwner below has emptied it (then `closed` routes every buffer to delete[]).
struct Cache {
  uint64_t* buffers[kCachedBuffers];
  int count;
  bool closed;
};
thread_local Cache cache;

// Frees the cached buffers when the thread exits. Constructed by the thread's first Reserve,
// so a thread that never reserves never registers a destructor.
struct CacheOwner {
  ~CacheOwner() {
    cache.closed = true;
    while (cache.count > 0) delete[] cache.buffers[--cache.count];
  }
};
thread_local CacheOwner cache_owner;

}  // namespace

void PayloadFree::operator()(uint64_t* words) const {
  (void)&cache_owner;  // a thread that only frees must free what it cached at its exit too
  if (small && !cache.closed && cache.count < kCachedBuffers) {
    cache.buffers[cache.count++] = words;
    return;
  }
  delete[] words;
}

void Payload::Reserve(size_t want) {
  if (words != nullptr && capacity >= want) return;
  if (want > kSmallPayloadBytes) {
    words = std::unique_ptr<uint64_t[], PayloadFree>(new uint64_t[(want + 7) / 8],
                                                     PayloadFree{false});
    capacity = want;
    return;
  }
  (void)&cache_owner;  // odr-use: constructs this thread's owner
  uint64_t* buffer = cache.count > 0 ? cache.buffers[--cache.count]
                                     : new uint64_t[kSmallPayloadBytes / 8];
  words = std::unique_ptr<uint64_t[], PayloadFree>(buffer, PayloadFree{true});
  capacity = kSmallPayloadBytes;
}

}  // namespace internal
}  // namespace channel
