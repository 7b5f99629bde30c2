// Accounts: the queue's counters (qsize, JoinableQueue's unfinished count, the reader's expected
// seq, loss statistics) and each putting process's slot counters, changed as one crash-atomic step.
//
// Protocol (an undo journal under a RobustMutex): Transact copies the ledger and the touched
// slot's counters into the journal, raises journal_active, applies the change, lowers it. A process
// killed in between leaves journal_active raised; the next locker gets kOwnerDied and restores the
// journal, so a change is either wholly applied or not at all.
//
// Plain takes bypass the lock. Taking the item with exactly the expected seq changes nothing but
// "one item fewer, next seq + 1", so the reader commits it with one store to ReaderState::read_seq
// under the reader lock it holds anyway (PipeReader::Deliver); the ledger's items and read_seq
// lag behind by the takes in [ledger.read_seq, reader.read_seq). Transactions fold those in
// first (the change sees, and commits, the up-to-date ledger) — except Put's reservation, which
// does only when the queue looks full (TransactFoldingLazily) — and every reader of the ledger
// subtracts them. The reader's read_seq only grows, and a fold only raises ledger.read_seq to a
// value reader.read_seq had, so the lag is never negative and a fold that raced with further
// takes just leaves those for the next one. The producer and the consumer of an item each take
// one robust lock instead of contending for this one.
//
// TaskDone works the same way: a CAS on ReaderState::tasks_done, folded into ledger.unfinished
// by the next transaction (ledger.tasks_folded records how far) and subtracted by readers. It
// need not read `unfinished` (on the line every Put writes) while fewer tasks are done than items
// were delivered: ReaderState::read_seq less ledger.seqs_lost bounds the deliveries from below,
// and the writer's next_seq less seqs_lost bounds from below the items put and not lost, so
// whether the count may have reached zero (and Join needs waking) is known without it too.
//
// Lock-free readers (qsize(), empty(), stats) see a consistent ledger through `commits`, which
// every commit and every undo bumps, as with a seqlock.
//
// Lock order: the writer lock or the reader lock may be held when calling Transact; never the
// reverse.
#ifndef CHANNEL_INTERNAL_SHM_ACCOUNTS_H_
#define CHANNEL_INTERNAL_SHM_ACCOUNTS_H_

#include <algorithm>

#include "absl/status/status.h"
#include "absl/types/optional.h"
#include "channel/internal/core/deadline.h"
#include "channel/internal/shm/shared_state.h"

namespace channel {
namespace internal {

// The slot counters a transaction may change.
struct SlotCounters {
  int64_t unsent = 0;
  uint64_t sent_through = 0;
};

class Accounts {
 public:
  explicit Accounts(SharedQueue* queue) : q_(queue) {}

  // Runs `change(Ledger&, SlotCounters*)` on copies and commits them atomically. `slot` is the
  // ProcessSlot index to include, or -1 (then the SlotCounters pointer is null). `change` returns
  // false to commit nothing (for example when the queue is full). Returns kDeadlineExceeded if
  // the lock could not be taken in time; otherwise OK, with *committed telling whether the
  // change was applied.
  template <typename Change>
  absl::Status Transact(const Deadline& deadline, int slot, Change&& change,
                        bool* committed = nullptr) {
    return Run(deadline, slot, /*fold_lazily=*/false, change, committed);
  }

  // Transact for changes that only add to items and unfinished (Put's reservation): `change`
  // first sees the ledger without the lock-free takes and TaskDones folded in, whose items and
  // unfinished are then too high, never too low; only if it refuses that ledger (the queue looks
  // full) is it run again on the folded one. Folding reads the consumers' words (their read_seq,
  // tasks_done), so a Put that does not need them leaves their cache lines alone.
  template <typename Change>
  absl::Status TransactFoldingLazily(const Deadline& deadline, int slot, Change&& change,
                                     bool* committed) {
    return Run(deadline, slot, /*fold_lazily=*/true, change, committed);
  }

  // JoinableQueue's task_done(): one less unfinished item, or kOutOfRange if none is left. On
  // success *maybe_finished is false if items certainly remain unfinished, true if the count may
  // have reached zero (the caller then reads unfinished() before waking Join). Lock-free (see
  // above). Exact unless it races with a transaction counting undelivered items lost: a call that
  // was one too many may then pass, leaving unfinished at -1 (only a program calling TaskDone
  // more often than Get returned items can get there).
  absl::Status TaskDone(bool* maybe_finished);

  // Lock-free reads, plain takes and TaskDones included. They fall back to the lock (waiting as
  // long as it takes) when a transaction stays in flight, e.g. because its process died in it.
  int64_t items() const;
  int64_t unfinished() const;
  Ledger Snapshot() const;
  // Ledger::shut_down, lock-free. It only grows, so a stale read only delays seeing a Shutdown.
  ShutDownState shut_down() const {
    return static_cast<ShutDownState>(LoadRelaxed(q_->accounts.ledger.shut_down));
  }
  // The next item seq a reader expects. Exact while the caller holds the reader lock (nobody
  // else can take an item or move ledger.read_seq past reader.read_seq then).
  uint64_t read_seq() const {
    return std::max(LoadRelaxed(q_->accounts.ledger.read_seq), LoadRelaxed(q_->reader.read_seq));
  }

 private:
  // Runs read() until a run saw no transaction commit or stay in flight (the seqlock on
  // `commits`); under the lock if that does not happen soon.
  template <typename Read>
  auto Consistent(Read read) const -> decltype(read());
  // How far plain takes got: the reader's read_seq, clamped to the seqs handed out (only a
  // corrupted queue file could hold more).
  uint64_t TakenTo() const {
    return std::min(LoadRelaxed(q_->reader.read_seq), LoadRelaxed(q_->writer.next_seq));
  }
  template <typename Change>
  absl::Status Run(const Deadline& deadline, int slot, bool fold_lazily, Change& change,
                   bool* committed) {
    RobustLock lock;
    absl::Status s = lock.Acquire(&q_->accounts.mu, deadline, [this] { Repair(); });
    if (!s.ok()) return s;
    Ledger ledger;
    SlotCounters counters;
    auto attempt = [&](bool fold) {
      ledger = q_->accounts.ledger;
      if (fold) FoldLockFree(&ledger);
      if (slot >= 0) counters = {q_->slots[slot].unsent, q_->slots[slot].sent_through};
      return change(ledger, slot >= 0 ? &counters : nullptr);
    };
    const bool apply = (fold_lazily && attempt(/*fold=*/false)) || attempt(/*fold=*/true);
    if (apply) Commit(ledger, slot, counters);
    if (committed != nullptr) *committed = apply;
    return absl::OkStatus();
  }
  // Seqs below `seq` that were not lost: every one was delivered by a Get if `seq` is a read_seq,
  // and is delivered or still unfinished if it is the writer's next_seq. Read after `seq`, so
  // losses among those seqs (counted before the read_seq passed them) are included.
  uint64_t SeqsKeptBelow(uint64_t seq) const;
  void FoldLockFree(Ledger* ledger) const;
  void Commit(const Ledger& ledger, int slot, const SlotCounters& counters);
  void Repair();
  SharedQueue* q_;
};

}  // namespace internal
}  // namespace channel

#endif  // CHANNEL_INTERNAL_SHM_ACCOUNTS_H_
