// Unit tests of PipeReader (pipe_reader.h) on a real SharedQueue (memfd) and a real pipe, with
// frames written by hand: ordering, resynchronisation after garbage, torn frames, tombstones,
// duplicate suppression, and recovery from readers that died inside the reader lock (emulated
// by writing the state a dying reader leaves, then making the lock owner-dead from a child; and
// for real, by SIGKILLing reading children at arbitrary points).
#include "channel/internal/pipe/pipe_reader.h"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cstring>
#include <iostream>
#include <memory>
#include <random>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include <gtest/gtest.h>

#include "channel/internal/wire/frame.h"
#include "channel/internal/pipe/pipe_queue.h"
#include "channel/internal/pipe/pipe_writer.h"
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
using ::channel::testing::PollReadable;
using ::channel::testing::ReadValue;
using ::channel::testing::TestPayload;
using ::channel::testing::TestPipe;
using ::channel::testing::TombstoneFrame;
using ::channel::testing::WaitChild;
using ::channel::testing::ExpectExitCode;
using ::channel::testing::WriteFull;
using ::channel::testing::WriteValue;

uint64_t IdOf(const Payload& p) {
  uint64_t id = 0;
  if (p.bytes >= 8) memcpy(&id, p.words.get(), 8);
  return id;
}

class PipeReaderTest : public PipeQueueTest {
 protected:
  // What Put and the writers leave behind for items [1, n]: n items counted, n unfinished,
  // seqs up to max(n, done_seq) handed out (frames with other seqs are garbage to a reader),
  // every seq up to done_seq written (or abandoned).
  void Expect(int64_t n, uint64_t done_seq) {
    q_->accounts.ledger.items = n;
    q_->accounts.ledger.unfinished = n;
    q_->writer.done_seq = done_seq;
    q_->writer.next_seq = std::max<uint64_t>(static_cast<uint64_t>(n), done_seq) + 1;
  }

  void Write(const std::string& bytes) {
    ASSERT_TRUE(WriteFull(pipe_.write_fd, bytes.data(), bytes.size()));
  }

  // Writes bytes into staging at `at` (as a previous read(2) would have).
  void Stage(uint64_t at, const std::string& bytes) {
    ASSERT_LE(at + bytes.size(), q_->header.staging_capacity);
    memcpy(q_->staging() + at, bytes.data(), bytes.size());
  }

  // Takes one item: its id (from TestPayload), or 0 when none is available.
  uint64_t Take() {
    Payload p;
    absl::StatusOr<bool> got = reader_->TryTake(Deadline::After(absl::Seconds(30)), &p);
    EXPECT_TRUE(got.ok()) << got.status();
    if (!got.ok() || !*got) return 0;
    EXPECT_EQ(p.bytes % 8, 0u);
    return IdOf(p);
  }

  std::vector<uint64_t> TakeAll() {
    std::vector<uint64_t> ids;
    for (int i = 0; i < 100000; ++i) {
      const uint64_t id = Take();
      if (id == 0) break;
      ids.push_back(id);
    }
    return ids;
  }

  // Leaves the reader state as a reader killed inside the reader lock during a read(2) leaves
  // it: cursors `head`/`tail`, the read of at most `read_max` bytes at `read_at` in progress,
  // and the lock owner-dead.
  void DieMidRead(uint64_t head, uint64_t tail, uint64_t read_at, uint64_t read_max) {
    ReaderState& r = q_->reader;
    r.head = head;
    r.tail = tail;
    r.read_at = read_at;
    r.read_max = read_max;
    r.reading = 1;
    ASSERT_TRUE(MakeOwnerDead(&r.mu));
  }

  // Leaves the reader state as a reader killed inside the reader lock while taking seq 5 leaves
  // it: frames 5 and 6 in staging, the ledger at `read_seq` with `items` left (2 unfinished),
  // the writers done with seq 6, and the lock owner-dead.
  void DieTakingSeq5(uint64_t read_seq, int64_t items) {
    ReaderState& r = q_->reader;
    Stage(0, ItemFrame(5, TestPayload(5)) + ItemFrame(6, TestPayload(6)));
    r.head = 0;
    r.tail = 96;
    r.taking_seq = 5;
    q_->accounts.ledger.read_seq = read_seq;
    q_->accounts.ledger.items = items;
    q_->accounts.ledger.unfinished = 2;
    q_->writer.done_seq = 6;
    q_->writer.next_seq = 7;
    ASSERT_TRUE(MakeOwnerDead(&r.mu));
  }
};

using Ids = std::vector<uint64_t>;

TEST_F(PipeReaderTest, EmptyPipeHasNothing) {
  EXPECT_EQ(Take(), 0u);
  const Ledger l = L();
  EXPECT_EQ(l.items, 0);
  EXPECT_EQ(l.read_seq, 1u);
  EXPECT_EQ(l.resyncs, 0u);
}

TEST_F(PipeReaderTest, NoReadWhileEverySeqHandedOutIsTaken) {
  // With nothing staged and read_seq == next_seq the reader does not call read(2): bytes in the
  // pipe (here garbage) are left alone until a writer hands out a new seq.
  const std::string garbage(64, 'x');
  Write(garbage);
  EXPECT_EQ(Take(), 0u);
  int unread = 0;
  ASSERT_EQ(ioctl(pipe_.read_fd, FIONREAD, &unread), 0);
  EXPECT_EQ(unread, 64);
  Expect(1, 1);  // seq 1 handed out and written
  Write(ItemFrame(1, TestPayload(1)));
  EXPECT_EQ(Take(), 1u);
  EXPECT_EQ(L().resyncs, 1u) << "the garbage ahead of it was read and skipped";
}

