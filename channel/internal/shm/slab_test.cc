// Unit tests of the slab (slab.h): its geometry, the block life cycle and what the reader refuses,
// the sweeps that give back what deaths leave behind, and slab items end to end through a real
// pipe, PipeWriter and PipeReader — including a writer and a reader that died half-way.
#include "channel/internal/shm/slab.h"

#include <gtest/gtest.h>

#include <cstring>
#include <memory>
#include <string>
#include <vector>

#include "channel/internal/wire/crc32c.h"
#include "channel/internal/wire/frame.h"
#include "channel/internal/pipe/pipe_queue.h"
#include "channel/internal/pipe/pipe_reader.h"
#include "channel/internal/pipe/pipe_writer.h"
#include "channel/internal/shm/process_registry.h"
#include "channel/internal/testing/test_util.h"

namespace channel {
namespace internal {
namespace {

using ::channel::testing::MakeOwnerDead;
using ::channel::testing::MakeSharedQueue;
using ::channel::testing::PipeQueueTest;
using ::channel::testing::TestPayload;

constexpr size_t kMessageBytes = 40 << 10;  // goes through the slab of a 64 KiB-message queue

std::string Ref(uint32_t block, uint64_t bytes) {
  std::string ref(kSlabRefBytes, '\0');
  Slab::EncodeRef(block, bytes, &ref[0]);
  return ref;
}

TEST(SlabGeometryTest, OnlyForQueuesWhoseMessagesCanBeLarge) {
  EXPECT_EQ(SlabGeometryFor(10, kSlabMinPayloadBytes - 8).blocks, 0u);
  const SlabGeometry bounded = SlabGeometryFor(10, 1 << 20);
  EXPECT_EQ(bounded.blocks, 14u) << "maxsize, and a few for blocks not yet released";
  EXPECT_EQ(bounded.block_bytes, uint64_t{1} << 20);
  EXPECT_EQ(SlabGeometryFor(0, 1 << 20).blocks, 64u) << "unbounded: a fixed number";
  EXPECT_EQ(SlabGeometryFor(int64_t{1} << 62, 1 << 20).blocks, 64u);
  EXPECT_EQ(SlabGeometryFor(10, uint64_t{1} << 30).block_bytes, kSlabMaxBlockBytes)
      << "larger messages than a block use the pipe";
}

TEST(SlabGeometryTest, AttachRefusesAHeaderWhoseSlabDoesNotMatchItsShape) {
  absl::StatusOr<SharedMapping> m = MakeSharedQueue(1 << 20, 10);
  ASSERT_TRUE(m.ok()) << m.status();
  EXPECT_EQ((*m)->header.slab_blocks, 14u);
  EXPECT_EQ((*m)->header.slab_offset, (*m)->header.staging_offset + (*m)->header.staging_capacity);
}

class SlabTest : public PipeQueueTest {
 protected:
  void SetUp() override {
    ASSERT_NO_FATAL_FAILURE(Init(1 << 16));
    slab_ = std::make_unique<Slab>(q_);
    writer_ = std::make_unique<PipeWriter>(q_, pipe_.write_fd, pipe_.capacity, reader_.get());
    absl::StatusOr<int> slot = ClaimSlot(q_);
    ASSERT_TRUE(slot.ok());
    slot_ = *slot;
  }
  void TearDown() override {
    writer_.reset();
    ClosePipe();
  }
  uint64_t& State(uint32_t block) { return q_->slab_states()[block * kSlabStateStride]; }

  // What Put does for one large message with id `id`: reserve, claim, fill, and hand the
  // reference frame (seq 0) back for the writer.
  std::string PutInSlab(uint64_t id, uint32_t* block) {
    q_->accounts.ledger.items += 1;
    q_->accounts.ledger.unfinished += 1;
    q_->slots[slot_].unsent += 1;
    std::optional<uint32_t> b = slab_->Claim(slot_);
    EXPECT_TRUE(b.has_value());
    if (!b.has_value()) return "";
    *block = *b;
    const std::string message = TestPayload(id, kMessageBytes);
    memcpy(slab_->Data(*b), message.data(), message.size());
    FrameHeader h;
    h.kind = FrameKind::kSlabItem;
    h.payload_bytes = kSlabRefBytes;
    const std::string ref = Ref(*b, message.size());
    h.payload_crc = Crc32c(ref.data(), ref.size());
    std::string frame(kFrameHeaderBytes, '\0');
    EncodeUnsealedHeader(h, &frame[0]);
    return frame + ref;
  }
  std::vector<uint64_t> TakeAll() {
    std::vector<uint64_t> ids;
    for (;;) {
      Payload p;
      absl::StatusOr<bool> got = reader_->TryTake(Deadline::After(absl::Seconds(30)), &p);
      EXPECT_TRUE(got.ok()) << got.status();
      if (!got.ok() || !*got) break;
      EXPECT_EQ(p.bytes, kMessageBytes);
      uint64_t id = 0;
      memcpy(&id, p.words.get(), 8);
      EXPECT_EQ(std::string(reinterpret_cast<const char*>(p.words.get()), p.bytes),
                TestPayload(id, kMessageBytes));
      ids.push_back(id);
    }
    return ids;
  }

