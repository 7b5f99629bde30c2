// PipeReader: the consumer side of the pipe transport.
//
// Consumers never read a frame straight from the pipe into private memory. Under the reader
// lock, a Get drains whatever the pipe holds (one non-blocking read(2) of up to 256 KiB) into the
// queue's shared staging area, then takes exactly one complete frame from it. Whatever was read
// ahead stays in shared memory, where the next Get in any process finds it: nothing is stranded
// in a process that dies or times out, and one system call serves many Gets.
//
// The staging area is a linear buffer [head, tail) inside the shared mapping. It rewinds to 0
// whenever it empties and is compacted (a non-overlapping copy down to 0) when it grows past
// 1 MiB, so only its first pages are touched in steady state; it has room for two maximum frames,
// which guarantees the copy never overlaps (see StagingCapacity).
//
// Crash safety under the reader lock (a holder may be SIGKILLed anywhere):
// - cursor changes are journaled (old head/tail) and rolled back by the next holder;
// - a read(2) into staging is announced first (read_at, read_max); if its holder died before
//   publishing the new tail, the next holder re-validates the bytes past the tail and keeps the
//   frames that continue the stream exactly (next seq, checksums), so at most a partial frame is
//   lost;
// - taking an item records taking_seq, then commits it before the cursor moves — an item with
//   exactly the expected seq by one store to ReaderState::read_seq, any other (one after a gap)
//   through an Accounts transaction (accounts.h); a frame found again below read_seq is skipped,
//   so nothing is delivered twice; an item taken by a reader that died before returning it is
//   counted lost and released from the JoinableQueue's unfinished count.
// A slab item's message is copied out of its slab block before the take commits, and the block
// released after (slab.h).
// - after Shutdown(immediate = true) every complete item is dropped in one journaled transaction
//   (no taking_seq: nobody holds it) before the cursor moves; a frame found again below read_seq
//   is skipped as above.
// Torn frames (a writer died mid-write) are detected by checksum or by the writer's done_seq
// (an incomplete frame that its writer finished, or abandoned, can never complete) and skipped
// by scanning for the next valid header.
#ifndef CHANNEL_INTERNAL_PIPE_PIPE_READER_H_
#define CHANNEL_INTERNAL_PIPE_PIPE_READER_H_

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "channel/internal/shm/accounts.h"
#include "channel/internal/core/deadline.h"
#include "channel/internal/wire/frame.h"
#include "channel/internal/wire/payload.h"
#include "channel/internal/shm/shared_state.h"
#include "channel/internal/shm/slab.h"

namespace channel {
namespace internal {

class PipeReader {
 public:
  PipeReader(SharedQueue* queue, int read_fd)
      : q_(queue), fd_(read_fd), accounts_(queue), slab_(queue) {}

  // Takes one item if one is complete in staging or the pipe. Never blocks on I/O; waits for the
  // reader lock until `deadline` (kDeadlineExceeded). Returns true with *out filled, or false
  // when no complete item is available now.
  absl::StatusOr<bool> TryTake(const Deadline& deadline, Payload* out);

  // TryTake for up to `max_items` items under one acquisition of the reader lock: appends to
  // *out every complete item available now (none: returns 0), payloads lent from `arena` where
  // they fit. One read(2) serves the whole batch when the pipe holds it.
  absl::StatusOr<size_t> TryTakeMany(const Deadline& deadline, size_t max_items,
                                     PayloadArena* arena, std::vector<Payload>* out);

  // Maintenance pass: repairs the reader lock's state if its holder died and processes
  // tombstones and garbage at the head of the stream, without taking items (after
  // Shutdown(immediate = true): dropping them). Waits for a live holder of the reader lock until
  // `deadline` (the reaper passes an expired one: it checks a holder once and moves on).
  void Maintain(const Deadline& deadline = Deadline::After(absl::ZeroDuration()));

  // Runs fn() under the reader lock (repaired first if its holder died). kDeadlineExceeded if the
  // lock was not free in time.
  template <typename Fn>
  absl::Status WithLock(const Deadline& deadline, Fn&& fn) {
    RobustLock lock;
    absl::Status s = lock.Acquire(&q_->reader.mu, deadline, [this] { Repair(); });
    if (s.ok()) fn();
    return s;
  }
  // Inside WithLock: moves everything the pipe holds into staging. False if staging ran out of
  // room first.
  bool DrainPipeLocked();

  // Inside WithLock, for inspection tools: lists the next items staging holds, in the order Gets
  // would take them, without taking any (nothing in shared memory changes). Stops after
  // `max_items`, or at bytes a Get would have to resync over or wait to complete. Messages are
  // copied (a slab item's from its block) while the copies total at most `max_bytes`; later
  // items are listed by size only. `*more`: staging holds bytes after the last item listed.
  struct PeekedItem {
    uint64_t seq = 0;
    bool in_slab = false;
    uint64_t bytes = 0;
    bool copied = false;
    std::string message;  // the serialized Cap'n Proto message, if copied
  };
  std::vector<PeekedItem> PeekLocked(size_t max_items, size_t max_bytes, bool* more);

  // For the writer lock's repair (pipe_writer.h), with no write in progress: drains the pipe,
  // so that staging holds every item written so far; counts every item up to `last` that is
  // neither taken nor whole in staging as lost, and — in the same Accounts transaction — releases
  // the dead batch [first, last] from `slot` (-1: none). Then closes the batch with a tombstone at
  // the end of staging. kUnavailable if staging has no room for the whole pipe.
  absl::Status AbsorbTornBatch(uint64_t first, uint64_t last, int slot);

 private:
  // Everything below runs under the reader lock.
  bool Pump(Payload* out);
  // Resets staging if its cursors are impossible (a corrupted queue file).
  void CheckCursors();
  void Repair();
  void ExtendTailAfterCrash();
  enum class ReadResult { kRead, kPipeEmpty, kNoRoom };
  // One non-blocking read(2) of at least `need` bytes' room into staging (compacting it first
  // if that keeps it small). kNoRoom: staging cannot take `need` more bytes, or read(2) failed.
  ReadResult ReadMore(uint64_t need);
  void SetCursors(uint64_t head, uint64_t tail);
  void Resync();
  void ApplyTombstone(uint64_t seq);
  // Takes the item framed by `h`, whose message is `message` (in staging or in the slab).
  void Deliver(const FrameHeader& h, absl::string_view message, Payload* out);
  // After Shutdown(immediate = true): discards the item framed by `h` instead, counted in
  // items_dropped_by_shutdown and done for Join.
  void DropForShutdown(const FrameHeader& h);

  SharedQueue* q_;
  int fd_;
  Accounts accounts_;
  Slab slab_;
};

}  // namespace internal
}  // namespace channel

#endif  // CHANNEL_INTERNAL_PIPE_PIPE_READER_H_
