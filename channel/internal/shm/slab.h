// Slab: large messages beside the pipe, in the queue's shared memory.
//
// A message of kSlabMinPayloadBytes or more that fits a block does not travel through the pipe:
// Put claims a free block, serializes the message straight into it, and only a kSlabRefBytes
// reference travels in the pipe (a kSlabItem frame, frame.h); the reader that takes the item
// copies the message out. Against the pipe path this saves the copy into the feeder's buffer,
// the pipe's two kernel copies and both payload checksums. The checksum has nothing to catch:
// a block is complete before its reference is written, so it cannot tear.
//
// Each block has one state word, changed only by CAS:
//
//   free --Claim (Put)--> filling(slot) --MarkQueued (the writer, stamping seq)--> queued(seq)
//   queued(seq) --Release (the reader that took seq, after copying it out)--> free
//
// Deaths leave blocks behind, and two sweeps give them back: FreeFilling(slot) when a slot is
// retired (its process died, or its handle cancelled what it had not written), and SweepPassed
// for queued blocks whose seq the readers have passed — taken by a reader that died before
// Release, or counted lost with their batch. A reader copies a block out under the reader lock
// before its take commits, and SweepPassed frees only seqs below a consistent read_seq, so a
// block is never reused while it is being read; a reference whose block is not queued(seq)
// is garbage to the reader (the item is then counted lost, like a torn frame).
//
// The slab is an optimisation, never a limit: when no block is free, Put uses the pipe.
#ifndef CHANNEL_INTERNAL_SHM_SLAB_H_
#define CHANNEL_INTERNAL_SHM_SLAB_H_

#include <cstddef>
#include <cstdint>
#include <optional>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "channel/internal/shm/accounts.h"
#include "channel/internal/shm/shared_state.h"

namespace channel {
namespace internal {

// A slab item as the reader sees it: the message's bytes in the slab, and its block.
struct SlabItem {
  absl::string_view message;
  uint32_t block = 0;
};

class Slab {
 public:
  explicit Slab(SharedQueue* queue) : q_(queue), accounts_(queue) {}

  // True if a message of this size goes through the slab (when a block is free).
  bool Fits(size_t message_bytes) const {
    return message_bytes >= kSlabMinPayloadBytes && message_bytes <= q_->header.slab_block_bytes;
  }
  // Claims a free block for the handle putting on `slot`, sweeping passed blocks first if none
  // is free; nullopt if there still is none. The caller writes the message into Data(block),
  // then appends the reference (EncodeRef) as a kSlabItem frame.
  std::optional<uint32_t> Claim(int slot);
  char* Data(uint32_t block) { return q_->slab_block(block); }
  static void EncodeRef(uint32_t block, uint64_t message_bytes, char* ref);

  // The writer, stamping `seq` into the kSlabItem frame whose payload is `ref`, written for
  // `slot` (this process encoded it: trusted). If the block is no longer filling for that slot
  // (the slot was retired meanwhile), it is left alone: the reference then does not resolve, and
  // the item is counted lost.
  void MarkQueued(const char* ref, int slot, uint64_t seq);

  // The reader: where item `seq`'s message is, from its reference (untrusted bytes). kDataLoss
  // if the reference is malformed or its block is not queued(seq).
  absl::StatusOr<SlabItem> Resolve(const char* ref, uint64_t seq);
  // After the take of `seq` committed: frees its block (a no-op if a sweep freed it first).
  void Release(uint32_t block, uint64_t seq);

  // Frees every block still filling for `slot`. Only when nothing of the slot's is pending or
  // being written any more: its process is dead, or its feeder dropped what it had.
  void FreeFilling(int slot);
  // Frees every queued block whose seq is below the readers' consistent read_seq.
  void SweepPassed();

 private:
  uint64_t* State(uint32_t block) { return q_->slab_states() + block * kSlabStateStride; }

  SharedQueue* q_;
  Accounts accounts_;
};

}  // namespace internal
}  // namespace channel

#endif  // CHANNEL_INTERNAL_SHM_SLAB_H_