TEST_F(PipeReaderTest, ItemsInOrderWithTheirPayloads) {
  Expect(5, 5);
  std::string all;
  for (uint64_t s = 1; s <= 5; ++s) all += ItemFrame(s, TestPayload(100 + s, 8 * s));
  Write(all);
  for (uint64_t s = 1; s <= 5; ++s) {
    Payload p;
    absl::StatusOr<bool> got = reader_->TryTake(Deadline::After(absl::Seconds(30)), &p);
    ASSERT_TRUE(got.ok() && *got) << s;
    ASSERT_EQ(p.bytes, 8 * s);
    EXPECT_EQ(std::string(reinterpret_cast<const char*>(p.words.get()), p.bytes),
              TestPayload(100 + s, 8 * s));
    EXPECT_EQ(reinterpret_cast<uintptr_t>(p.words.get()) % 8, 0u) << "8-byte aligned";
  }
  EXPECT_EQ(Take(), 0u);
  const Ledger l = L();
  EXPECT_EQ(l.items, 0);
  EXPECT_EQ(l.unfinished, 5) << "taking does not finish (JoinableQueue's TaskDone does)";
  EXPECT_EQ(l.read_seq, 6u);
  EXPECT_EQ(l.items_lost, 0u);
  EXPECT_EQ(l.resyncs, 0u);
  EXPECT_EQ(q_->reader.head, 0u) << "staging rewinds when empty";
  EXPECT_EQ(q_->reader.tail, 0u);
}

TEST_F(PipeReaderTest, ZeroLengthPayloadIsDelivered) {
  Expect(1, 1);
  Write(ItemFrame(1, ""));
  Payload p;
  absl::StatusOr<bool> got = reader_->TryTake(Deadline::After(absl::Seconds(30)), &p);
  ASSERT_TRUE(got.ok() && *got);
  EXPECT_EQ(p.bytes, 0u);
  EXPECT_EQ(L().read_seq, 2u);
}

TEST_F(PipeReaderTest, FrameArrivingInPiecesIsDeliveredOnceComplete) {
  Expect(1, 0);  // the writer is still writing
  const std::string f = ItemFrame(1, TestPayload(7, 64));
  for (size_t cut : {size_t{5}, size_t{32}, size_t{40}}) {
    Write(f.substr(0, cut));
    EXPECT_EQ(Take(), 0u) << "incomplete after " << cut << " bytes";
    Write(f.substr(cut));
    EXPECT_EQ(Take(), 7u);
    Expect(1, 0);
    q_->accounts.ledger.read_seq = 1;  // rewind: seq 1 comes again
    q_->reader.read_seq = 1;
  }
  EXPECT_EQ(L().resyncs, 0u);
}

TEST_F(PipeReaderTest, GarbageBeforeAndBetweenFramesIsSkipped) {
  Expect(4, 4);
  // Garbage without a 'T' (the magic's first byte): one resync per block.
  Write("garbage!" + ItemFrame(1, TestPayload(1)) + "more junk bytes" + ItemFrame(2, TestPayload(2)) +
        std::string(100, '\0') + ItemFrame(3, TestPayload(3)) + ItemFrame(4, TestPayload(4)));
  EXPECT_EQ(TakeAll(), (Ids{1, 2, 3, 4}));
  const Ledger l = L();
  EXPECT_EQ(l.resyncs, 3u);
  EXPECT_EQ(l.items, 0);
  EXPECT_EQ(l.items_lost, 0u);
  EXPECT_EQ(l.read_seq, 5u);
}

TEST_F(PipeReaderTest, FakeMagicAndCorruptFramesAreSkipped) {
  Expect(4, 4);
  std::string corrupt_header = ItemFrame(2, TestPayload(2));
  corrupt_header[10] ^= 1;  // header crc no longer matches
  std::string corrupt_payload = ItemFrame(3, TestPayload(3));
  corrupt_payload[40] ^= 1;  // payload crc no longer matches
  std::string oversize = ItemFrame(3, TestPayload(3));
  {
    FrameHeader h;
    h.seq = 3;
    h.payload_bytes = (1 << 16) + 8;  // over max_message_bytes
    EncodeHeader(h, &oversize[0]);
  }
  Write(ItemFrame(1, TestPayload(1)) + "TCF1 not really a frame, just the magic........" +
        corrupt_header + corrupt_payload + oversize + ItemFrame(4, TestPayload(4)));
  EXPECT_EQ(TakeAll(), (Ids{1, 4}));
  const Ledger l = L();
  EXPECT_GE(l.resyncs, 4u);
  EXPECT_EQ(l.items, 0);
  EXPECT_EQ(l.items_lost, 2u) << "seqs 2 and 3 never arrived intact";
  EXPECT_EQ(l.unfinished, 2);
  EXPECT_EQ(l.read_seq, 5u);
}

TEST_F(PipeReaderTest, TrailingPartialMagicWaitsForMoreBytes) {
  Expect(1, 0);
  const std::string f = ItemFrame(1, TestPayload(9));
  Write("junk" + f.substr(0, 2));  // "TC" at the end could start a frame
  EXPECT_EQ(Take(), 0u);
  Write(f.substr(2));
  EXPECT_EQ(Take(), 9u);
}

