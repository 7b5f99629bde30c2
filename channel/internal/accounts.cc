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
  StoreRelease(a.journal_active, 0u);
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
  StoreRelease(a.journal_active, 0u);
}

Ledger Accounts::Snapshot() const {
  const Ledger& l = q_->accounts.ledger;
  Ledger out{};
  out.items = LoadRelaxed(l.items);
  out.unfinished = LoadRelaxed(l.unfinished);
  out.read_seq = LoadRelaxed(l.read_seq);
  out.items_lost = LoadRelaxed(l.items_lost);
  out.resyncs = LoadRelaxed(l.resyncs);
  out.torn_writes = LoadRelaxed(l.torn_writes);
  out.dead_processes = LoadRelaxed(l.dead_processes);
  return out;
}

}  // namespace internal
}  // namespace channel
