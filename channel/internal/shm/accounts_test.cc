// Unit tests of Accounts (accounts.h): transactions, the undo journal a dying process leaves
// behind, and exact totals under concurrent and crashing processes.
#include "channel/internal/shm/accounts.h"

#include <gtest/gtest.h>
#include <signal.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <future>
#include <random>
#include <thread>
#include <vector>

#include "channel/internal/testing/test_util.h"

namespace channel {
namespace internal {
namespace {

using ::channel::testing::ExpectExitCode;
using ::channel::testing::ForkChild;
using ::channel::testing::KillAndReap;
using ::channel::testing::MakeOwnerDead;
using ::channel::testing::ReadValue;
using ::channel::testing::TestPipe;
using ::channel::testing::WriteValue;

using AccountsTest = ::channel::testing::SharedQueueTest;

absl::Status TaskDone(Accounts& a) {
  bool maybe_finished;
  return a.TaskDone(&maybe_finished);
}

// Expects every counter of the ledger `l`, in declaration order.
void ExpectLedger(const Ledger& l, int64_t items, int64_t unfinished, uint64_t read_seq,
                  uint64_t items_lost, uint64_t resyncs, uint64_t torn_writes,
                  uint64_t dead_processes) {
  EXPECT_EQ(l.items, items);
  EXPECT_EQ(l.unfinished, unfinished);
  EXPECT_EQ(l.read_seq, read_seq);
  EXPECT_EQ(l.items_lost, items_lost);
  EXPECT_EQ(l.resyncs, resyncs);
  EXPECT_EQ(l.torn_writes, torn_writes);
  EXPECT_EQ(l.dead_processes, dead_processes);
}

TEST_F(AccountsTest, FreshQueue) {
  Accounts a(q_);
  ExpectLedger(a.Snapshot(), 0, 0, 1, 0, 0, 0, 0);
  EXPECT_EQ(q_->accounts.journal_active, 0u);
  EXPECT_EQ(q_->accounts.journal_slot, -1);
}

TEST_F(AccountsTest, TransactCommitsOrNot) {
  Accounts a(q_);
  bool committed = false;
  ASSERT_TRUE(a.Transact(
                   Deadline::Never(), -1,
                   [](Ledger& l, SlotCounters* c) {
                     EXPECT_EQ(c, nullptr);
                     l.items += 3;
                     l.unfinished += 2;
                     return true;
                   },
                   &committed)
                  .ok());
  EXPECT_TRUE(committed);
  EXPECT_EQ(a.items(), 3);
  EXPECT_EQ(a.unfinished(), 2);
  // A change that returns false commits nothing, even what it modified in its copy.
  ASSERT_TRUE(a.Transact(
                   Deadline::Never(), -1,
                   [](Ledger& l, SlotCounters*) {
                     l.items = 100;
                     return false;
                   },
                   &committed)
                  .ok());
  EXPECT_FALSE(committed);
  EXPECT_EQ(a.items(), 3);
  EXPECT_EQ(q_->accounts.journal_active, 0u);
}

TEST_F(AccountsTest, TransactWithSlotCounters) {
  Accounts a(q_);
  q_->slots[7].unsent = 5;
  q_->slots[7].sent_through = 40;
  ASSERT_TRUE(a.Transact(Deadline::Never(), 7, [](Ledger& l, SlotCounters* c) {
                 EXPECT_NE(c, nullptr);
                 EXPECT_EQ(c->unsent, 5);
                 EXPECT_EQ(c->sent_through, 40u);
                 c->unsent -= 2;
                 c->sent_through = 42;
                 l.read_seq = 43;
                 return true;
               }).ok());
  EXPECT_EQ(q_->slots[7].unsent, 3);
  EXPECT_EQ(q_->slots[7].sent_through, 42u);
  EXPECT_EQ(a.Snapshot().read_seq, 43u);
  // Other slots untouched.
  EXPECT_EQ(q_->slots[6].unsent, 0);
  EXPECT_EQ(q_->slots[8].unsent, 0);
}

TEST_F(AccountsTest, TransactTimesOutAgainstALiveHolder) {
  TestPipe ready, release;
  SharedQueue* q = q_;
  const int ready_w = ready.w, release_r = release.r;
  const pid_t holder = ForkChild([=] {
    if (!q->accounts.mu.Lock(Deadline::Never()).ok()) return 2;
    WriteValue(ready_w, char{'L'});
    char c;
    ReadValue(release_r, &c, absl::Seconds(60));
    q->accounts.mu.Unlock();
    return 0;
  });
  ASSERT_GT(holder, 0);
  char c;
  ASSERT_TRUE(ReadValue(ready.r, &c));
  Accounts a(q_);
  bool ran = false;
  absl::Status s = a.Transact(Deadline::After(absl::Milliseconds(100)), -1,
                              [&](Ledger&, SlotCounters*) { return ran = true; });
  EXPECT_EQ(s.code(), absl::StatusCode::kDeadlineExceeded) << s;
  EXPECT_FALSE(ran);
  ASSERT_TRUE(WriteValue(release.w, char{'u'}));
  ASSERT_NO_FATAL_FAILURE(ExpectExitCode(holder, 0));
  EXPECT_TRUE(a.Transact(Deadline::After(absl::Seconds(30)), -1, [&](Ledger&, SlotCounters*) {
                 return ran = true;
               }).ok());
  EXPECT_TRUE(ran);
}

// Writes the ledger as a process killed half-way through Commit leaves it: the journal holds
// the old values and is active; some fields already hold new values, some still the old.
void LeaveHalfCommitted(SharedQueue* q, int slot) {
  AccountsState& a = q->accounts;
  Ledger old{};
  old.items = 10;
  old.unfinished = 11;
  old.read_seq = 12;
  old.items_lost = 13;
  old.resyncs = 14;
  old.torn_writes = 15;
  old.dead_processes = 16;
  a.journal_ledger = old;
  a.journal_slot = slot;
  a.journal_slot_unsent = 4;
  a.journal_slot_sent_through = 90;
  a.journal_active = 1;
  // Partially applied change: items and read_seq new, the rest old; slot unsent new.
  a.ledger = old;
  a.ledger.items = 999;
  a.ledger.read_seq = 777;
  if (slot >= 0) {
    q->slots[slot].unsent = -50;
    q->slots[slot].sent_through = 90;
  }
}

TEST_F(AccountsTest, DeadCommitterIsRolledBackFromTheJournal) {
  LeaveHalfCommitted(q_, 3);
  ASSERT_TRUE(MakeOwnerDead(&q_->accounts.mu));
  Accounts a(q_);
  Ledger seen{};
  SlotCounters seen_slot;
  ASSERT_TRUE(a.Transact(Deadline::After(absl::Seconds(30)), 3, [&](Ledger& l, SlotCounters* c) {
                 seen = l;
                 seen_slot = *c;
                 ++l.items;
                 ++c->unsent;
                 return true;
               }).ok());
  // The change ran against the restored (old) values.
  ExpectLedger(seen, 10, 11, 12, 13, 14, 15, 16);
  EXPECT_EQ(seen_slot.unsent, 4);
  EXPECT_EQ(seen_slot.sent_through, 90u);
  const Ledger l = a.Snapshot();
  EXPECT_EQ(l.items, 11);
  EXPECT_EQ(l.read_seq, 12u);
  EXPECT_EQ(q_->slots[3].unsent, 5);
  EXPECT_EQ(q_->accounts.journal_active, 0u);
  // The mutex is consistent again: the next transaction does not repair (it would restore the
  // stale journal over the committed values if it did).
  ASSERT_TRUE(a.Transact(Deadline::After(absl::Seconds(30)), -1, [](Ledger& l, SlotCounters*) {
                 ++l.items;
                 return true;
               }).ok());
  EXPECT_EQ(a.items(), 12);
}

TEST_F(AccountsTest, DeadCommitterWithoutSlot) {
  LeaveHalfCommitted(q_, -1);
  q_->slots[0].unsent = 8;  // must not be touched by the repair
  ASSERT_TRUE(MakeOwnerDead(&q_->accounts.mu));
  Accounts a(q_);
  ASSERT_TRUE(a.Transact(Deadline::After(absl::Seconds(30)), -1, [](Ledger&, SlotCounters*) {
                 return false;
               }).ok());
  EXPECT_EQ(a.items(), 10);
  EXPECT_EQ(a.Snapshot().read_seq, 12u);
  EXPECT_EQ(q_->slots[0].unsent, 8);
}

TEST_F(AccountsTest, CorruptJournalSlotIsIgnored) {
  LeaveHalfCommitted(q_, -1);
  q_->accounts.journal_slot = kMaxSlots + 5;  // out of range: only the ledger is restored
  ASSERT_TRUE(MakeOwnerDead(&q_->accounts.mu));
  Accounts a(q_);
  ASSERT_TRUE(a.Transact(Deadline::After(absl::Seconds(30)), -1, [](Ledger&, SlotCounters*) {
                 return false;
               }).ok());
  EXPECT_EQ(a.items(), 10);
}

TEST_F(AccountsTest, DeadHolderWithoutJournalChangesNothing) {
  // Died inside its change function (before Commit): nothing was applied, nothing to undo.
  Accounts a(q_);
  ASSERT_TRUE(a.Transact(Deadline::Never(), -1, [](Ledger& l, SlotCounters*) {
                 l.items = 5;
                 return true;
               }).ok());
  TestPipe ready;
  SharedQueue* q = q_;
  const int ready_w = ready.w;
  const pid_t victim = ForkChild([=] {
    Accounts mine(q);
    mine.Transact(Deadline::Never(), -1,
                  [&](Ledger& l, SlotCounters*) {
                    l.items = 1000;
                    WriteValue(ready_w, char{'x'});
                    pause();  // killed here, holding the lock, before Commit
                    return true;
                  })
        .IgnoreError();
    return 0;
  });
  ASSERT_GT(victim, 0);
  char c;
  ASSERT_TRUE(ReadValue(ready.r, &c));
  KillAndReap(victim);
  ASSERT_TRUE(a.Transact(Deadline::After(absl::Seconds(30)), -1, [](Ledger& l, SlotCounters*) {
                 EXPECT_EQ(l.items, 5);
                 return false;
               }).ok());
  EXPECT_EQ(a.items(), 5);
}

TEST_F(AccountsTest, PlainTakesLagUntilTheNextTransactionFoldsThem) {
  Accounts a(q_);
  q_->writer.next_seq = 4;  // seqs 1..3 handed out
  ASSERT_TRUE(a.Transact(Deadline::Never(), -1, [](Ledger& l, SlotCounters*) {
                 l.items += 3;
                 return true;
               }).ok());
  // Two plain takes (seqs 1 and 2), committed as PipeReader::Deliver does: one store each.
  StoreRelease(q_->reader.read_seq, uint64_t{2});
  StoreRelease(q_->reader.read_seq, uint64_t{3});
  EXPECT_EQ(q_->accounts.ledger.items, 3) << "the ledger itself lags";
  EXPECT_EQ(a.items(), 1);
  EXPECT_EQ(a.read_seq(), 3u);
  Ledger seen{};
  ASSERT_TRUE(a.Transact(Deadline::Never(), -1, [&seen](Ledger& l, SlotCounters*) {
                 seen = l;
                 return true;
               }).ok());
  EXPECT_EQ(seen.items, 1) << "a change sees the takes folded in";
  EXPECT_EQ(seen.read_seq, 3u);
  EXPECT_EQ(q_->accounts.ledger.items, 1) << "and commits them";
  EXPECT_EQ(q_->accounts.ledger.read_seq, 3u);
  // A transaction moving read_seq past the reader's word (a reader skipping a lost item) is not
  // undone by that word lagging behind.
  ASSERT_TRUE(a.Transact(Deadline::Never(), -1, [](Ledger& l, SlotCounters*) {
                 l.items -= 1;
                 l.read_seq = 4;
                 return true;
               }).ok());
  EXPECT_EQ(a.items(), 0);
  EXPECT_EQ(a.read_seq(), 4u);
}

TEST_F(AccountsTest, AFoldCountsOnlySeqsHandedOut) {
  // A corrupted queue file's reader word cannot make qsize absurd.
  Accounts a(q_);
  q_->writer.next_seq = 4;
  q_->accounts.ledger.items = 3;
  q_->reader.read_seq = 1000;
  EXPECT_EQ(a.items(), 0);
}

TEST_F(AccountsTest, SnapshotsAreNeverTornByConcurrentFolds) {
  // One thread alternates a put (a transaction, which also folds) and a plain take, so qsize is
  // 0 or 1 at every instant; a snapshot taken concurrently must never show anything else (a torn
  // read of a fold — new items, old read_seq — would show -1).
  constexpr uint64_t kRounds = 100000;
  q_->writer.next_seq = kRounds + 1;
  std::atomic<bool> done{false};
  std::thread putter([this, &done] {
    Accounts a(q_);
    for (uint64_t i = 1; i <= kRounds; ++i) {
      a.Transact(Deadline::Never(), -1, [](Ledger& l, SlotCounters*) {
         ++l.items;
         return true;
       }).IgnoreError();
      StoreRelease(q_->reader.read_seq, i + 1);
    }
    done.store(true);
  });
  Accounts a(q_);
  uint64_t reads = 0, impossible = 0;
  while (!done.load()) {
    const int64_t n = a.items();
    if (n < 0 || n > 1) ++impossible;
    ++reads;
  }
  putter.join();
  EXPECT_EQ(impossible, 0u) << "of " << reads << " snapshots";
  EXPECT_EQ(a.items(), 0);
}

TEST_F(AccountsTest, TaskDonesAreCountedLockFreeAndFoldedIntoUnfinished) {
  Accounts a(q_);
  ASSERT_TRUE(a.Transact(Deadline::Never(), -1, [](Ledger& l, SlotCounters*) {
                 l.unfinished += 2;
                 return true;
               }).ok());
  // Nothing was delivered or even handed a seq: only the exact count allows these, and it cannot
  // tell "some left" from the seqs.
  bool maybe_finished = false;
  EXPECT_TRUE(a.TaskDone(&maybe_finished).ok());
  EXPECT_TRUE(maybe_finished);
  EXPECT_TRUE(a.TaskDone(&maybe_finished).ok());
  EXPECT_TRUE(maybe_finished);
  EXPECT_EQ(TaskDone(a).code(), absl::StatusCode::kOutOfRange);
  EXPECT_EQ(a.unfinished(), 0);
  EXPECT_EQ(q_->accounts.ledger.unfinished, 2) << "the ledger itself lags";
  ASSERT_TRUE(a.Transact(Deadline::Never(), -1, [](Ledger& l, SlotCounters*) {
                 EXPECT_EQ(l.unfinished, 0) << "a change sees the TaskDones folded in";
                 l.unfinished += 1;
                 return true;
               }).ok());
  EXPECT_EQ(q_->accounts.ledger.unfinished, 1);
  EXPECT_EQ(q_->accounts.ledger.tasks_folded, 2u);
  EXPECT_TRUE(TaskDone(a).ok());
  EXPECT_EQ(a.unfinished(), 0);
}

TEST_F(AccountsTest, TaskDonesForDeliveredItemsDoNotReadUnfinished) {
  // Seqs 1..4 were handed out: 1 and 3 delivered, 2 lost (a torn frame, counted in seqs_lost),
  // 4 still queued. So read_seq is 4 and next_seq 5.
  Accounts a(q_);
  ASSERT_TRUE(a.Transact(Deadline::Never(), -1, [](Ledger& l, SlotCounters*) {
                 l.items = 1;
                 l.unfinished = 3;
                 l.items_lost = 1;
                 l.seqs_lost = 1;
                 return true;
               }).ok());
  q_->writer.next_seq = 5;
  q_->reader.read_seq = 4;
  // A transaction in flight, as if its process were slow: unfinished() cannot be read until the
  // lock is released. Two TaskDones, one per delivered item, must not need it.
  ASSERT_TRUE(q_->accounts.mu.Lock(Deadline::Never()).ok());
  q_->accounts.journal_active = 1;
  std::future<std::vector<bool>> done = std::async(std::launch::async, [&a] {
    std::vector<bool> maybe_finished;
    for (int i = 0; i < 2; ++i) {
      bool m = true;
      if (!a.TaskDone(&m).ok()) return std::vector<bool>{};
      maybe_finished.push_back(m);
    }
    return maybe_finished;
  });
  const bool returned = done.wait_for(std::chrono::seconds(30)) == std::future_status::ready;
  q_->accounts.journal_active = 0;
  q_->accounts.mu.Unlock();
  ASSERT_TRUE(returned) << "TaskDone for a delivered item waited for the accounts lock";
  EXPECT_EQ(done.get(), (std::vector<bool>{false, false}))
      << "seq 4 is neither lost nor done: the count cannot have reached zero";
  // The third is for the item not delivered yet: only the exact count allows it.
  bool maybe_finished = false;
  EXPECT_TRUE(a.TaskDone(&maybe_finished).ok());
  EXPECT_TRUE(maybe_finished);
  EXPECT_EQ(a.unfinished(), 0);
  EXPECT_EQ(TaskDone(a).code(), absl::StatusCode::kOutOfRange);
}

TEST_F(AccountsTest, ConcurrentTaskDonesWhileTransactionsFoldAreExact) {
  // Four processes mark 5,000 items done each, while a fifth keeps transacting (each of its
  // transactions folds whatever TaskDones have happened). Exactly 20,000 succeed; then none.
  // Half the items were delivered already, so the calls mix both ways TaskDone decides.
  constexpr int kDoers = 4;
  constexpr int kEach = 5000;
  Accounts a(q_);
  ASSERT_TRUE(a.Transact(Deadline::Never(), -1, [](Ledger& l, SlotCounters*) {
                 l.items = kDoers * kEach;
                 l.unfinished = kDoers * kEach;
                 return true;
               }).ok());
  q_->writer.next_seq = kDoers * kEach + 1;
  q_->reader.read_seq = kDoers * kEach / 2 + 1;
  SharedQueue* q = q_;
  const pid_t folder = ForkChild([q] {
    Accounts a(q);
    while (a.unfinished() > 0) {
      if (!a.Transact(Deadline::Never(), -1, [](Ledger& l, SlotCounters*) {
              ++l.resyncs;
              return true;
            }).ok()) {
        return 2;
      }
    }
    return 0;
  });
  ASSERT_GT(folder, 0);
  std::vector<pid_t> doers;
  for (int i = 0; i < kDoers; ++i) {
    doers.push_back(ForkChild([q] {
      Accounts a(q);
      for (int k = 0; k < kEach; ++k) {
        if (!TaskDone(a).ok()) return 3;
      }
      return 0;
    }));
    ASSERT_GT(doers.back(), 0);
  }
  for (pid_t d : doers) ASSERT_NO_FATAL_FAILURE(ExpectExitCode(d, 0, absl::Seconds(60)));
  ASSERT_NO_FATAL_FAILURE(ExpectExitCode(folder, 0, absl::Seconds(60)));
  EXPECT_EQ(a.unfinished(), 0);
  EXPECT_EQ(TaskDone(a).code(), absl::StatusCode::kOutOfRange);
  EXPECT_EQ(q_->reader.tasks_done, uint64_t{kDoers * kEach});
}

TEST_F(AccountsTest, ConcurrentProcessesTotalIsExact) {
  constexpr int kProcs = 6;
  constexpr int kIters = 3000;
  SharedQueue* q = q_;
  std::vector<pid_t> kids;
  for (int p = 0; p < kProcs; ++p) {
    kids.push_back(ForkChild([=] {
      Accounts a(q);
      for (int i = 0; i < kIters; ++i) {
        absl::Status s = a.Transact(Deadline::Never(), p, [](Ledger& l, SlotCounters* c) {
          ++l.items;
          l.unfinished += 2;
          ++c->unsent;
          c->sent_through += 3;
          return true;
        });
        if (!s.ok()) return 2;
      }
      return 0;
    }));
    ASSERT_GT(kids.back(), 0);
  }
  for (pid_t k : kids) {
    ASSERT_NO_FATAL_FAILURE(ExpectExitCode(k, 0, absl::Seconds(120)));
  }
  Accounts a(q_);
  EXPECT_EQ(a.items(), kProcs * kIters);
  EXPECT_EQ(a.unfinished(), 2 * kProcs * kIters);
  for (int p = 0; p < kProcs; ++p) {
    EXPECT_EQ(q_->slots[p].unsent, kIters);
    EXPECT_EQ(q_->slots[p].sent_through, 3u * kIters);
  }
  EXPECT_EQ(q_->accounts.journal_active, 0u);
}

TEST_F(AccountsTest, ProcessesKilledMidTransactionKeepTheLedgerConsistent) {
  // Victims change five ledger fields and two slot counters by the same amount in every
  // transaction and are SIGKILLed at arbitrary points; survivors keep transacting. Whatever
  // was interrupted, every transaction is wholly applied or not at all, so all seven values
  // stay equal.
  constexpr int kVictims = 24;
  constexpr int kSurvivors = 2;
  SharedQueue* q = q_;
  auto body = [q](int slot) {
    Accounts a(q);
    for (;;) {
      absl::Status s = a.Transact(Deadline::Never(), slot, [](Ledger& l, SlotCounters* c) {
        ++l.items;
        ++l.unfinished;
        ++l.read_seq;
        ++l.items_lost;
        ++l.torn_writes;
        ++c->unsent;
        ++c->sent_through;
        return true;
      });
      if (!s.ok()) return 2;
      if (LoadRelaxed(q->accounts.ledger.resyncs) != 0) return 0;  // survivors' stop flag
    }
  };
  // All victims and survivors share slot 0, so slot counters are checked as a sum too.
  std::vector<pid_t> survivors;
  for (int i = 0; i < kSurvivors; ++i) {
    survivors.push_back(ForkChild([=] { return body(0); }));
    ASSERT_GT(survivors.back(), 0);
  }
  std::mt19937 rng(42);
  Accounts a(q_);
  for (int v = 0; v < kVictims; ++v) {
    const pid_t victim = ForkChild([=] { return body(0); });
    ASSERT_GT(victim, 0);
    // Let it run for a few hundred transactions (observed, not slept for), then kill it.
    const int64_t target = a.items() + 100 + static_cast<int64_t>(rng() % 400);
    const Deadline deadline = Deadline::After(absl::Seconds(60));
    while (LoadRelaxed(q_->accounts.ledger.items) < target && !deadline.expired()) {
      sched_yield();
    }
    ASSERT_FALSE(deadline.expired());
    KillAndReap(victim);
  }
  // Stop the survivors through a ledger field they check (changed under the lock).
  ASSERT_TRUE(a.Transact(Deadline::After(absl::Seconds(30)), -1, [](Ledger& l, SlotCounters*) {
                 l.resyncs = 1;
                 return true;
               }).ok());
  for (pid_t s : survivors) {
    ASSERT_NO_FATAL_FAILURE(ExpectExitCode(s, 0, absl::Seconds(60)));
  }
  // One more transaction, so a dead committer's journal (if the last kill left one) is applied.
  ASSERT_TRUE(a.Transact(Deadline::After(absl::Seconds(30)), 0, [](Ledger&, SlotCounters*) {
                 return false;
               }).ok());
  const Ledger l = a.Snapshot();
  EXPECT_GT(l.items, 0);
  EXPECT_EQ(l.unfinished, l.items);
  EXPECT_EQ(static_cast<int64_t>(l.read_seq), l.items + 1);
  EXPECT_EQ(static_cast<int64_t>(l.items_lost), l.items);
  EXPECT_EQ(static_cast<int64_t>(l.torn_writes), l.items);
  EXPECT_EQ(q_->slots[0].unsent, l.items);
  EXPECT_EQ(static_cast<int64_t>(q_->slots[0].sent_through), l.items);
  EXPECT_EQ(q_->accounts.journal_active, 0u);
}

}  // namespace
}  // namespace internal
}  // namespace channel
