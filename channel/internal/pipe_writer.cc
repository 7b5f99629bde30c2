#include "channel/internal/pipe_writer.h"

#include <errno.h>
#include <poll.h>
#include <string.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>

#include "absl/strings/str_cat.h"
#include "channel/internal/frame.h"

namespace channel {
namespace internal {

absl::Status PipeWriter::WriteBatch(int slot, char* buf, size_t bytes, int64_t count) {
  WriterState& w = q_->writer;
  RobustLock lock;
  absl::Status s = lock.Acquire(&w.mu, Deadline::Never(), [this] { Repair(); });
  if (!s.ok()) return s;
  if (w.tombstone_due != 0) WriteDueTombstone(/*block=*/true);

  const uint64_t first = w.next_seq;
  const uint64_t last = first + static_cast<uint64_t>(count) - 1;
  for (size_t off = 0, seq = first; off < bytes; ++seq) {
    FrameHeader h;
    memcpy(&h.payload_bytes, buf + off + 16, 4);
    memcpy(&h.payload_crc, buf + off + 20, 4);
    h.seq = seq;
    EncodeHeader(h, buf + off);
    off += h.frame_bytes();
  }
  w.in_write_slot = slot;
  w.in_write_last = last;
  StoreRelease(w.in_write_first, first);
  std::atomic_thread_fence(std::memory_order_release);
  StoreRelease(w.next_seq, last + 1);

  const absl::Status written = WriteAll(buf, bytes);
  if (!written.ok()) w.tombstone_due = last;  // readers will count the batch as lost
  StoreRelease(w.done_seq, last);
  accounts_
      .Transact(Deadline::Never(), slot,
                [count, last, &written](Ledger& l, SlotCounters* c) {
                  c->unsent -= count;
                  c->sent_through = last;
                  if (!written.ok()) ++l.torn_writes;
                  return true;
                })
      .IgnoreError();
  StoreRelease(w.in_write_first, uint64_t{0});
  if (!written.ok()) WriteDueTombstone(/*block=*/false);
  return written;
}

absl::Status PipeWriter::WriteAll(const char* data, size_t bytes) {
  while (bytes > 0) {
    const size_t piece = std::min(bytes, pipe_capacity_);
    const ssize_t n = write(fd_, data, piece);
    if (n < 0) {
      if (errno == EINTR) continue;
      return absl::InternalError(absl::StrCat("writing to the queue's pipe: ", strerror(errno)));
    }
    data += n;
    bytes -= static_cast<size_t>(n);
    q_->data_ready.event.Signal();
  }
  return absl::OkStatus();
}

void PipeWriter::Repair() {
  WriterState& w = q_->writer;
  const uint64_t first = w.in_write_first;
  if (first == 0) return;
  const uint64_t last = std::max(first, w.in_write_last);
  const int slot = w.in_write_slot;
  // Never hand out the dead batch's seqs again, even if the holder died before advancing.
  w.next_seq = std::max(w.next_seq, last + 1);
  if (slot >= 0 && slot < kMaxSlots) {
    accounts_
        .Transact(Deadline::Never(), slot,
                  [first, last](Ledger& l, SlotCounters* c) {
                    if (c->sent_through >= last) return false;  // its own bookkeeping finished
                    c->unsent -= static_cast<int64_t>(last - first + 1);
                    c->sent_through = last;
                    ++l.torn_writes;
                    return true;
                  })
        .IgnoreError();
  }
  w.tombstone_due = std::max(w.tombstone_due, last);
  StoreRelease(w.done_seq, std::max(LoadRelaxed(w.done_seq), last));
  StoreRelease(w.in_write_first, uint64_t{0});
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
