#include "channel/internal/shm/slab.h"

#include <cstring>

#include "absl/strings/str_cat.h"
#include "channel/internal/wire/frame.h"

namespace channel {
namespace internal {
namespace {

// State words: the top two bits say which state, the rest is its argument.
constexpr uint64_t kFree = 0;
constexpr uint64_t kTagMask = uint64_t{3} << 62;
constexpr uint64_t kFilling = uint64_t{1} << 62;  // | slot
constexpr uint64_t kQueued = uint64_t{2} << 62;   // | seq (seqs stay far below 2^60)

uint64_t FillingFor(int slot) { return kFilling | static_cast<uint64_t>(slot); }

bool Cas(uint64_t* word, uint64_t expected, uint64_t desired) {
  return __atomic_compare_exchange_n(word, &expected, desired, /*weak=*/false, __ATOMIC_ACQ_REL,
                                     __ATOMIC_ACQUIRE);
}

// Reference layout (little-endian): u32 block, u32 zero, u64 message bytes.
struct Ref {
  uint32_t block;
  uint32_t zero;
  uint64_t bytes;
};
static_assert(sizeof(Ref) == kSlabRefBytes, "a slab reference is kSlabRefBytes");

Ref ReadRef(const char* ref) {
  Ref r;
  memcpy(&r, ref, sizeof r);
  return r;
}

}  // namespace

std::optional<uint32_t> Slab::Claim(int slot) {
  const uint64_t blocks = q_->header.slab_blocks;
  for (int pass = 0; pass < 2; ++pass) {
    // First fit: the same few blocks serve steady traffic, so few pages are ever touched.
    for (uint32_t b = 0; b < blocks; ++b) {
      if (LoadRelaxed(*State(b)) == kFree && Cas(State(b), kFree, FillingFor(slot))) {
        return b;
      }
    }
    if (pass == 0) SweepPassed();
  }
  return std::nullopt;
}

void Slab::EncodeRef(uint32_t block, uint64_t message_bytes, char* ref) {
  const Ref r{block, 0, message_bytes};
  memcpy(ref, &r, sizeof r);
}

void Slab::MarkQueued(const char* ref, int slot, uint64_t seq) {
  Cas(State(ReadRef(ref).block), FillingFor(slot), kQueued | seq);
}

absl::StatusOr<SlabItem> Slab::Resolve(const char* ref, uint64_t seq) {
  const Ref r = ReadRef(ref);
  if (r.block >= q_->header.slab_blocks || r.zero != 0 || r.bytes % 8 != 0 ||
      r.bytes > q_->header.slab_block_bytes || r.bytes > q_->header.max_message_bytes) {
    return absl::DataLossError(absl::StrCat("item ", seq, ": malformed slab reference"));
  }
  if (LoadRelaxed(*State(r.block)) != (kQueued | seq)) {
    return absl::DataLossError(absl::StrCat("item ", seq, ": its slab block was reused"));
  }
  return SlabItem{absl::string_view(Data(r.block), r.bytes), r.block};
}

void Slab::Release(uint32_t block, uint64_t seq) { Cas(State(block), kQueued | seq, kFree); }

void Slab::FreeFilling(int slot) {
  for (uint32_t b = 0; b < q_->header.slab_blocks; ++b) {
    Cas(State(b), FillingFor(slot), kFree);
  }
}

void Slab::SweepPassed() {
  const uint64_t read_seq = accounts_.Snapshot().read_seq;  // never a half-committed value
  for (uint32_t b = 0; b < q_->header.slab_blocks; ++b) {
    const uint64_t state = LoadRelaxed(*State(b));
    const uint64_t tag = state & kTagMask;
    if ((tag == kQueued && (state & ~kTagMask) < read_seq) || tag == kTagMask) {
      Cas(State(b), state, kFree);  // passed, or a state no writer makes (a corrupted file)
    }
  }
}

}  // namespace internal
}  // namespace channel