TEST_F(PipeReaderTest, TornFrameIsSkippedOnceDoneSeqCoversIt) {
  // Seq 1's writer wrote its header (promising 4 KiB) and 16 payload bytes, then died; the
  // next writer wrote seq 2.
  Expect(2, 0);
  const std::string torn = ItemFrame(1, TestPayload(1, 4096)).substr(0, kFrameHeaderBytes + 16);
  Write(torn + ItemFrame(2, TestPayload(2)));
  // While seq 1 is not done, its frame may still complete: nothing to take, nothing skipped.
  EXPECT_EQ(Take(), 0u);
  EXPECT_EQ(Take(), 0u);
  EXPECT_EQ(L().resyncs, 0u);
  EXPECT_EQ(L().read_seq, 1u);
  // The writers are done with every seq up to 2 (the dead one's batch was repaired): the torn
  // frame can never complete; the reader skips it and delivers seq 2.
  q_->writer.done_seq = 2;
  EXPECT_EQ(Take(), 2u);
  EXPECT_EQ(Take(), 0u);
  const Ledger l = L();
  EXPECT_EQ(l.resyncs, 1u);
  EXPECT_EQ(l.items_lost, 1u);
  EXPECT_EQ(l.items, 0);
  EXPECT_EQ(l.unfinished, 1);
  EXPECT_EQ(l.read_seq, 3u);
}

TEST_F(PipeReaderTest, TornFrameFollowedByTombstone) {
  // The protocol's full picture: torn seq 1..2 batch, then the repairing writer's tombstone(2),
  // then seq 3.
  Expect(3, 3);
  const std::string torn = ItemFrame(1, TestPayload(1, 4096)).substr(0, 100);
  Write(torn + TombstoneFrame(2) + ItemFrame(3, TestPayload(3)));
  EXPECT_EQ(TakeAll(), (Ids{3}));
  const Ledger l = L();
  EXPECT_EQ(l.items_lost, 2u);
  EXPECT_EQ(l.items, 0);
  EXPECT_EQ(l.unfinished, 1);
  EXPECT_EQ(l.read_seq, 4u);
}

TEST_F(PipeReaderTest, TornFrameWhoseClaimedLengthIsCoveredByLaterBytes) {
  // The torn frame's length reaches into later frames: its checksum fails, the reader resyncs
  // to the first header after it and loses nothing else.
  Expect(4, 4);
  const std::string torn = ItemFrame(1, TestPayload(1, 64)).substr(0, kFrameHeaderBytes + 8);
  Write(torn + ItemFrame(2, TestPayload(2)) + ItemFrame(3, TestPayload(3)) +
        ItemFrame(4, TestPayload(4)));
  EXPECT_EQ(TakeAll(), (Ids{2, 3, 4}));
  EXPECT_EQ(L().items_lost, 1u);
  EXPECT_EQ(L().items, 0);
}

TEST_F(PipeReaderTest, TombstoneAccountsLostItems) {
  // Seqs 1..5 put; 2..4 were in a batch whose writer died: tombstone(4).
  Expect(5, 5);
  Write(ItemFrame(1, TestPayload(1)) + TombstoneFrame(4) + ItemFrame(5, TestPayload(5)));
  EXPECT_EQ(Take(), 1u);
  EXPECT_EQ(L().items, 4);
  EXPECT_EQ(Take(), 5u);
  Ledger l = L();
  EXPECT_EQ(l.items, 0);
  EXPECT_EQ(l.unfinished, 2) << "5 put, 3 lost";
  EXPECT_EQ(l.items_lost, 3u);
  EXPECT_EQ(l.read_seq, 6u);
  // A repeated or stale tombstone changes nothing (tombstones are idempotent).
  Write(TombstoneFrame(4) + TombstoneFrame(5));
  EXPECT_EQ(Take(), 0u);
  l = L();
  EXPECT_EQ(l.items_lost, 3u);
  EXPECT_EQ(l.items, 0);
  EXPECT_EQ(l.read_seq, 6u);
  EXPECT_EQ(l.resyncs, 0u);
}

TEST_F(PipeReaderTest, TombstoneAloneIsProcessedByMaintain) {
  Expect(3, 3);
  Write(TombstoneFrame(3));
  reader_->Maintain();
  const Ledger l = L();
  EXPECT_EQ(l.items, 0);
  EXPECT_EQ(l.items_lost, 3u);
  EXPECT_EQ(l.unfinished, 0);
  EXPECT_EQ(l.read_seq, 4u);
}

TEST_F(PipeReaderTest, MaintainDoesNotTakeItems) {
  Expect(2, 2);
  Write(ItemFrame(1, TestPayload(1)) + ItemFrame(2, TestPayload(2)));
  reader_->Maintain();
  EXPECT_EQ(L().items, 2);
  EXPECT_EQ(L().read_seq, 1u);
  EXPECT_EQ(TakeAll(), (Ids{1, 2}));
}

