#include "channel/internal/accounts.h"

#include <atomic>

#include "channel/internal/fault_injection.h"

namespace channel {
namespace internal {
namespace {

// Field-wise atomic stores: lock-free readers never see a torn word.
void Publish(Ledger& dst, const Ledger& src) {
  StoreRelease(dst.items, src.items);
  StoreRelease(dst.unfinished, src.unfinished);
  StoreRelease(dst.read_seq, src.read_seq);
  StoreRelease(dst.accounted_through, src.accounted_through);
  StoreRelease(dst.items_lost, src.items_lost);
  StoreRelease(dst.resyncs, src.resyncs);
  StoreRelease(dst.torn_writes, src.torn_writes);
  StoreRelease(dst.dead_processes, src.dead_processes);
  StoreRelease(dst.tasks_folded, src.tasks_folded);
}

}  // namespace

void Accounts::Commit(const Ledger& ledger, int slot, const SlotCounters& counters) {
  AccountsState& a = q_->accounts;
  a.journal_ledger = a.ledger;
  a.journal_slot = slot;
  if (slot >= 0) {
    a.journal_slot_unsent = q_->slots[slot].unsent;
    a.journal_slot_sent_through = q_->slots[slot].sent_through;
  }
  StoreRelease(a.journal_active, 1u);
  // The journal must be visible before any change is: a kill between two of the stores below
  // is then always undone from it.
  std::atomic_thread_fence(std::memory_order_release);
  CHANNEL_FAULT_POINT("accounts.journaled");
  Publish(a.ledger, ledger);
  CHANNEL_FAULT_POINT("accounts.half_committed");
  if (slot >= 0) {
    StoreRelease(q_->slots[slot].unsent, counters.unsent);
    StoreRelease(q_->slots[slot].sent_through, counters.sent_through);
  }
  StoreRelease(a.commits, a.commits + 1);
  StoreRelease(a.journal_active, 0u);
}

void Accounts::FoldLockFree(Ledger* ledger) const {
  // Clamped to the seqs handed out: only a corrupted queue file could hold more.
  const uint64_t taken_to =
      std::min(LoadRelaxed(q_->reader.read_seq), LoadRelaxed(q_->writer.next_seq));
  if (taken_to > ledger->read_seq) {
    ledger->items -= static_cast<int64_t>(taken_to - ledger->read_seq);
    ledger->read_seq = taken_to;
  }
  const uint64_t done = LoadRelaxed(q_->tasks_done);
  if (done > ledger->tasks_folded) {
    ledger->unfinished -= static_cast<int64_t>(done - ledger->tasks_folded);
    ledger->tasks_folded = done;
  }
}

absl::Status Accounts::TaskDone() {
  for (;;) {
    uint64_t done = LoadRelaxed(q_->tasks_done);
    if (Snapshot().unfinished <= 0) {  // includes `done` and any TaskDone since
      return absl::OutOfRangeError("task_done() called too many times");
    }
    if (__atomic_compare_exchange_n(&q_->tasks_done, &done, done + 1, /*weak=*/false,
                                    __ATOMIC_SEQ_CST, __ATOMIC_SEQ_CST)) {
      return absl::OkStatus();
    }
  }
}

void Accounts::Repair() {
  AccountsState& a = q_->accounts;
  if (LoadRelaxed(a.journal_active) == 0) return;
  Publish(a.ledger, a.journal_ledger);
  const int slot = a.journal_slot;
  if (slot >= 0 && slot < kMaxSlots) {
    StoreRelease(q_->slots[slot].unsent, a.journal_slot_unsent);
    StoreRelease(q_->slots[slot].sent_through, a.journal_slot_sent_through);
  }
  StoreRelease(a.commits, a.commits + 1);
  StoreRelease(a.journal_active, 0u);
}

Ledger Accounts::Snapshot() const {
  constexpr int kAttempts = 1000;
  const AccountsState& a = q_->accounts;
  const Ledger& l = a.ledger;
  for (int attempt = 0; attempt < kAttempts; ++attempt) {
    const uint64_t commits = LoadRelaxed(a.commits);
    if (LoadRelaxed(a.journal_active) != 0) continue;
    Ledger out{};
    out.items = LoadRelaxed(l.items);
    out.unfinished = LoadRelaxed(l.unfinished);
    out.read_seq = LoadRelaxed(l.read_seq);
    out.accounted_through = LoadRelaxed(l.accounted_through);
    out.items_lost = LoadRelaxed(l.items_lost);
    out.resyncs = LoadRelaxed(l.resyncs);
    out.torn_writes = LoadRelaxed(l.torn_writes);
    out.dead_processes = LoadRelaxed(l.dead_processes);
    out.tasks_folded = LoadRelaxed(l.tasks_folded);
    FoldLockFree(&out);
    std::atomic_thread_fence(std::memory_order_acquire);
    if (LoadRelaxed(a.journal_active) == 0 && LoadRelaxed(a.commits) == commits) return out;
  }
  // A transaction has been in flight all along (its process may have died in it): the lock
  // repairs the ledger first if so.
  Ledger out{};
  const_cast<Accounts*>(this)
      ->Transact(Deadline::Never(), -1,
                 [&out](Ledger& folded, SlotCounters*) {
                   out = folded;
                   return false;
                 })
      .IgnoreError();  // a Never deadline cannot time out
  return out;
}

}  // namespace internal
}  // namespace channel
