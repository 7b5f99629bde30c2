#include "channel/internal/wire/payload.h"

#include <atomic>
#include <new>

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

// Reference-counted header of a PayloadArena's allocation; the words follow it.
struct ArenaBlock {
  std::atomic<size_t> refs;
  uint64_t* words() { return reinterpret_cast<uint64_t*>(this + 1); }
  void Unref() {
    if (refs.fetch_sub(1, std::memory_order_acq_rel) == 1) {
      this->~ArenaBlock();
      ::operator delete(this);
    }
  }
};
static_assert(sizeof(ArenaBlock) % 8 == 0, "the words after the header stay aligned");

PayloadArena::PayloadArena(size_t bytes) : free_bytes_(bytes & ~size_t{7}) {
  block_ = new (::operator new(sizeof(ArenaBlock) + free_bytes_)) ArenaBlock{{1}};
  next_ = block_->words();
}

PayloadArena::~PayloadArena() { block_->Unref(); }

void PayloadArena::Lend(Payload* p) {
  if (free_bytes_ < 8) return;
  block_->refs.fetch_add(1, std::memory_order_relaxed);
  p->words = std::unique_ptr<uint64_t[], PayloadFree>(next_, PayloadFree{false, block_});
  p->capacity = free_bytes_;
}

void PayloadArena::Keep(const Payload& p) {
  if (p.words.get() != next_ || p.words.get_deleter().block != block_) return;  // reallocated
  const size_t used = (p.bytes + 7) / 8;
  next_ += used;
  free_bytes_ -= used * 8;
}

void PayloadFree::operator()(uint64_t* words) const {
  if (block != nullptr) {
    block->Unref();
    return;
  }
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