TEST_F(PipeReaderTest, FrameBelowReadSeqIsNotDeliveredTwice) {
  // done_seq 3: seq 4 is not written yet (a done_seq of 4 would say it was, and a reader that
  // drained the pipe without finding it would rightly count it lost).
  Expect(4, 3);
  Write(ItemFrame(1, TestPayload(1)) + ItemFrame(2, TestPayload(2)) + ItemFrame(3, TestPayload(3)));
  EXPECT_EQ(TakeAll(), (Ids{1, 2, 3}));
  // Seq 2 shows up again (as after a reader that committed it and died before moving the
  // cursor), then seq 4.
  q_->writer.done_seq = 4;
  Write(ItemFrame(2, TestPayload(2)) + ItemFrame(1, TestPayload(1)) + ItemFrame(4, TestPayload(4)));
  EXPECT_EQ(TakeAll(), (Ids{4}));
  const Ledger l = L();
  EXPECT_EQ(l.items, 0);
  EXPECT_EQ(l.items_lost, 0u);
  EXPECT_EQ(l.read_seq, 5u);
}

TEST_F(PipeReaderTest, FrameWithASeqNeverHandedOutIsGarbage) {
  // (Was known bug 7.) A checksum-valid frame whose seq is >= the writer's next_seq cannot
  // come from a writer of this queue; believing it would count a 2^62-item "gap" as lost and
  // then skip the real next item as a duplicate.
  Expect(2, 2);
  Write(ItemFrame(1, TestPayload(1)) + ItemFrame(uint64_t{1} << 62, TestPayload(999)) +
        ItemFrame(0, TestPayload(998)) + ItemFrame(2, TestPayload(2)) +
        TombstoneFrame(~uint64_t{0}));
  EXPECT_EQ(TakeAll(), (Ids{1, 2}));
  const Ledger l = L();
  EXPECT_EQ(l.items, 0);
  EXPECT_EQ(l.unfinished, 2);
  EXPECT_EQ(l.items_lost, 0u);
  EXPECT_EQ(l.read_seq, 3u);
  EXPECT_EQ(l.resyncs, 3u);
}

TEST_F(PipeReaderTest, GapInSeqsCountsTheMissingItemsLost) {
  Expect(5, 5);
  Write(ItemFrame(1, TestPayload(1)) + ItemFrame(4, TestPayload(4)) + ItemFrame(5, TestPayload(5)));
  EXPECT_EQ(TakeAll(), (Ids{1, 4, 5}));
  const Ledger l = L();
  EXPECT_EQ(l.items, 0);
  EXPECT_EQ(l.items_lost, 2u);
  EXPECT_EQ(l.unfinished, 3);
}

TEST_F(PipeReaderTest, WrittenByPipeWriterBatches) {
  // The real producer side: PipeWriter stamps seqs into feeder-built frames.
  const absl::StatusOr<int> slot = ClaimSlot(q_);
  ASSERT_TRUE(slot.ok());
  PipeWriter writer(q_, pipe_.write_fd, pipe_.capacity, reader_.get());
  uint64_t next_id = 1;
  for (int batch = 0; batch < 3; ++batch) {
    std::string buf;
    const int count = 10 + batch;
    for (int i = 0; i < count; ++i) buf += ItemFrame(0, TestPayload(next_id++, 24));
    q_->slots[*slot].unsent += count;
    q_->accounts.ledger.items += count;
    q_->accounts.ledger.unfinished += count;
    ASSERT_TRUE(writer.WriteBatch(*slot, &buf[0], buf.size(), count).ok());
    EXPECT_EQ(q_->slots[*slot].unsent, 0);
    EXPECT_EQ(q_->slots[*slot].sent_through, next_id - 1);
    EXPECT_EQ(q_->writer.done_seq, next_id - 1);
    EXPECT_EQ(q_->writer.next_seq, next_id);
    EXPECT_EQ(q_->writer.in_write_first, 0u);
  }
  Ids want;
  for (uint64_t i = 1; i < next_id; ++i) want.push_back(i);
  EXPECT_EQ(TakeAll(), want);
  EXPECT_EQ(L().items, 0);
  EXPECT_EQ(L().read_seq, next_id);
  EXPECT_EQ(L().items_lost, 0u);
}

size_t LargeFrameBytes(int i) {
  return (i % 3 == 0) ? (1 << 20) : 8 * (1000 + (12345 * i) % 90000);
}

TEST_F(PipeReaderTest, LargeFramesStreamedByAWriterThread) {
  // Frames far larger than one read chunk and (together) than the pipe: the reader assembles
  // them across many reads while a writer thread blocks on the full pipe; staging compacts.
  // done_seq stays 0 (the writer is mid-batch), so an incomplete frame is waited for, not torn.
  Init(1 << 20);
  constexpr int kFrames = 24;
  Expect(kFrames, 0);
  const int wfd = pipe_.write_fd;
  std::thread writer([wfd] {
    for (int i = 1; i <= kFrames; ++i) {
      const std::string f = ItemFrame(static_cast<uint64_t>(i), TestPayload(i, LargeFrameBytes(i)));
      if (!WriteFull(wfd, f.data(), f.size())) return;
    }
  });
  int got = 0;
  bool content_ok = true;
  const Deadline deadline = Deadline::After(absl::Seconds(120));
  while (got < kFrames && content_ok && !deadline.expired()) {
    Payload p;
    absl::StatusOr<bool> r = reader_->TryTake(deadline, &p);
    if (!r.ok()) break;
    if (!*r) {
      PollReadable(pipe_.read_fd, absl::Seconds(5));
      continue;
    }
    ++got;
    const size_t bytes = LargeFrameBytes(got);
    content_ok = p.bytes == bytes && IdOf(p) == static_cast<uint64_t>(got) &&
                 memcmp(p.words.get(), TestPayload(got, bytes).data(), bytes) == 0;
    EXPECT_TRUE(content_ok) << "frame " << got << ": " << p.bytes << " bytes, id " << IdOf(p);
    EXPECT_LE(q_->reader.tail, q_->header.staging_capacity);
  }
  if (got < kFrames) {
    // Unblock the writer before joining it (a write to a pipe without reader fails).
    signal(SIGPIPE, SIG_IGN);
    close(pipe_.read_fd);
    pipe_.read_fd = -1;
  }
  writer.join();
  EXPECT_EQ(got, kFrames);
  EXPECT_EQ(L().items, 0);
  EXPECT_EQ(L().resyncs, 0u);
  EXPECT_EQ(L().items_lost, 0u);
}

