// Unit tests of PipeWriter (pipe_writer.h) with a real pipe and SharedQueue: seq stamping and
// bookkeeping of batches, and the repair of a batch whose writer died inside the writer lock
// (emulated at each step of WriteBatch, and for real: a writer SIGKILLed while blocked on a
// full pipe) — exact accounting of what arrived whole and what was lost, and no torn or
// duplicated item for readers.
#include "channel/internal/pipe/pipe_writer.h"

#include <sys/ioctl.h>
#include <unistd.h>

#include <memory>
#include <optional>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "channel/internal/pipe/pipe_queue.h"
#include "channel/internal/pipe/pipe_reader.h"
#include "channel/internal/shm/process_registry.h"
#include "channel/internal/testing/test_util.h"

namespace channel {
namespace internal {
namespace {

using ::channel::testing::ForkChild;
using ::channel::testing::ItemFrame;
using ::channel::testing::KillAndReap;
using ::channel::testing::MakeOwnerDead;
using ::channel::testing::PipeQueueTest;
using ::channel::testing::TestPayload;
using ::channel::testing::WriteFull;

using Ids = std::vector<uint64_t>;

class PipeWriterTest : public PipeQueueTest {
 protected:
  void SetUp() override { Init(1 << 16); }
  void TearDown() override { Close(); }
  // PipeQueueTest::Init, plus a PipeWriter (writer_) with a claimed slot (slot_).
  void Init(uint64_t max_message_bytes) {
    writer_.reset();
    ASSERT_NO_FATAL_FAILURE(PipeQueueTest::Init(max_message_bytes));
    writer_ = std::make_unique<PipeWriter>(q_, pipe_.write_fd, pipe_.capacity, reader_.get());
    absl::StatusOr<int> slot = ClaimSlot(q_);
    ASSERT_TRUE(slot.ok());
    slot_ = *slot;
  }
  void Close() {
    writer_.reset();
    ClosePipe();
  }
  // What Put does for `n` items on `slot`: reserve them.
  void Reserve(int64_t n, int slot) {
    q_->accounts.ledger.items += n;
    q_->accounts.ledger.unfinished += n;
    q_->slots[slot].unsent += n;
  }
  // A feeder's batch: frames with seq 0, payloads identifying ids [first_id, first_id + n).
  static std::string Batch(uint64_t first_id, int n, size_t payload_bytes = 16) {
    std::string b;
    for (int i = 0; i < n; ++i) b += ItemFrame(0, TestPayload(first_id + i, payload_bytes));
    return b;
  }
  Ids TakeAll() {
    Ids ids;
    for (;;) {
      Payload p;
      absl::StatusOr<bool> got = reader_->TryTake(Deadline::After(absl::Seconds(30)), &p);
      EXPECT_TRUE(got.ok()) << got.status();
      if (!got.ok() || !*got) break;
      uint64_t id = 0;
      memcpy(&id, p.words.get(), 8);
      ids.push_back(id);
    }
    return ids;
  }
  // Reserves and writes a batch of `n` new items with ids [first_id, first_id + n) on slot_.
  void PutBatch(uint64_t first_id, int n) {
    Reserve(n, slot_);
    std::string b = Batch(first_id, n);
    ASSERT_TRUE(writer_->WriteBatch(slot_, &b[0], b.size(), n).ok());
  }

