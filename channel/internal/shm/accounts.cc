#include "channel/internal/shm/accounts.h"

#include <atomic>

#include "channel/internal/testing/fault_injection.h"

namespace channel {
namespace internal {
namespace {

// Field-wise atomic stores, of the fields that differ: lock-free readers never see a torn word,
// and a transaction that changes only items and unfinished leaves the ledger's second cache line
// (read_seq and the rest, read by every Get) untouched.
void Publish(Ledger& dst, const Ledger& src) {
  auto store = [](auto& field, auto value) {
    if (field != value) StoreRelease(field, value);
  };
  store(dst.items, src.items);
  store(dst.unfinished, src.unfinished);
  store(dst.read_seq, src.read_seq);
  store(dst.accounted_through, src.accounted_through);
  store(dst.items_lost, src.items_lost);
  store(dst.resyncs, src.resyncs);
  store(dst.torn_writes, src.torn_writes);
  store(dst.dead_processes, src.dead_processes);
  store(dst.tasks_folded, src.tasks_folded);
  store(dst.seqs_lost, src.seqs_lost);
  store(dst.shut_down, src.shut_down);
  store(dst.items_dropped_by_shutdown, src.items_dropped_by_shutdown);
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
  // Not journaled: a maximum only rises, and one raised by a transaction that is then undone is
  // still a depth the queue nearly had (stats.h documents peak_depth as approximate).
  if (ledger.items > a.peak_items) StoreRelease(a.peak_items, ledger.items);
  StoreRelease(a.commits, a.commits + 1);
  StoreRelease(a.journal_active, 0u);
}

namespace {

// How far a lock-free counter is ahead of the part of it the ledger has folded in.
int64_t Lag(uint64_t counter, uint64_t folded) {
  return counter > folded ? static_cast<int64_t>(counter - folded) : 0;
}

}  // namespace

void Accounts::FoldLockFree(Ledger* ledger) const {
  const uint64_t taken_to = TakenTo();
  ledger->items -= Lag(taken_to, ledger->read_seq);
  ledger->read_seq = std::max(ledger->read_seq, taken_to);
  const uint64_t done = LoadRelaxed(q_->reader.tasks_done);
  ledger->unfinished -= Lag(done, ledger->tasks_folded);
  ledger->tasks_folded = std::max(ledger->tasks_folded, done);
}

uint64_t Accounts::SeqsKeptBelow(uint64_t seq) const {
  const uint64_t lost = LoadRelaxed(q_->accounts.ledger.seqs_lost);
  return seq > lost && seq - lost > 1 ? seq - 1 - lost : 0;  // no wrap, whatever the file says
}

absl::Status Accounts::TaskDone(bool* maybe_finished) {
  for (;;) {
    uint64_t done = LoadRelaxed(q_->reader.tasks_done);
    // Fewer tasks done than items delivered decides it without `unfinished`, on the line every Put
    // writes. The exact count (which includes `done`, or a later value the CAS then refuses)
    // decides the rest, e.g. a TaskDone for an item not taken yet.
    if (done >= SeqsKeptBelow(LoadRelaxed(q_->reader.read_seq)) && unfinished() <= 0) {
      return absl::OutOfRangeError("task_done() called too many times");
    }
    if (__atomic_compare_exchange_n(&q_->reader.tasks_done, &done, done + 1, /*weak=*/false,
                                    __ATOMIC_SEQ_CST, __ATOMIC_SEQ_CST)) {
      // Items handed a seq and neither lost nor done are unfinished. Read after the CAS: a loss
      // counted later signals all_done itself, once this call's count is visible.
      *maybe_finished = done + 1 >= SeqsKeptBelow(LoadRelaxed(q_->writer.next_seq));
      return absl::OkStatus();
    }
  }
}

template <typename Read>
auto Accounts::Consistent(Read read) const -> decltype(read()) {
  constexpr int kAttempts = 1000;
  const AccountsState& a = q_->accounts;
  for (int attempt = 0; attempt < kAttempts; ++attempt) {
    const uint64_t commits = LoadRelaxed(a.commits);
    if (LoadRelaxed(a.journal_active) != 0) continue;
    auto value = read();
    std::atomic_thread_fence(std::memory_order_acquire);
    if (LoadRelaxed(a.journal_active) == 0 && LoadRelaxed(a.commits) == commits) return value;
  }
  // A transaction has been in flight all along (its process may have died in it): the lock
  // repairs the ledger first if so, and keeps it still while read() runs.
  decltype(read()) value{};
  const_cast<Accounts*>(this)
      ->Transact(Deadline::Never(), -1,
                 [&](Ledger&, SlotCounters*) {
                   value = read();
                   return false;
                 })
      .IgnoreError();  // a Never deadline cannot time out
  return value;
}

int64_t Accounts::items() const {
  const Ledger& l = q_->accounts.ledger;
  return Consistent([&] { return LoadRelaxed(l.items) - Lag(TakenTo(), LoadRelaxed(l.read_seq)); });
}

int64_t Accounts::unfinished() const {
  const Ledger& l = q_->accounts.ledger;
  return Consistent([&] {
    return LoadRelaxed(l.unfinished) -
           Lag(LoadRelaxed(q_->reader.tasks_done), LoadRelaxed(l.tasks_folded));
  });
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
  const Ledger& l = q_->accounts.ledger;
  return Consistent([&] {
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
    out.seqs_lost = LoadRelaxed(l.seqs_lost);
    out.shut_down = LoadRelaxed(l.shut_down);
    out.items_dropped_by_shutdown = LoadRelaxed(l.items_dropped_by_shutdown);
    FoldLockFree(&out);
    return out;
  });
}

}  // namespace internal
}  // namespace channel