TEST_F(PipeReaderTest, DrainPipeLockedMovesEverythingIntoStaging) {
  Expect(50, 50);
  std::string all;
  for (uint64_t s = 1; s <= 50; ++s) all += ItemFrame(s, TestPayload(s, 1000 * 8));
  Write(all);
  bool drained = false;
  ASSERT_TRUE(reader_->WithLock(Deadline::After(absl::Seconds(30)),
                                [&] { drained = reader_->DrainPipeLocked(); })
                  .ok());
  EXPECT_TRUE(drained);
  EXPECT_EQ(q_->reader.tail - q_->reader.head, all.size());
  pollfd p{pipe_.read_fd, POLLIN, 0};
  EXPECT_EQ(poll(&p, 1, 0), 0) << "pipe is empty";
  Ids want;
  for (uint64_t s = 1; s <= 50; ++s) want.push_back(s);
  EXPECT_EQ(TakeAll(), want);
}

TEST_F(PipeReaderTest, TryTakeTimesOutWhileAnotherProcessHoldsTheReaderLock) {
  Expect(1, 1);
  Write(ItemFrame(1, TestPayload(1)));
  TestPipe ready, release;
  SharedQueue* q = q_;
  const int ready_w = ready.w, release_r = release.r;
  const pid_t holder = ForkChild([=] {
    if (!q->reader.mu.Lock(Deadline::Never()).ok()) return 2;
    WriteValue(ready_w, char{'L'});
    char c;
    ReadValue(release_r, &c, absl::Seconds(60));
    q->reader.mu.Unlock();
    return 0;
  });
  ASSERT_GT(holder, 0);
  char c;
  ASSERT_TRUE(ReadValue(ready.r, &c));
  Payload p;
  absl::StatusOr<bool> r = reader_->TryTake(Deadline::After(absl::Milliseconds(100)), &p);
  EXPECT_EQ(r.status().code(), absl::StatusCode::kDeadlineExceeded) << r.status();
  reader_->Maintain();  // never blocks
  ASSERT_TRUE(WriteValue(release.w, char{'u'}));
  ASSERT_TRUE(WaitChild(holder, absl::Seconds(30)).ok());
  EXPECT_EQ(Take(), 1u);
}

// ---- Crash recovery: the state a reader killed inside the reader lock leaves behind. ----

TEST_F(PipeReaderTest, DiedAfterReadBeforePublishingTail) {
  // Items 1..5. The dead reader's read(2) took frames 1-3 and half of frame 4 out of the pipe
  // into staging past tail; the rest of frame 4 and frame 5 are still in the pipe.
  Expect(5, 5);
  std::string stream;
  for (uint64_t s = 1; s <= 5; ++s) stream += ItemFrame(s, TestPayload(s, 16));
  const size_t read_bytes = 3 * 48 + 40;
  Stage(0, stream.substr(0, read_bytes));
  Write(stream.substr(read_bytes));
  ASSERT_NO_FATAL_FAILURE(DieMidRead(0, 0, 0, kReadChunkBytes));
  const ReaderState& r = q_->reader;

  EXPECT_EQ(Take(), 1u);
  EXPECT_EQ(r.reading, 0u) << "repaired";
  EXPECT_EQ(TakeAll(), (Ids{2, 3, 5}));
  const Ledger l = L();
  EXPECT_EQ(l.items, 0);
  EXPECT_EQ(l.items_lost, 1u) << "frame 4 was torn by the death";
  EXPECT_EQ(l.unfinished, 4);
  EXPECT_EQ(l.read_seq, 6u);
  EXPECT_EQ(l.resyncs, 1u) << "the orphaned second half of frame 4";
}

TEST_F(PipeReaderTest, DiedPartWayThroughTheLastFrame) {
  // Items 1 and 2, frame 2 the last in the pipe. The dead reader's read(2) took the first part
  // of frame 2 out of the pipe and never published it; the rest is still in the pipe. Nothing
  // after frame 2 can reveal the gap: the reader that drains the pipe must count it, because
  // the writers are done with seq 2 and staging cannot complete it.
  Expect(2, 2);
  const std::string f2 = ItemFrame(2, TestPayload(2, 4096));
  const size_t read_bytes = 1000;
  Stage(0, ItemFrame(1, TestPayload(1)));
  Stage(48, f2.substr(0, read_bytes));
  Write(f2.substr(read_bytes));
  ASSERT_NO_FATAL_FAILURE(DieMidRead(0, 48, 48, kReadChunkBytes));
  EXPECT_EQ(TakeAll(), (Ids{1}));
  const Ledger l = L();
  EXPECT_EQ(l.items, 0) << "the torn last item is no longer counted";
  EXPECT_EQ(l.items_lost, 1u);
  EXPECT_EQ(l.unfinished, 1);
  EXPECT_EQ(l.read_seq, 3u);
}