  std::unique_ptr<PipeWriter> writer_;
  int slot_ = -1;
};

TEST_F(PipeWriterTest, BatchesGetConsecutiveSeqsAndSettleTheSlot) {
  uint64_t id = 1;
  for (int n : {1, 5, 17}) {
    Reserve(n, slot_);
    std::string b = Batch(id, n);
    ASSERT_TRUE(writer_->WriteBatch(slot_, &b[0], b.size(), n).ok());
    id += n;
    const WriterState& w = q_->writer;
    EXPECT_EQ(w.next_seq, id);
    EXPECT_EQ(w.done_seq, id - 1);
    EXPECT_EQ(w.in_write_first, 0u);
    EXPECT_EQ(q_->slots[slot_].unsent, 0);
    EXPECT_EQ(q_->slots[slot_].sent_through, id - 1);
    // The stamped seqs are in the caller's buffer too.
    absl::StatusOr<FrameHeader> last = DecodeHeader(b.data() + b.size() - 48, 1 << 16);
    ASSERT_TRUE(last.ok());
    EXPECT_EQ(last->seq, id - 1);
  }
  Ids want;
  for (uint64_t i = 1; i < id; ++i) want.push_back(i);
  EXPECT_EQ(TakeAll(), want);
  EXPECT_EQ(L().items, 0);
  EXPECT_EQ(L().torn_writes, 0u);
}

TEST_F(PipeWriterTest, WriteErrorLosesTheBatchAndCountsIt) {
  // A broken pipe (no reader at all) fails the write: the batch is declared lost as if its
  // writer had died, and the slot's reservations are released.
  signal(SIGPIPE, SIG_IGN);
  Reserve(3, slot_);
  close(pipe_.read_fd);  // (the reader object stays: the writer's repair uses it)
  pipe_.read_fd = -1;
  std::string b = Batch(1, 3);
  absl::Status s = writer_->WriteBatch(slot_, &b[0], b.size(), 3);
  EXPECT_FALSE(s.ok());
  EXPECT_EQ(q_->slots[slot_].unsent, 0);
  EXPECT_EQ(q_->writer.in_write_first, 0u);
  EXPECT_EQ(q_->writer.next_seq, 4u);
  EXPECT_EQ(L().torn_writes, 1u);
}

TEST_F(PipeWriterTest, TryWriteNowWritesOnlyWhenEverythingWrittenWasTaken) {
  // Nothing written yet: a frame goes straight in, with the next seq, and settles the slot.
  Reserve(1, slot_);
  std::string f = Batch(1, 1);
  std::optional<absl::Status> written = writer_->TryWriteNow(slot_, &f[0], f.size());
  ASSERT_TRUE(written.has_value());
  EXPECT_TRUE(written->ok()) << *written;
  EXPECT_EQ(q_->writer.next_seq, 2u);
  EXPECT_EQ(q_->writer.done_seq, 1u);
  EXPECT_EQ(q_->slots[slot_].unsent, 0);
  // Item 1 not taken yet: a consumer has a backlog, so the next frame is left to the feeder.
  Reserve(1, slot_);
  std::string g = Batch(2, 1);
  EXPECT_FALSE(writer_->TryWriteNow(slot_, &g[0], g.size()).has_value());
  EXPECT_EQ(q_->writer.next_seq, 2u) << "nothing was done";
  EXPECT_EQ(TakeAll(), (Ids{1}));
  // Taken: written at once again.
  written = writer_->TryWriteNow(slot_, &g[0], g.size());
  ASSERT_TRUE(written.has_value() && written->ok());
  EXPECT_EQ(TakeAll(), (Ids{2}));
  EXPECT_EQ(L().items, 0);
}

TEST_F(PipeWriterTest, TryWriteBatchWritesWhateverFitsWithoutWaitingForConsumers) {
  ASSERT_NO_FATAL_FAILURE(PutBatch(1, 2));  // a backlog: consumers have not taken 1 and 2
  Reserve(3, slot_);
  std::string b = Batch(10, 3);
  std::optional<absl::Status> written = writer_->TryWriteBatch(slot_, &b[0], b.size(), 3);
  ASSERT_TRUE(written.has_value());
  EXPECT_TRUE(written->ok()) << *written;
  EXPECT_EQ(q_->writer.next_seq, 6u);
  EXPECT_EQ(q_->slots[slot_].unsent, 0);
  // No room for the whole batch: nothing is written.
  const size_t frame = b.size() / 3;
  const std::string filler(pipe_.capacity - 5 * frame - 2 * frame, 'g');  // room for 2 frames
  ASSERT_TRUE(WriteFull(pipe_.write_fd, filler.data(), filler.size()));
  Reserve(3, slot_);
  std::string c = Batch(20, 3);
  EXPECT_FALSE(writer_->TryWriteBatch(slot_, &c[0], c.size(), 3).has_value());
  EXPECT_EQ(q_->writer.next_seq, 6u);
  {
    RobustLock held;  // nor while another writer holds the lock
    ASSERT_TRUE(held.TryAcquire(&q_->writer.mu, [] {}).ok());
    EXPECT_FALSE(writer_->TryWriteBatch(slot_, &c[0], c.size(), 3).has_value());
  }
  const Ids taken = TakeAll();
  EXPECT_EQ(taken, (Ids{1, 2, 10, 11, 12})) << "the filler is skipped as garbage";
}

TEST_F(PipeWriterTest, TryWriteNowNeverWaitsForTheWriterLockOrForRoom) {
  Reserve(1, slot_);
  std::string f = Batch(1, 1);
  {
    // Another writer holds the lock.
    RobustLock held;
    ASSERT_TRUE(held.TryAcquire(&q_->writer.mu, [] {}).ok());
    EXPECT_FALSE(writer_->TryWriteNow(slot_, &f[0], f.size()).has_value());
  }
  // Bytes that are not items (every item written was taken) fill the pipe but for 16 bytes.
  const std::string garbage(pipe_.capacity - 16, 'g');
  ASSERT_TRUE(WriteFull(pipe_.write_fd, garbage.data(), garbage.size()));
  EXPECT_FALSE(writer_->TryWriteNow(slot_, &f[0], f.size()).has_value());
  EXPECT_EQ(q_->writer.next_seq, 1u);
  // A frame larger than half the pipe always goes through the feeder.
  ASSERT_TRUE(reader_->WithLock(Deadline::Never(), [this] { reader_->DrainPipeLocked(); }).ok());
  std::string big = ItemFrame(0, TestPayload(1, pipe_.capacity / 2));
  EXPECT_FALSE(writer_->TryWriteNow(slot_, &big[0], big.size()).has_value());
}

// The writer died inside WriteBatch with batch [1, 5] of slot_ in flight, having written
// `written` bytes of it; optionally after its own bookkeeping.
void LeaveDeadBatch(SharedQueue* q, int slot, int fd, const std::string& batch, size_t written,
                    bool bookkeeping_done) {
  WriterState& w = q->writer;
  w.in_write_slot = slot;
  w.in_write_last = 5;
  w.in_write_first = 1;
  w.next_seq = 6;
  ASSERT_TRUE(WriteFull(fd, batch.data(), written));
  if (bookkeeping_done) {
    w.done_seq = 5;
    q->slots[slot].unsent -= 5;
    q->slots[slot].sent_through = 5;
  }
  ASSERT_TRUE(MakeOwnerDead(&w.mu));
}

// A stamped copy of the dead batch (seqs 1..5), as it was written to the pipe.
std::string StampedBatch() {
  std::string b;
  for (uint64_t s = 1; s <= 5; ++s) b += ItemFrame(s, TestPayload(s));
  return b;
}

TEST_F(PipeWriterTest, DiedMidFrame) {
  Reserve(5, slot_);
  const std::string dead = StampedBatch();
  LeaveDeadBatch(q_, slot_, pipe_.write_fd, dead, 2 * 48 + 40, false);  // 1, 2, half of 3
  // The next writer repairs, then writes its own batch (ids 100, 101 -> seqs 6, 7).
  ASSERT_NO_FATAL_FAILURE(PutBatch(100, 2));
  Ledger l = L();
  EXPECT_EQ(l.items, 4) << "1, 2 and the new two; 3..5 counted lost at once";
  EXPECT_EQ(l.items_lost, 3u);
  EXPECT_EQ(l.unfinished, 4);
  EXPECT_EQ(l.torn_writes, 1u);
  EXPECT_EQ(q_->slots[slot_].unsent, 0);
  EXPECT_EQ(q_->slots[slot_].sent_through, 7u);
  EXPECT_EQ(q_->writer.done_seq, 7u);
  EXPECT_EQ(TakeAll(), (Ids{1, 2, 100, 101}));
  l = L();
  EXPECT_EQ(l.items, 0);
  EXPECT_EQ(l.items_lost, 3u) << "not counted twice by the reader";
  EXPECT_EQ(l.read_seq, 8u);
}

TEST_F(PipeWriterTest, FramesInsideATornFramesLengthAreNotCountedLostByTheNextRepair) {
  // Batch [1, 3]: frame 3 claims 1 KiB, and its writer died after 40 bytes of it.
  WriterState& w = q_->writer;
  Reserve(3, slot_);
  const std::string torn = ItemFrame(1, TestPayload(1)) + ItemFrame(2, TestPayload(2)) +
                           ItemFrame(3, TestPayload(3, 1024)).substr(0, 40);
  w.in_write_slot = slot_;
  w.in_write_last = 3;
  w.in_write_first = 1;
  w.next_seq = 4;
  ASSERT_TRUE(WriteFull(pipe_.write_fd, torn.data(), torn.size()));
  ASSERT_TRUE(MakeOwnerDead(&w.mu));
  // The next writer repairs (3 lost) and writes seqs 4, 5: inside frame 3's claimed length.
  ASSERT_NO_FATAL_FAILURE(PutBatch(100, 2));
  // A third writer dies before writing any of its batch [6, 7]; the repair must find 4 and 5
  // behind the torn frame, as a reader will, and count only 6 and 7 lost.
  Reserve(2, slot_);
  w.in_write_slot = slot_;
  w.in_write_last = 7;
  w.in_write_first = 6;
  w.next_seq = 8;
  ASSERT_TRUE(MakeOwnerDead(&w.mu));
  ASSERT_NO_FATAL_FAILURE(PutBatch(200, 1));
  EXPECT_EQ(L().items_lost, 3u);
  EXPECT_EQ(L().items, 5);
  EXPECT_EQ(TakeAll(), (Ids{1, 2, 100, 101, 200}));
  EXPECT_EQ(L().items, 0);
  EXPECT_EQ(L().items_lost, 3u);
}

TEST_F(PipeWriterTest, RepairRedoneAfterTheFirstRepairerDiedInsideItsTransaction) {
  // Batch [1, 5]: 1 and 2 whole, half of 3. A first repairer drained the pipe and was killed
  // half-way through committing "3..5 lost, batch settled": its ledger values are published but
  // journaled, to be undone by the next holder of the accounts lock.
  Reserve(5 + 1, slot_);  // and item 100, written after the repair
  LeaveDeadBatch(q_, slot_, pipe_.write_fd, StampedBatch(), 2 * 48 + 40, false);
  ASSERT_TRUE(reader_->WithLock(Deadline::Never(), [this] { reader_->DrainPipeLocked(); }).ok());
  AccountsState& a = q_->accounts;
  a.journal_ledger = a.ledger;
  a.journal_slot = slot_;
  a.journal_slot_unsent = q_->slots[slot_].unsent;
  a.journal_slot_sent_through = q_->slots[slot_].sent_through;
  a.journal_active = 1;
  a.ledger.items -= 3;
  a.ledger.unfinished -= 3;
  a.ledger.items_lost += 3;
  a.ledger.torn_writes += 1;
  a.ledger.accounted_through = 5;
  q_->slots[slot_].unsent -= 5;
  q_->slots[slot_].sent_through = 5;
  ASSERT_TRUE(MakeOwnerDead(&a.mu));
  // The next writer redoes the repair: the undone transaction must not count as done.
  std::string b = Batch(100, 1);
  ASSERT_TRUE(writer_->WriteBatch(slot_, &b[0], b.size(), 1).ok());
  Ledger l = L();
  EXPECT_EQ(l.items, 3) << "1, 2 and the new one";
  EXPECT_EQ(l.items_lost, 3u);
  EXPECT_EQ(l.torn_writes, 1u);
  EXPECT_EQ(l.accounted_through, 5u);
  EXPECT_EQ(q_->slots[slot_].unsent, 0);
  EXPECT_EQ(TakeAll(), (Ids{1, 2, 100}));
  l = L();
  EXPECT_EQ(l.items, 0);
  EXPECT_EQ(l.items_lost, 3u);
}

TEST_F(PipeWriterTest, DiedBeforeWritingAnything) {
  Reserve(5, slot_);
  LeaveDeadBatch(q_, slot_, pipe_.write_fd, StampedBatch(), 0, false);
  ASSERT_NO_FATAL_FAILURE(PutBatch(100, 1));
  EXPECT_EQ(L().items, 1);
  EXPECT_EQ(L().items_lost, 5u);
  EXPECT_EQ(TakeAll(), (Ids{100}));
  EXPECT_EQ(L().items, 0);
  EXPECT_EQ(L().items_lost, 5u);
}

TEST_F(PipeWriterTest, DiedAfterWritingEverything) {
  Reserve(5, slot_);
  const std::string dead = StampedBatch();
  LeaveDeadBatch(q_, slot_, pipe_.write_fd, dead, dead.size(), false);
  ASSERT_NO_FATAL_FAILURE(PutBatch(100, 1));
  EXPECT_EQ(L().items, 6);
  EXPECT_EQ(L().items_lost, 0u);
  EXPECT_EQ(q_->slots[slot_].unsent, 0);
  EXPECT_EQ(TakeAll(), (Ids{1, 2, 3, 4, 5, 100}));
  EXPECT_EQ(L().items, 0);
  EXPECT_EQ(L().items_lost, 0u);
}

TEST_F(PipeWriterTest, DiedAfterItsOwnBookkeeping) {
  Reserve(5, slot_);
  const std::string dead = StampedBatch();
  LeaveDeadBatch(q_, slot_, pipe_.write_fd, dead, dead.size(), true);
  ASSERT_NO_FATAL_FAILURE(PutBatch(100, 1));
  EXPECT_EQ(q_->slots[slot_].unsent, 0) << "the slot is not settled twice";
  EXPECT_EQ(L().items, 6);
  EXPECT_EQ(TakeAll(), (Ids{1, 2, 3, 4, 5, 100}));
  EXPECT_EQ(L().items, 0);
  EXPECT_EQ(L().items_lost, 0u);
}

TEST_F(PipeWriterTest, PartOfTheBatchAlreadyTakenBeforeTheRepair) {
  Reserve(5, slot_);
  const std::string dead = StampedBatch();
  LeaveDeadBatch(q_, slot_, pipe_.write_fd, dead, 3 * 48 + 10, false);
  EXPECT_EQ(TakeAll(), (Ids{1, 2, 3})) << "readers take what is whole meanwhile";
  ASSERT_NO_FATAL_FAILURE(PutBatch(100, 1));
  EXPECT_EQ(L().items, 1);
  EXPECT_EQ(L().items_lost, 2u);
  EXPECT_EQ(TakeAll(), (Ids{100}));
  EXPECT_EQ(L().items, 0);
  EXPECT_EQ(L().items_lost, 2u);
}

TEST_F(PipeWriterTest, WriterKilledWhileBlockedOnAFullPipe) {
  // A real writer process writes a 40-frame batch (2.6 MB) into a 1 MiB pipe that nobody reads,
  // and is SIGKILLed while blocked in write(2), holding the writer lock. The next writer's
  // repair absorbs the pipe into staging and counts exactly the frames that did not arrive.
  Init(1 << 20);
  constexpr int kFrames = 40;
  constexpr size_t kPayload = 64 << 10;
  Reserve(kFrames, slot_);
  SharedQueue* q = q_;
  PipeEnds pipe = pipe_;
  PipeReader* reader = reader_.get();
  const int slot = slot_;
  const pid_t child = ForkChild([=] {
    PipeWriter w(q, pipe.write_fd, pipe.capacity, reader);
    std::string b = Batch(1, kFrames, kPayload);
    w.WriteBatch(slot, &b[0], b.size(), kFrames).IgnoreError();
    return 0;
  });
  ASSERT_GT(child, 0);
  // Wait (bounded) until the pipe is full: the child is then blocked in write(2).
  const Deadline deadline = Deadline::After(absl::Seconds(60));
  int queued = 0;
  while (!deadline.expired()) {
    ASSERT_EQ(ioctl(pipe_.read_fd, FIONREAD, &queued), 0);
    if (static_cast<size_t>(queued) >= pipe_.capacity) break;
    sched_yield();
  }
  ASSERT_GE(static_cast<size_t>(queued), pipe_.capacity);
  KillAndReap(child);
  const size_t frame = kFrameHeaderBytes + kPayload;
  const uint64_t whole = pipe_.capacity / frame;  // complete frames in the pipe
  ASSERT_NO_FATAL_FAILURE(PutBatch(1000, 1));
  Ledger l = L();
  EXPECT_EQ(l.items_lost, kFrames - whole);
  EXPECT_EQ(l.items, static_cast<int64_t>(whole) + 1);
  EXPECT_EQ(l.torn_writes, 1u);
  EXPECT_EQ(q_->slots[slot_].unsent, 0);
  Ids want;
  for (uint64_t i = 1; i <= whole; ++i) want.push_back(i);
  want.push_back(1000);
  EXPECT_EQ(TakeAll(), want);
  l = L();
  EXPECT_EQ(l.items, 0);
  EXPECT_EQ(l.items_lost, kFrames - whole);
  EXPECT_EQ(l.unfinished, static_cast<int64_t>(whole) + 1);
}

}  // namespace
}  // namespace internal
}  // namespace channel
