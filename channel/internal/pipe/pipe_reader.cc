#include "channel/internal/pipe/pipe_reader.h"

#include <errno.h>
#include <poll.h>
#include <string.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <optional>
#include <vector>

#include "channel/internal/testing/fault_injection.h"
#include "channel/internal/wire/frame.h"

namespace channel {
namespace internal {
namespace {

// Staging grows past this only when a frame needs it; below it, compaction keeps the touched
// pages (and so every process's RSS) small.
constexpr uint64_t kSoftStagingBytes = 1 << 20;

// Items in [read_seq, end) that will never arrive and were not counted lost yet.
uint64_t Unaccounted(const Ledger& l, uint64_t end) {
  const uint64_t from = std::max(l.read_seq, l.accounted_through + 1);
  return end > from ? end - from : 0;
}

// Counts `n` items lost after they were handed seqs: seqs_lost moves with items_lost, or
// TaskDone's lock-free bounds (accounts.h) would count those seqs as delivered.
void LoseHandedOut(Ledger& l, uint64_t n) {
  l.unfinished -= static_cast<int64_t>(n);
  l.items_lost += n;
  l.seqs_lost += n;
}

void CountResync(Accounts& accounts) {
  accounts
      .Transact(Deadline::Never(), -1,
                [](Ledger& l, SlotCounters*) {
                  ++l.resyncs;
                  return true;
                })
      .IgnoreError();  // a Never deadline cannot time out
}

}  // namespace

absl::StatusOr<bool> PipeReader::TryTake(const Deadline& deadline, Payload* out) {
  out->Reserve(kSmallPayloadBytes);  // outside the lock: Deliver then only copies (payload.h)
  RobustLock lock;
  absl::Status s = lock.Acquire(&q_->reader.mu, deadline, [this] { Repair(); });
  if (!s.ok()) return s;
  return Pump(out);
}

absl::StatusOr<size_t> PipeReader::TryTakeMany(const Deadline& deadline, size_t max_items,
                                               PayloadArena* arena, std::vector<Payload>* out) {
  const size_t first = out->size();
  RobustLock lock;
  absl::Status s = lock.Acquire(&q_->reader.mu, deadline, [this] { Repair(); });
  if (!s.ok()) return s;
  ReaderState& r = q_->reader;
  StoreRelease(r.batch_seqs_lost, LoadRelaxed(q_->accounts.ledger.seqs_lost));
  StoreRelease(r.batch_first, accounts_.read_seq());
  while (out->size() - first < max_items) {
    Payload p;
    arena->Lend(&p);
    if (!Pump(&p)) break;
    arena->Keep(p);
    out->push_back(std::move(p));  // no allocation: the caller reserved max_items
    CHANNEL_FAULT_POINT("reader.batch_taking");
  }
  StoreRelease(r.batch_first, uint64_t{0});  // the caller owns the batch now
  return out->size() - first;
}

void PipeReader::Maintain(const Deadline& deadline) {
  RobustLock lock;
  // Not TryAcquire: only Lock takes a dead holder's lock over (with an expired deadline it
  // checks the holder once and does not wait for a live one).
  if (lock.Acquire(&q_->reader.mu, deadline, [this] { Repair(); }).ok()) Pump(nullptr);
}

void PipeReader::CheckCursors() {
  ReaderState& r = q_->reader;
  if (r.head <= r.tail && r.tail <= q_->header.staging_capacity) return;
  // Only a corrupted queue file gets here: start over with empty staging.
  SetCursors(0, 0);
  CountResync(accounts_);
}

bool PipeReader::DrainPipeLocked() {
  CheckCursors();
  while (ReadMore(1) == ReadResult::kRead) {
  }
  pollfd p{fd_, POLLIN, 0};
  return poll(&p, 1, 0) == 0;
}

bool PipeReader::Pump(Payload* out) {
  ReaderState& r = q_->reader;
  const uint64_t max_payload = q_->header.max_message_bytes;
  const char* s = q_->staging();
  CheckCursors();
  // Loaded before any read: a frame with seq <= done was wholly in the pipe (or abandoned by a
  // dead writer) before we started draining it, so if it is still incomplete once the pipe is
  // empty, it never will be complete.
  const uint64_t done = LoadRelaxed(q_->writer.done_seq);
  bool drained = false;     // ReadMore got nothing more (the pipe is empty, or staging is full)
  bool pipe_empty = false;  // the pipe was empty: every frame with seq <= done is in staging
  for (;;) {
    const uint64_t avail = r.tail - r.head;
    uint64_t need;
    if (avail >= kFrameHeaderBytes) {
      absl::StatusOr<FrameHeader> h = DecodeHeader(s + r.head, max_payload);
      // A seq never handed out cannot come from a writer of this queue: garbage, whatever its
      // checksums say (believing it would wreck the ledger's arithmetic).
      if (!h.ok() || h->seq == 0 || h->seq >= LoadRelaxed(q_->writer.next_seq)) {
        Resync();
        continue;
      }
      if (h->kind == FrameKind::kTombstone) {
        ApplyTombstone(h->seq);
        SetCursors(r.head + kFrameHeaderBytes, r.tail);
        continue;
      }
      if (avail >= h->frame_bytes()) {
        const char* payload = s + r.head + kFrameHeaderBytes;
        if (!VerifyPayload(*h, payload).ok()) {
          Resync();
          continue;
        }
        if (h->seq < accounts_.read_seq()) {
          // Taken already: its reader died after committing and before moving the cursor.
          SetCursors(r.head + h->frame_bytes(), r.tail);
          continue;
        }
        absl::string_view message(payload, h->payload_bytes);
        std::optional<uint32_t> block;
        if (h->kind == FrameKind::kSlabItem) {
          absl::StatusOr<SlabItem> in_slab = slab_.Resolve(payload, h->seq);
          if (!in_slab.ok()) {
            Resync();
            continue;
          }
          message = in_slab->message;
          block = in_slab->block;
        }
        if (accounts_.shut_down() == ShutDownState::kImmediate) {
          DropForShutdown(*h);
          if (block.has_value()) slab_.Release(*block, h->seq);
          continue;
        }
        if (out == nullptr) return false;
        Deliver(*h, message, out);
        if (block.has_value()) slab_.Release(*block, h->seq);
        return true;
      }
      if (drained && h->seq <= done) {  // torn: its writer died or gave up half-way
        Resync();
        continue;
      }
      need = h->frame_bytes() - avail;
    } else {
      need = kFrameHeaderBytes - avail;
    }
    if (drained) {
      // Every item with seq <= done was wholly in the pipe before draining began, so it is in
      // staging now, or gone: its bytes were taken out of the pipe by a reader that died in its
      // read(2) before publishing them, or torn by a dead writer. Staging holds nothing complete
      // before this point, so the items in [read_seq, done] that were not taken are lost. Without
      // this, a reader dying part-way through the last frame left its item counted until a later
      // item revealed the gap: qsize() stuck, Join waiting for an item that no longer exists.
      if (pipe_empty && accounts_.read_seq() <= done) ApplyTombstone(done);
      return false;
    }
    // Nothing staged and every seq handed out already taken or lost: the pipe holds nothing a
    // reader wants (a writer advances next_seq before it writes), so skip the read(2). A
    // stale next_seq cannot hide a frame: its writer signals data_ready only after writing,
    // and the waiter's snapshot of data_ready precedes this load.
    if (avail == 0 && accounts_.read_seq() >= LoadRelaxed(q_->writer.next_seq)) {
      return false;
    }
    const ReadResult read = ReadMore(need);
    drained = read != ReadResult::kRead;
    pipe_empty = read == ReadResult::kPipeEmpty;
  }
}

std::vector<PipeReader::PeekedItem> PipeReader::PeekLocked(size_t max_items, size_t max_bytes,
                                                           bool* more) {
  const ReaderState& r = q_->reader;
  const char* s = q_->staging();
  const uint64_t expected = accounts_.read_seq();
  const uint64_t next_seq = LoadRelaxed(q_->writer.next_seq);
  std::vector<PeekedItem> items;
  size_t copied = 0;
  uint64_t p = r.head;
  // The decisions Pump makes over the same bytes, minus every change: it stops where Pump would
  // resync, apply a tombstone's loss or wait for more bytes.
  while (p <= r.tail && r.tail - p >= kFrameHeaderBytes && items.size() < max_items) {
    absl::StatusOr<FrameHeader> h = DecodeHeader(s + p, q_->header.max_message_bytes);
    if (!h.ok() || h->seq == 0 || h->seq >= next_seq) break;
    if (h->kind == FrameKind::kTombstone) {
      p += kFrameHeaderBytes;
      continue;
    }
    if (r.tail - p < h->frame_bytes()) break;
    const char* payload = s + p + kFrameHeaderBytes;
    if (!VerifyPayload(*h, payload).ok()) break;
    if (h->seq >= expected) {
      absl::string_view message(payload, h->payload_bytes);
      if (h->kind == FrameKind::kSlabItem) {
        absl::StatusOr<SlabItem> in_slab = slab_.Resolve(payload, h->seq);
        if (!in_slab.ok()) break;
        message = in_slab->message;
      }
      PeekedItem item{h->seq, h->kind == FrameKind::kSlabItem, message.size(), false, {}};
      if (copied + message.size() <= max_bytes) {
        copied += message.size();
        item.copied = true;
        item.message.assign(message.data(), message.size());
      }
      items.push_back(std::move(item));
    }
    p += h->frame_bytes();
  }
  *more = p < r.tail;
  return items;
}

void PipeReader::Deliver(const FrameHeader& h, absl::string_view message, Payload* out) {
  ReaderState& r = q_->reader;
  const uint64_t seq = h.seq;
  out->Reserve(message.size());
  out->bytes = message.size();
  memcpy(out->words.get(), message.data(), message.size());
  StoreRelease(r.taking_seq, seq);
  std::atomic_thread_fence(std::memory_order_release);
  CHANNEL_FAULT_POINT("reader.before_commit");
  if (seq == accounts_.read_seq()) {
    StoreRelease(r.read_seq, seq + 1);  // a plain take: this store commits it (accounts.h)
  } else {
    uint64_t gap = 0;
    accounts_
        .Transact(Deadline::Never(), -1,
                  [seq, &gap](Ledger& l, SlotCounters*) {
                    gap = Unaccounted(l, seq);  // items that can never arrive
                    l.items -= 1 + static_cast<int64_t>(gap);
                    LoseHandedOut(l, gap);
                    l.read_seq = seq + 1;
                    return true;
                  })
        .IgnoreError();
    if (gap > 0) q_->all_done.event.Signal();  // the lost items may have been all Join waited for
  }
  // After the commit, never before: the item of a take that did not commit is delivered again,
  // and its bytes would count twice.
  StoreRelease(r.bytes_got, r.bytes_got + message.size());
  CHANNEL_FAULT_POINT("reader.after_commit");
  SetCursors(r.head + h.frame_bytes(), r.tail);
  CHANNEL_FAULT_POINT("reader.after_advance");
  StoreRelease(r.taking_seq, uint64_t{0});
}

void PipeReader::DropForShutdown(const FrameHeader& h) {
  const uint64_t seq = h.seq;
  accounts_
      .Transact(Deadline::Never(), -1,
                [seq](Ledger& l, SlotCounters*) {
                  const uint64_t gap = Unaccounted(l, seq);
                  l.items -= 1 + static_cast<int64_t>(gap);
                  LoseHandedOut(l, gap);
                  // Never delivered, so its seq joins seqs_lost (TaskDone's bound), not items_lost.
                  l.unfinished -= 1;
                  ++l.seqs_lost;
                  ++l.items_dropped_by_shutdown;
                  l.read_seq = seq + 1;
                  return true;
                })
      .IgnoreError();
  CHANNEL_FAULT_POINT("reader.dropped");
  SetCursors(q_->reader.head + h.frame_bytes(), q_->reader.tail);
  q_->all_done.event.Signal();  // the dropped items may have been all Join waited for
}

void PipeReader::ApplyTombstone(uint64_t seq) {
  uint64_t lost = 0;
  accounts_
      .Transact(Deadline::Never(), -1,
                [seq, &lost](Ledger& l, SlotCounters*) {
                  if (seq < l.read_seq) return false;  // nothing left of that batch is missing
                  lost = Unaccounted(l, seq + 1);
                  l.items -= static_cast<int64_t>(lost);
                  LoseHandedOut(l, lost);
                  l.read_seq = seq + 1;
                  return true;
                })
      .IgnoreError();
  if (lost > 0) {
    q_->space_free.event.Signal();
    q_->all_done.event.Signal();
  }
}

absl::Status PipeReader::AbsorbTornBatch(uint64_t first, uint64_t last, int slot) {
  RobustLock lock;
  absl::Status s = lock.Acquire(&q_->reader.mu, Deadline::Never(), [this] { Repair(); });
  if (!s.ok()) return s;
  ReaderState& r = q_->reader;
  const uint64_t cap = q_->header.staging_capacity;
  if (!DrainPipeLocked() || r.tail + kFrameHeaderBytes > cap) {
    return absl::UnavailableError("staging cannot hold the pipe's contents");
  }
  // Every item written so far is now taken, whole in staging, or never coming. Collect the whole
  // ones not taken yet; the rest, up to `last`, are lost. The walk must make exactly the decisions
  // Pump will make over the same bytes (nothing more can arrive before this batch is closed): a
  // frame that is incomplete now is torn and, like any bytes that do not verify, skipped one byte
  // at a time — frames inside its claimed length are still found.
  // Plain takes (never undone) got this far; the ledger may say more only through a transaction
  // that a dead reader may have left half-committed.
  const uint64_t taken_to = LoadRelaxed(r.read_seq);
  const uint64_t expected = accounts_.read_seq();  // what Pump compares seqs with
  const uint64_t next_seq = LoadRelaxed(q_->writer.next_seq);
  std::vector<uint64_t> whole_items;  // seqs in [taken_to, last]
  const char* s_base = q_->staging();
  for (uint64_t p = r.head; p + kFrameHeaderBytes <= r.tail;) {
    absl::StatusOr<FrameHeader> h = DecodeHeader(s_base + p, q_->header.max_message_bytes);
    bool whole = h.ok() && h->seq != 0 && h->seq < next_seq && p + h->frame_bytes() <= r.tail;
    if (whole && IsItem(h->kind)) whole = VerifyPayload(*h, s_base + p + kFrameHeaderBytes).ok();
    if (whole && h->kind == FrameKind::kSlabItem && h->seq >= expected) {
      whole = slab_.Resolve(s_base + p + kFrameHeaderBytes, h->seq).ok();  // as Pump decides
    }
    if (!whole) {
      p += 1 + FindMagic(s_base + p + 1, r.tail - p - 1);
      continue;
    }
    if (IsItem(h->kind) && h->seq >= taken_to && h->seq <= last) {
      whole_items.push_back(h->seq);
    }
    p += h->frame_bytes();
  }
  std::sort(whole_items.begin(), whole_items.end());  // a seq found twice is delivered once
  whole_items.erase(std::unique(whole_items.begin(), whole_items.end()), whole_items.end());
  // Under the reader lock, so no reader can count a gap in between. What was counted already is
  // decided from the ledger this transaction commits, never from a lock-free read: a repairer
  // killed inside its own transaction leaves accounted_through raised until that transaction is
  // undone, and a count based on it would skip the batch's losses for good.
  accounts_
      .Transact(Deadline::Never(), slot,
                [first, last, &whole_items](Ledger& l, SlotCounters* c) {
                  if (c != nullptr && c->sent_through < last) {
                    c->unsent -= static_cast<int64_t>(last - first + 1);
                    c->sent_through = last;
                  }
                  if (l.accounted_through >= last) return c != nullptr;  // counted already
                  const uint64_t from = std::max(l.read_seq, l.accounted_through + 1);
                  uint64_t lost = 0;
                  if (last >= from) {
                    const auto present = static_cast<uint64_t>(
                        whole_items.end() -
                        std::lower_bound(whole_items.begin(), whole_items.end(), from));
                    lost = last - from + 1 - present;
                  }
                  ++l.torn_writes;
                  l.items -= static_cast<int64_t>(lost);
                  LoseHandedOut(l, lost);
                  l.accounted_through = last;
                  return true;
                })
      .IgnoreError();
  FrameHeader tombstone;
  tombstone.kind = FrameKind::kTombstone;
  tombstone.seq = last;
  EncodeHeader(tombstone, q_->staging() + r.tail);
  SetCursors(r.head, r.tail + kFrameHeaderBytes);
  return absl::OkStatus();
}

void PipeReader::Resync() {
  ReaderState& r = q_->reader;
  CountResync(accounts_);
  const uint64_t from = r.head + 1;
  SetCursors(from + FindMagic(q_->staging() + from, r.tail - from), r.tail);
}

PipeReader::ReadResult PipeReader::ReadMore(uint64_t need) {
  ReaderState& r = q_->reader;
  const uint64_t cap = q_->header.staging_capacity;
  char* s = q_->staging();
  uint64_t want = std::max<uint64_t>(need, kReadChunkBytes);
  const uint64_t len = r.tail - r.head;
  if (r.head > 0 && r.head >= len && r.tail + want > std::min(cap, kSoftStagingBytes)) {
    // Non-overlapping, so a holder killed mid-copy leaves the source intact and the journal
    // (old cursors) is a correct rollback.
    r.journal_head = r.head;
    r.journal_tail = r.tail;
    StoreRelease(r.journal_active, 1u);
    std::atomic_thread_fence(std::memory_order_release);
    memcpy(s, s + r.head, len);
    CHANNEL_FAULT_POINT("reader.compacting");
    StoreRelease(r.head, uint64_t{0});
    StoreRelease(r.tail, len);
    StoreRelease(r.journal_active, 0u);
  }
  want = std::min(want, cap - r.tail);
  if (want < need || want == 0) return ReadResult::kNoRoom;  // not with a sane layout
  r.read_at = r.tail;
  r.read_max = want;
  StoreRelease(r.reading, 1u);
  std::atomic_thread_fence(std::memory_order_release);
  ssize_t n;
  do {
    n = read(fd_, s + r.tail, want);
  } while (n < 0 && errno == EINTR);
  const int read_errno = n < 0 ? errno : 0;
  if (n > 0) CHANNEL_FAULT_POINT("reader.after_read");
  if (n > 0) SetCursors(r.head, r.tail + static_cast<uint64_t>(n));
  StoreRelease(r.reading, 0u);
  if (n > 0) return ReadResult::kRead;
  // EAGAIN, or EOF (no writer left). Any other error: nothing was read, and the pipe is not
  // known to be empty.
  return n == 0 || read_errno == EAGAIN ? ReadResult::kPipeEmpty : ReadResult::kNoRoom;
}

void PipeReader::SetCursors(uint64_t head, uint64_t tail) {
  ReaderState& r = q_->reader;
  if (head == tail) head = tail = 0;  // rewinding keeps the touched part of staging small
  r.journal_head = r.head;
  r.journal_tail = r.tail;
  StoreRelease(r.journal_active, 1u);
  std::atomic_thread_fence(std::memory_order_release);
  StoreRelease(r.head, head);
  StoreRelease(r.tail, tail);
  StoreRelease(r.journal_active, 0u);
}

void PipeReader::Repair() {
  ReaderState& r = q_->reader;
  if (r.journal_active != 0) {
    StoreRelease(r.head, r.journal_head);
    StoreRelease(r.tail, r.journal_tail);
    StoreRelease(r.journal_active, 0u);
  }
  if (r.reading != 0) {
    if (r.tail == r.read_at) ExtendTailAfterCrash();
    StoreRelease(r.reading, 0u);
  }
  if (r.batch_first != 0) {
    // A GetMany whose process died before returning: every item it took is lost (the item in
    // flight, if committed, included, so taking_seq needs no repair of its own).
    const uint64_t first = r.batch_first;
    const uint64_t lost_before = r.batch_seqs_lost;
    accounts_
        .Transact(Deadline::Never(), -1,
                  [first, lost_before](Ledger& l, SlotCounters*) {
                    if (l.read_seq <= first) return false;
                    const uint64_t seqs = l.read_seq - first;
                    const uint64_t lost_since = l.seqs_lost > lost_before ? l.seqs_lost - lost_before : 0;
                    if (seqs <= lost_since) return false;
                    LoseHandedOut(l, seqs - lost_since);
                    return true;
                  })
        .IgnoreError();
    q_->all_done.event.Signal();
    StoreRelease(r.taking_seq, uint64_t{0});
    StoreRelease(r.batch_first, uint64_t{0});
  }
  if (r.taking_seq != 0) {
    const uint64_t seq = r.taking_seq;
    // Committed (read_seq moved past it) but never returned by the dead reader's Get: it is
    // lost, and must not keep a JoinableQueue's Join waiting.
    accounts_
        .Transact(Deadline::Never(), -1,
                  [seq](Ledger& l, SlotCounters*) {
                    if (l.read_seq <= seq) return false;
                    LoseHandedOut(l, 1);
                    return true;
                  })
        .IgnoreError();
    q_->all_done.event.Signal();
    StoreRelease(r.taking_seq, uint64_t{0});
  }
}

void PipeReader::ExtendTailAfterCrash() {
  ReaderState& r = q_->reader;
  const uint64_t cap = q_->header.staging_capacity;
  if (r.head > r.tail || r.tail > cap || r.read_at > cap) return;
  const uint64_t limit = std::min(cap, r.read_at + std::min(r.read_max, cap));
  const char* s = q_->staging();
  // Walk the stream from head. Frames wholly below tail were published; anything past tail is
  // either what the dead reader read, or stale bytes from earlier use of staging. Only frames
  // that continue the stream exactly (a straddling frame whose checksum now matches, then items
  // with consecutive seqs, or tombstones, which are idempotent) are the former.
  uint64_t p = r.head;
  uint64_t last = accounts_.read_seq() - 1;
  while (p + kFrameHeaderBytes <= limit) {
    absl::StatusOr<FrameHeader> h = DecodeHeader(s + p, q_->header.max_message_bytes);
    if (!h.ok()) break;
    const uint64_t end = p + h->frame_bytes();
    const bool item = IsItem(h->kind);
    if (end > r.tail) {
      if (end > limit) break;
      if (p >= r.tail && item && h->seq != last + 1) break;
      if (item && !VerifyPayload(*h, s + p + kFrameHeaderBytes).ok()) break;
    }
    last = std::max(last, h->seq);  // tombstones too: the stream continues after their seq
    p = end;
  }
  if (p > r.tail) SetCursors(r.head, p);
}

}  // namespace internal
}  // namespace channel