TEST_F(PipeReaderTest, MaintainCountsALastFrameTornByADeadReader) {
  // As above, with nobody getting: the reaper's maintenance pass settles it.
  Expect(1, 1);
  const std::string f1 = ItemFrame(1, TestPayload(1, 4096));
  Stage(0, f1.substr(0, 1000));
  Write(f1.substr(1000));
  ASSERT_NO_FATAL_FAILURE(DieMidRead(0, 0, 0, kReadChunkBytes));
  reader_->Maintain();
  const Ledger l = L();
  EXPECT_EQ(l.items, 0);
  EXPECT_EQ(l.items_lost, 1u);
  EXPECT_EQ(l.unfinished, 0);
}

TEST_F(PipeReaderTest, AnItemItsWriterIsStillWritingIsNotCountedLost) {
  // Seq 2's writer is still writing (done_seq 1): its partial frame is waited for, not lost.
  Expect(2, 1);
  const std::string f2 = ItemFrame(2, TestPayload(2, 4096));
  Write(ItemFrame(1, TestPayload(1)) + f2.substr(0, 1000));
  EXPECT_EQ(TakeAll(), (Ids{1}));
  EXPECT_EQ(L().items, 1);
  EXPECT_EQ(L().items_lost, 0u);
  Write(f2.substr(1000));
  q_->writer.done_seq = 2;
  EXPECT_EQ(TakeAll(), (Ids{2}));
  EXPECT_EQ(L().items_lost, 0u);
}

TEST_F(PipeReaderTest, DiedAfterReadKeepsOnlyFramesThatContinueTheStream) {
  // Staging held frames 1..9 earlier (consumed). The dead reader read frames 10 and 11 to
  // offset 0; past them lie stale bytes: an old frame (seq 3) and a frame with a seq from the
  // future (20) that does not continue the stream. Frame 12 is still in the pipe.
  Expect(3, 12);
  q_->accounts.ledger.read_seq = 10;
  const std::string fresh = ItemFrame(10, TestPayload(10)) + ItemFrame(11, TestPayload(11));
  Stage(0, fresh + ItemFrame(20, TestPayload(20)) + ItemFrame(3, TestPayload(3)));
  Write(ItemFrame(12, TestPayload(12)));
  ASSERT_NO_FATAL_FAILURE(DieMidRead(0, 0, 0, kReadChunkBytes));
  EXPECT_EQ(TakeAll(), (Ids{10, 11, 12}));
  const Ledger l = L();
  EXPECT_EQ(l.items, 0);
  EXPECT_EQ(l.items_lost, 0u);
  EXPECT_EQ(l.read_seq, 13u);
}

TEST_F(PipeReaderTest, DiedAfterReadCompletingAStraddlingFrame) {
  // Frame 2's header and first 8 payload bytes were published by an earlier read; the dead
  // reader read the rest of frame 2 and frames 3 and 4. (With a tombstone among
  // them, see DiedAfterRead*Tombstone* below.)
  Expect(3, 4);
  q_->accounts.ledger.read_seq = 2;
  const std::string f2 = ItemFrame(2, TestPayload(2, 32));
  const std::string rest =
      f2.substr(40) + ItemFrame(3, TestPayload(3)) + ItemFrame(4, TestPayload(4));
  Stage(0, f2.substr(0, 40) + rest);
  ASSERT_NO_FATAL_FAILURE(DieMidRead(0, 40, 40, rest.size()));  // exactly what it read
  EXPECT_EQ(TakeAll(), (Ids{2, 3, 4}));
  const Ledger l = L();
  EXPECT_EQ(l.items, 0);
  EXPECT_EQ(l.items_lost, 0u);
  EXPECT_EQ(l.read_seq, 5u);
  EXPECT_EQ(l.resyncs, 0u);
}

TEST_F(PipeReaderTest, DiedAfterReadOfATombstoneAlone) {
  // A tombstone past tail is kept (tombstones are idempotent) and accounts its loss.
  Expect(3, 3);
  Stage(0, ItemFrame(1, TestPayload(1)) + TombstoneFrame(3));
  ASSERT_NO_FATAL_FAILURE(DieMidRead(0, 48, 48, kReadChunkBytes));
  EXPECT_EQ(TakeAll(), (Ids{1}));
  const Ledger l = L();
  EXPECT_EQ(l.items, 0);
  EXPECT_EQ(l.items_lost, 2u);
  EXPECT_EQ(l.read_seq, 4u);
}

TEST_F(PipeReaderTest, DiedAfterReadOfATombstoneAndTheItemAfterIt) {
  // (Was known bug 1.) Frame 2 straddles the published tail; the dead reader read the rest of
  // frame 2, a tombstone(3) (item 3 torn by a dead writer) and frame 4. The item after the
  // tombstone continues the stream and must be kept.
  Expect(3, 4);
  q_->accounts.ledger.read_seq = 2;
  const std::string f2 = ItemFrame(2, TestPayload(2, 32));
  const std::string rest = f2.substr(40) + TombstoneFrame(3) + ItemFrame(4, TestPayload(4));
  Stage(0, f2.substr(0, 40) + rest);
  ASSERT_NO_FATAL_FAILURE(DieMidRead(0, 40, 40, rest.size()));
  EXPECT_EQ(TakeAll(), (Ids{2, 4}));
  const Ledger l = L();
  EXPECT_EQ(l.items, 0);
  EXPECT_EQ(l.items_lost, 1u);
  EXPECT_EQ(l.read_seq, 5u);
}

