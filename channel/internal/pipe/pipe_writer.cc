#include "channel/internal/pipe/pipe_writer.h"

#include <errno.h>
#include <poll.h>
#include <string.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>

#include "absl/strings/str_cat.h"
#include "channel/internal/testing/fault_injection.h"
#include "channel/internal/wire/frame.h"

namespace channel {
namespace internal {

absl::Status PipeWriter::WriteBatch(int slot, char* buf, size_t bytes, int64_t count) {
  WriterState& w = q_->writer;
  RobustLock lock;
  absl::Status s = lock.Acquire(&w.mu, Deadline::Never(), [this] { Repair(); });
  if (!s.ok()) return s;
  if (w.tombstone_due != 0) WriteDueTombstone(/*block=*/true);
  return WriteLocked(slot, buf, bytes, count);
}

std::optional<absl::Status> PipeWriter::TryWriteNow(int slot, char* frame, size_t bytes) {
  // A consumer that has taken everything cannot be served by a batch still to come; while it has
  // a backlog, batches through the feeder cost fewer system calls.
  if (bytes > pipe_capacity_ / 2 || accounts_.read_seq() < LoadRelaxed(q_->writer.next_seq)) {
    return std::nullopt;
  }
  return TryWriteBatch(slot, frame, bytes, 1);
}

std::optional<absl::Status> PipeWriter::TryWriteBatch(int slot, char* buf, size_t bytes,
                                                      int64_t count) {
  if (bytes > pipe_capacity_) return std::nullopt;
  RobustLock lock;
  if (!lock.TryAcquire(&q_->writer.mu, [this] { Repair(); }).ok() ||
      q_->writer.tombstone_due != 0) {
    return std::nullopt;
  }
  int queued = 0;  // bytes in the pipe: what is written and not yet drained into staging
  if (ioctl(fd_, FIONREAD, &queued) != 0 || queued < 0) return std::nullopt;
  if (queued == 0) q_->writer.writes_since_empty = 0;  // an empty pipe holds no pages at all
  if (!HasPagesFor(static_cast<size_t>(queued), bytes)) return std::nullopt;
  return WriteLocked(slot, buf, bytes, count);
}

bool PipeWriter::HasPagesFor(size_t queued, size_t bytes) const {
  // A pipe is a ring of pages, and a write blocks when no page is free, however few bytes the
  // pipe holds: a write that does not end on a page boundary leaves its last page partly filled,
  // and the next write fills it only if its own remainder fits. So beside the full pages, each
  // write since the pipe was last empty may hold one page, and the head page may be partly read.
  // Bytes alone once let Put block for ever in write(2) on an unbounded queue nobody read yet.
  static const size_t kPage = static_cast<size_t>(sysconf(_SC_PAGESIZE));
  const uint64_t pages = pipe_capacity_ / kPage;
  const uint64_t used = queued / kPage + std::min(q_->writer.writes_since_empty, pages) + 1;
  const uint64_t needed = (bytes + kPage - 1) / kPage + 1;
  return used + needed <= pages;
}

absl::Status PipeWriter::WriteLocked(int slot, char* buf, size_t bytes, int64_t count) {
  WriterState& w = q_->writer;
  const uint64_t first = w.next_seq;
  const uint64_t last = first + static_cast<uint64_t>(count) - 1;
  for (size_t off = 0, seq = first; off < bytes; ++seq) {
    char* frame = buf + off;
    off += StampSeq(frame, seq);
    if (KindOf(frame) == FrameKind::kSlabItem) {
      slab_.MarkQueued(frame + kFrameHeaderBytes, slot, seq);
    }
  }
  w.in_write_slot = slot;
  w.in_write_last = last;
  StoreRelease(w.in_write_first, first);
  std::atomic_thread_fence(std::memory_order_release);
  StoreRelease(w.next_seq, last + 1);
  CHANNEL_FAULT_POINT("writer.before_write");

  const absl::Status written = WriteAll(buf, bytes);
  CHANNEL_FAULT_POINT("writer.after_write");
  if (written.ok()) {
    StoreRelease(w.done_seq, last);
    accounts_
        .Transact(Deadline::Never(), slot,
                  [count, last](Ledger& l, SlotCounters* c) {
                    c->unsent -= count;
                    c->sent_through = last;
                    return true;
                  })
        .IgnoreError();
  } else {
    CloseBatch(first, last, slot);
  }
  CHANNEL_FAULT_POINT("writer.after_accounts");
  StoreRelease(w.in_write_first, uint64_t{0});
  return written;
}

absl::Status PipeWriter::WriteAll(const char* data, size_t bytes) {
  while (bytes > 0) {
    const size_t piece = std::min(bytes, pipe_capacity_);
    ++q_->writer.writes_since_empty;  // before the write: a writer killed in it leaves it high
    const ssize_t n = write(fd_, data, piece);
    if (n < 0) {
      if (errno == EINTR) continue;
      return absl::InternalError(absl::StrCat("writing to the queue's pipe: ", strerror(errno)));
    }
    data += n;
    bytes -= static_cast<size_t>(n);
    q_->data_ready.event.Signal();
    if (bytes > 0) CHANNEL_FAULT_POINT("writer.between_pieces");
  }
  return absl::OkStatus();
}

void PipeWriter::Repair() {
  WriterState& w = q_->writer;
  const uint64_t first = w.in_write_first;
  if (first == 0) return;
  CloseBatch(first, std::max(first, w.in_write_last), w.in_write_slot);
  StoreRelease(w.in_write_first, uint64_t{0});
}

void PipeWriter::CloseBatch(uint64_t first, uint64_t last, int slot) {
  WriterState& w = q_->writer;
  // Never hand out the batch's seqs again, even if its writer died before advancing next_seq.
  StoreRelease(w.next_seq, std::max(w.next_seq, last + 1));
  // Readers now treat an incomplete frame of the batch, once the pipe is drained, as torn.
  StoreRelease(w.done_seq, std::max(LoadRelaxed(w.done_seq), last));
  if (slot < 0 || slot >= kMaxSlots) slot = -1;  // only a corrupted file gets here
  if (!reader_->AbsorbTornBatch(first, last, slot).ok()) {
    // Staging is full: release the slot's reservations here, and let the reader that reaches the
    // tombstone count what is lost.
    w.tombstone_due = std::max(w.tombstone_due, last);
    accounts_
        .Transact(Deadline::Never(), slot,
                  [first, last](Ledger& l, SlotCounters* c) {
                    if (c == nullptr || c->sent_through >= last) return false;
                    c->unsent -= static_cast<int64_t>(last - first + 1);
                    c->sent_through = last;
                    ++l.torn_writes;
                    return true;
                  })
        .IgnoreError();
  }
  CHANNEL_FAULT_POINT("writer.batch_closed");
  q_->space_free.event.Signal();
  q_->all_done.event.Signal();
  q_->data_ready.event.Signal();
}

bool PipeWriter::WriteDueTombstone(bool block) {
  WriterState& w = q_->writer;
  if (w.tombstone_due == 0) return true;
  if (!block) {
    // POLLOUT on a pipe means a free buffer slot, so a 32-byte write cannot block.
    pollfd p{fd_, POLLOUT, 0};
    if (poll(&p, 1, 0) != 1 || (p.revents & POLLOUT) == 0) return false;
  }
  char frame[kFrameHeaderBytes];
  FrameHeader h;
  h.kind = FrameKind::kTombstone;
  h.seq = w.tombstone_due;
  EncodeHeader(h, frame);
  if (!WriteAll(frame, sizeof frame).ok()) return false;
  w.tombstone_due = 0;
  return true;
}

}  // namespace internal
}  // namespace channel