  std::unique_ptr<Slab> slab_;
  std::unique_ptr<PipeWriter> writer_;
  int slot_ = -1;
};

TEST_F(SlabTest, ABlockGoesFromClaimToQueuedToFreeAndIsReusedFirst) {
  ASSERT_EQ(q_->header.slab_blocks, 64u);
  std::optional<uint32_t> a = slab_->Claim(slot_);
  std::optional<uint32_t> b = slab_->Claim(slot_);
  ASSERT_TRUE(a.has_value() && b.has_value());
  EXPECT_EQ(*a, 0u);
  EXPECT_EQ(*b, 1u);
  const std::string ref = Ref(*a, kMessageBytes);
  EXPECT_FALSE(slab_->Resolve(ref.data(), 7).ok()) << "still filling";
  slab_->MarkQueued(ref.data(), slot_, 7);
  absl::StatusOr<SlabItem> item = slab_->Resolve(ref.data(), 7);
  ASSERT_TRUE(item.ok()) << item.status();
  EXPECT_EQ(item->block, *a);
  EXPECT_EQ(item->message.data(), slab_->Data(*a));
  EXPECT_EQ(item->message.size(), kMessageBytes);
  EXPECT_FALSE(slab_->Resolve(ref.data(), 8).ok()) << "another seq's reference";
  slab_->Release(*a, 7);
  EXPECT_FALSE(slab_->Resolve(ref.data(), 7).ok()) << "released";
  EXPECT_EQ(slab_->Claim(slot_), std::optional<uint32_t>(0));
}

TEST_F(SlabTest, ResolveRefusesMalformedReferences) {
  std::optional<uint32_t> a = slab_->Claim(slot_);
  ASSERT_TRUE(a.has_value());
  slab_->MarkQueued(Ref(*a, kMessageBytes).data(), slot_, 3);
  for (const std::string& bad :
       {Ref(64, kMessageBytes), Ref(~0u, kMessageBytes), Ref(*a, kMessageBytes + 4),
        Ref(*a, (1 << 16) + 8), Ref(*a, ~uint64_t{0} - 7)}) {
    absl::StatusOr<SlabItem> item = slab_->Resolve(bad.data(), 3);
    EXPECT_EQ(item.status().code(), absl::StatusCode::kDataLoss);
  }
  std::string padded = Ref(*a, kMessageBytes);
  padded[5] = 1;
  EXPECT_FALSE(slab_->Resolve(padded.data(), 3).ok());
}

TEST_F(SlabTest, FreeFillingFreesOnlyThatSlotsUnwrittenBlocks) {
  std::optional<uint32_t> mine = slab_->Claim(slot_);
  std::optional<uint32_t> queued = slab_->Claim(slot_);
  std::optional<uint32_t> other = slab_->Claim(slot_ + 1);
  ASSERT_TRUE(mine && queued && other);
  slab_->MarkQueued(Ref(*queued, 64).data(), slot_, 5);
  slab_->FreeFilling(slot_);
  EXPECT_EQ(State(*mine), 0u);
  EXPECT_TRUE(slab_->Resolve(Ref(*queued, 64).data(), 5).ok()) << "written: the reader's now";
  EXPECT_NE(State(*other), 0u);
  // The block is someone else's by now: the late writer must not take it back.
  ASSERT_EQ(slab_->Claim(slot_ + 2), mine);
  const uint64_t before = State(*mine);
  slab_->MarkQueued(Ref(*mine, 64).data(), slot_, 6);
  EXPECT_EQ(State(*mine), before);
  EXPECT_FALSE(slab_->Resolve(Ref(*mine, 64).data(), 6).ok());
}

TEST_F(SlabTest, ClaimSweepsPassedBlocksWhenNoneIsFreeAndOtherwiseGivesUp) {
  for (uint32_t b = 0; b < 64; ++b) {
    ASSERT_EQ(slab_->Claim(slot_), std::optional<uint32_t>(b));
    slab_->MarkQueued(Ref(b, 64).data(), slot_, 10 + b);  // seqs 10..73
  }
  q_->reader.read_seq = 10;
  q_->writer.next_seq = 74;
  EXPECT_FALSE(slab_->Claim(slot_).has_value()) << "every block still queued for a reader";
  q_->reader.read_seq = 12;  // seqs 10 and 11 taken by readers that died before Release
  EXPECT_EQ(slab_->Claim(slot_), std::optional<uint32_t>(0));
  EXPECT_EQ(slab_->Claim(slot_), std::optional<uint32_t>(1));
  EXPECT_FALSE(slab_->Claim(slot_).has_value());
  EXPECT_TRUE(slab_->Resolve(Ref(2, 64).data(), 12).ok()) << "not passed: kept";
}

TEST_F(SlabTest, SlabItemsTravelAsReferencesAndAreReleasedAfterTheTake) {
  uint32_t b1 = 0, b2 = 0;
  std::string batch = PutInSlab(1, &b1) + PutInSlab(2, &b2);
  ASSERT_TRUE(writer_->WriteBatch(slot_, &batch[0], batch.size(), 2).ok());
  EXPECT_EQ(q_->writer.next_seq, 3u);
  EXPECT_EQ(TakeAll(), (std::vector<uint64_t>{1, 2}));
  EXPECT_EQ(State(b1), 0u);
  EXPECT_EQ(State(b2), 0u);
  EXPECT_EQ(L().items, 0);
  EXPECT_EQ(L().resyncs, 0u);
}

TEST_F(SlabTest, AReferenceWhoseBlockWasReusedIsSkippedAndCountedLost) {
  uint32_t b1 = 0, b2 = 0;
  std::string batch = PutInSlab(1, &b1) + PutInSlab(2, &b2);
  ASSERT_TRUE(writer_->WriteBatch(slot_, &batch[0], batch.size(), 2).ok());
  State(b1) = 0;  // as if a sweep had wrongly freed it: the reference must not be believed
  EXPECT_EQ(TakeAll(), (std::vector<uint64_t>{2}));
  EXPECT_EQ(L().items, 0);
  EXPECT_EQ(L().items_lost, 1u);
}

TEST_F(SlabTest, AReaderThatDiedBetweenItsTakeAndReleaseLeavesABlockTheSweepFrees) {
  uint32_t b1 = 0;
  std::string frame = PutInSlab(1, &b1);
  ASSERT_TRUE(writer_->WriteBatch(slot_, &frame[0], frame.size(), 1).ok());
  ASSERT_EQ(TakeAll(), (std::vector<uint64_t>{1}));
  State(b1) = (uint64_t{2} << 62) | 1;  // queued(1) again: Release never ran
  slab_->SweepPassed();
  EXPECT_EQ(State(b1), 0u);
}

TEST_F(SlabTest, AWriterThatDiedBeforeWritingTheReferenceLosesTheItemAndTheBlockComesBack) {
  uint32_t b1 = 0;
  std::string frame = PutInSlab(1, &b1);
  // Seq 1 stamped (block queued(1)), the batch recorded, nothing written: then the writer died.
  StampSeq(&frame[0], 1);
  slab_->MarkQueued(frame.data() + kFrameHeaderBytes, slot_, 1);
  WriterState& w = q_->writer;
  w.in_write_slot = slot_;
  w.in_write_first = 1;
  w.in_write_last = 1;
  w.next_seq = 2;
  ASSERT_TRUE(MakeOwnerDead(&w.mu));
  uint32_t b2 = 0;
  std::string next = PutInSlab(2, &b2);
  ASSERT_TRUE(writer_->WriteBatch(slot_, &next[0], next.size(), 1).ok());
  EXPECT_EQ(L().items_lost, 1u);
  EXPECT_EQ(TakeAll(), (std::vector<uint64_t>{2}));
  EXPECT_EQ(L().items, 0);
  slab_->SweepPassed();
  EXPECT_EQ(State(b1), 0u) << "seq 1 was counted lost and passed";
}

}  // namespace
}  // namespace internal
}  // namespace channel