TEST_F(PipeReaderTest, DiedAfterReadingItemsThatFollowATombstoneInStaging) {
  // (Was known bug 1.) A writer died mid-batch; the writer lock's repair closed the batch with
  // a tombstone(3) at the end of staging and counted items 2..3 lost (accounted_through = 3).
  // Items 4 and 5 then came through the pipe; a reader read them into staging past tail and was
  // killed before publishing the tail. They continue the stream: delivered, loss not recounted.
  Expect(3, 5);  // items 1, 4, 5 still counted
  q_->writer.next_seq = 6;
  Ledger& ledger = q_->accounts.ledger;
  ledger.items_lost = 2;
  ledger.accounted_through = 3;
  const std::string published = ItemFrame(1, TestPayload(1)) + TombstoneFrame(3);
  Stage(0, published + ItemFrame(4, TestPayload(4)) + ItemFrame(5, TestPayload(5)));
  ASSERT_NO_FATAL_FAILURE(DieMidRead(0, published.size(), published.size(), kReadChunkBytes));
  EXPECT_EQ(TakeAll(), (Ids{1, 4, 5}));
  const Ledger l = L();
  EXPECT_EQ(l.items, 0);
  EXPECT_EQ(l.items_lost, 2u);
  EXPECT_EQ(l.unfinished, 3) << "taken items stay unfinished until TaskDone";
  EXPECT_EQ(l.read_seq, 6u);
}

TEST_F(PipeReaderTest, DiedAfterReadWhoseCompletionDoesNotVerify) {
  // The bytes past tail do not complete the straddling frame (stale bytes: the dead reader's
  // read returned nothing). They are not believed; the real rest comes from the pipe.
  Expect(2, 2);
  const std::string f1 = ItemFrame(1, TestPayload(1, 32));
  std::string stale = f1.substr(40);
  stale[3] ^= 0x55;
  Stage(0, f1.substr(0, 40) + stale);
  Write(f1.substr(40) + ItemFrame(2, TestPayload(2)));
  ASSERT_NO_FATAL_FAILURE(DieMidRead(0, 40, 40, kReadChunkBytes));
  EXPECT_EQ(TakeAll(), (Ids{1, 2}));
  EXPECT_EQ(L().items_lost, 0u);
  EXPECT_EQ(L().resyncs, 0u);
}

TEST_F(PipeReaderTest, DiedAfterPublishingTailBeforeClearingReading) {
  // tail != read_at: the read was published; nothing past tail is believed, nothing repeated.
  Expect(3, 3);
  std::string stream;
  for (uint64_t s = 1; s <= 3; ++s) stream += ItemFrame(s, TestPayload(s));
  Stage(0, stream + ItemFrame(4, TestPayload(4)));  // stale seq 4 past tail
  ASSERT_NO_FATAL_FAILURE(DieMidRead(0, stream.size(), 0, kReadChunkBytes));
  EXPECT_EQ(TakeAll(), (Ids{1, 2, 3}));
  EXPECT_EQ(L().items, 0);
  EXPECT_EQ(L().read_seq, 4u);
}

TEST_F(PipeReaderTest, DiedAfterCommittingATake) {
  // The dead reader committed seq 5 (read_seq 6, items down) but died before moving the
  // cursor and returning it: seq 5 is lost, its unfinished count released, never re-delivered.
  ASSERT_NO_FATAL_FAILURE(DieTakingSeq5(/*read_seq=*/6, /*items=*/1));
  EXPECT_EQ(TakeAll(), (Ids{6}));
  const Ledger l = L();
  EXPECT_EQ(l.items, 0);
  EXPECT_EQ(l.unfinished, 1);
  EXPECT_EQ(l.items_lost, 1u);
  EXPECT_EQ(l.read_seq, 7u);
  EXPECT_EQ(q_->reader.taking_seq, 0u);
}

TEST_F(PipeReaderTest, DiedBeforeCommittingATake) {
  // taking_seq was set but the commit never happened: the item is still there for the next
  // reader, nothing is lost.
  ASSERT_NO_FATAL_FAILURE(DieTakingSeq5(/*read_seq=*/5, /*items=*/2));
  EXPECT_EQ(TakeAll(), (Ids{5, 6}));
  const Ledger l = L();
  EXPECT_EQ(l.items, 0);
  EXPECT_EQ(l.unfinished, 2);
  EXPECT_EQ(l.items_lost, 0u);
}

TEST_F(PipeReaderTest, DiedMidCursorUpdateIsRolledBack) {
  ReaderState& r = q_->reader;
  Expect(2, 2);
  Stage(0, ItemFrame(1, TestPayload(1)) + ItemFrame(2, TestPayload(2)));
  r.journal_head = 0;
  r.journal_tail = 96;
  r.head = 48;  // new head stored, new tail not yet
  r.tail = 7;
  r.journal_active = 1;
  ASSERT_TRUE(MakeOwnerDead(&r.mu));
  EXPECT_EQ(TakeAll(), (Ids{1, 2}));
  EXPECT_EQ(r.journal_active, 0u);
  EXPECT_EQ(L().items, 0);
}

