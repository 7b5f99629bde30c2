// PipeWriter: the producer side of the pipe transport (used by feeders and the reaper).
//
// One batch at a time, under the writer lock, a feeder stamps consecutive seqs into its frames
// and writes them into the pipe. Pipe writes larger than PIPE_BUF are not atomic, so a writer
// killed mid-batch leaves a torn frame behind; the protocol makes that recoverable:
// - before writing, the batch [first, last] and its slot are recorded in WriterState (and
//   next_seq advanced after that, so a seq is never handed out twice);
// - after writing, done_seq = last, then the slot's unsent count drops (an Accounts transaction,
//   made idempotent by the slot's sent_through);
// - the next holder of a lock whose owner died closes the batch (CloseBatch): it drains the pipe
//   into staging, counts what of everything written so far arrived whole, places a tombstone
//   behind it and,
//   in one Accounts transaction, releases the slot's reservations and counts the rest as lost —
//   so qsize and a bounded queue's free slots are right at once, whether or not anyone reads.
//   If staging cannot take the pipe's contents, it writes a tombstone instead and the reader that
//   reaches it counts the loss.
// Stamping a slab item's seq also marks its block queued (slab.h), before anything is written.
// Each write(2) is at most the pipe's capacity and data_ready is signalled after each, so a
// reader waiting for the rest of a large frame is woken while the writer still holds the lock.
#ifndef CHANNEL_INTERNAL_PIPE_PIPE_WRITER_H_
#define CHANNEL_INTERNAL_PIPE_PIPE_WRITER_H_

#include <cstddef>
#include <cstdint>
#include <optional>

#include "absl/status/status.h"
#include "channel/internal/shm/accounts.h"
#include "channel/internal/pipe/pipe_reader.h"
#include "channel/internal/shm/shared_state.h"
#include "channel/internal/shm/slab.h"

namespace channel {
namespace internal {

class PipeWriter {
 public:
  PipeWriter(SharedQueue* queue, int write_fd, size_t pipe_capacity, PipeReader* reader)
      : q_(queue),
        fd_(write_fd),
        pipe_capacity_(pipe_capacity),
        accounts_(queue),
        reader_(reader),
        slab_(queue) {}

  // Writes `count` frames laid out back to back in buf[0, bytes) (headers with seq 0), on behalf
  // of `slot`. Blocks while the pipe is full. On a write error the batch is declared lost, as if
  // the writer had died, and the error is returned.
  absl::Status WriteBatch(int slot, char* buf, size_t bytes, int64_t count);

  // Writes one frame (as WriteBatch) from the calling thread, but only when that is cheaper than
  // handing it to a feeder thread and cannot block: every item written so far has been taken (a
  // consumer may be waiting for this one), the writer lock is free, no tombstone is due, and the
  // pipe has room for the whole frame. Returns nullopt, having done nothing, otherwise.
  std::optional<absl::Status> TryWriteNow(int slot, char* frame, size_t bytes);

  // Writes `count` frames (as WriteBatch) from the calling thread if that cannot block: the writer
  // lock is free, no tombstone is due, and the pipe has free pages for all of them (HasPagesFor).
  // Returns nullopt, having done nothing, otherwise.
  std::optional<absl::Status> TryWriteBatch(int slot, char* buf, size_t bytes, int64_t count);

  // For the reaper: takes the writer lock if it is free within a short bound (repairing it if its
  // holder died), runs `with_lock`, and writes a due tombstone if the pipe has room. Returns false
  // if the lock was busy.
  template <typename Fn>
  bool WithLockForMaintenance(Fn&& with_lock) {
    RobustLock lock;
    if (!lock.Acquire(&q_->writer.mu, Deadline::After(absl::Milliseconds(20)), [this] { Repair(); })
             .ok()) {
      return false;
    }
    with_lock();
    WriteDueTombstone(/*block=*/false);
    return true;
  }

 private:
  void Repair();
  // With the writer lock held and nothing being written: settles batch [first, last] of `slot`,
  // whose write did not finish (see above). Idempotent through the slot's sent_through.
  void CloseBatch(uint64_t first, uint64_t last, int slot);
  // WriteBatch's work, with the writer lock held and no tombstone due.
  absl::Status WriteLocked(int slot, char* buf, size_t bytes, int64_t count);
  // Returns false if it could not be written now (pipe full and !block, or an error).
  bool WriteDueTombstone(bool block);
  // With the writer lock held and `queued` bytes in the pipe (FIONREAD): whether a write of
  // `bytes` finds enough free pages not to block.
  bool HasPagesFor(size_t queued, size_t bytes) const;
  absl::Status WriteAll(const char* data, size_t bytes);

  SharedQueue* q_;
  int fd_;
  size_t pipe_capacity_;
  Accounts accounts_;
  PipeReader* reader_;
  Slab slab_;
};

}  // namespace internal
}  // namespace channel

#endif  // CHANNEL_INTERNAL_PIPE_PIPE_WRITER_H_