TEST_F(PipeReaderTest, CorruptCursorsAreResetNotTrusted) {
  Expect(1, 1);
  ReaderState& r = q_->reader;
  r.head = 1000;
  r.tail = 10;  // head > tail: only a corrupt file gets here
  Write(ItemFrame(1, TestPayload(1)));
  EXPECT_EQ(TakeAll(), (Ids{1}));
  r.head = 0;
  r.tail = q_->header.staging_capacity + 4096;  // past the end
  Write(ItemFrame(2, TestPayload(2)));
  q_->accounts.ledger.items = 1;
  q_->writer.done_seq = 2;
  q_->writer.next_seq = 3;
  EXPECT_EQ(TakeAll(), (Ids{2}));
}

TEST_F(PipeReaderTest, ReadersKilledAtArbitraryPointsNeverDuplicateOrReorder) {
  // A writer process feeds frames a few at a time (staying at most 64 items ahead of the
  // readers, so reads are small and frequent); reader processes take items and record each id
  // in shared memory until they are SIGKILLed at an arbitrary point (mostly inside TryTake:
  // read(2), commit, cursor moves); finally the parent takes the rest. Whatever the kills
  // interrupted: no item is delivered twice or out of order, every item is delivered or counted
  // lost (up to one unrecorded item per kill: taken, then killed before recording it), and the
  // counters add up.
  constexpr uint64_t kItems = 20000;
  constexpr int kKills = 100;
  struct Record {
    std::atomic<uint64_t> count;
    uint64_t ids[kItems];
  };
  void* mem = mmap(nullptr, sizeof(Record), PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS,
                   -1, 0);
  ASSERT_NE(mem, MAP_FAILED);
  Record* rec = static_cast<Record*>(mem);
  Expect(static_cast<int64_t>(kItems), 0);
  SharedQueue* q = q_;
  const int read_fd = pipe_.read_fd, write_fd = pipe_.write_fd;
  const pid_t writer = ForkChild([=] {
    const Deadline deadline = Deadline::After(absl::Seconds(120));
    for (uint64_t s = 1; s <= kItems; ++s) {
      while (s > Accounts(q).read_seq() + 64) {
        if (deadline.expired()) return 3;
        sched_yield();
      }
      const std::string f = ItemFrame(s, TestPayload(s, 8 * (1 + s % 7)));
      if (!WriteFull(write_fd, f.data(), f.size())) return 2;
      StoreRelease(q->writer.done_seq, s);
    }
    return 0;
  });
  ASSERT_GT(writer, 0);
  auto all_done = [q] { return Accounts(q).read_seq() > kItems; };
  std::mt19937 rng(2024);
  int kills = 0;
  for (; kills < kKills && !all_done(); ++kills) {
    const pid_t reader = ForkChild([=] {
      PipeReader r(q, read_fd);
      for (;;) {
        Payload p;
        absl::StatusOr<bool> got = r.TryTake(Deadline::Never(), &p);
        if (!got.ok()) return 2;
        if (!*got) {
          PollReadable(read_fd, absl::Milliseconds(50));
          continue;
        }
        const uint64_t n = rec->count.load();
        rec->ids[n] = IdOf(p);
        rec->count.store(n + 1);
      }
    });
    ASSERT_GT(reader, 0);
    const uint64_t target = rec->count.load() + 1 + rng() % 150;
    const Deadline deadline = Deadline::After(absl::Seconds(60));
    while (rec->count.load() < target && !all_done() && !deadline.expired()) sched_yield();
    EXPECT_FALSE(deadline.expired()) << "reader made no progress";
    KillAndReap(reader);
  }
  // The parent takes the rest (its first lock repairs the last death).
  std::vector<uint64_t> delivered(rec->ids, rec->ids + rec->count.load());
  const Deadline deadline = Deadline::After(absl::Seconds(60));
  while (!all_done() && !deadline.expired()) {
    const uint64_t id = Take();
    if (id != 0) {
      delivered.push_back(id);
    } else {
      PollReadable(read_fd, absl::Milliseconds(50));
    }
  }
  ASSERT_NO_FATAL_FAILURE(ExpectExitCode(writer, 0, absl::Seconds(60)));
  // The readers may have taken everything, and the last one may have died holding the reader
  // lock (in a read(2) that found the pipe empty): one more take runs its repair.
  EXPECT_EQ(Take(), 0u);
  munmap(mem, sizeof(Record));
  for (size_t i = 1; i < delivered.size(); ++i) {
    ASSERT_LT(delivered[i - 1], delivered[i]) << "duplicate or reordered at " << i;
  }
  const Ledger l = L();
  std::cout << kItems << " items: " << delivered.size() << " delivered, " << l.items_lost
            << " lost, " << l.resyncs << " resyncs over " << kills << " kills\n";
  EXPECT_EQ(l.items, 0) << "every item taken or lost";
  EXPECT_EQ(l.read_seq, kItems + 1);
  EXPECT_EQ(l.unfinished, static_cast<int64_t>(kItems - l.items_lost));
  EXPECT_LE(delivered.size() + l.items_lost, kItems);
  EXPECT_GE(delivered.size() + l.items_lost + kills, kItems);
  EXPECT_EQ(q_->reader.taking_seq, 0u);
  EXPECT_EQ(q_->reader.reading, 0u);
  EXPECT_EQ(q_->reader.journal_active, 0u);
}

}  // namespace
}  // namespace internal
}  // namespace channel
