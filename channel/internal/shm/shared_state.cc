#include "channel/internal/shm/shared_state.h"

#include <errno.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cstddef>
#include <utility>

#include "absl/strings/str_cat.h"
#include "channel/internal/wire/crc32c.h"
#include "channel/internal/wire/frame.h"

namespace channel {
namespace internal {
namespace {

constexpr uint64_t kPage = 4096;

uint64_t RoundUp(uint64_t v, uint64_t to) { return (v + to - 1) / to * to; }

uint32_t HeaderCrc(const SharedHeader& h) { return Crc32c(&h, offsetof(SharedHeader, header_crc)); }

absl::Status Errno(absl::string_view what) {
  return absl::InternalError(absl::StrCat(what, ": ", strerror(errno)));
}

// Counters and seqs of a real queue stay far below these; a file whose values do not is corrupt,
// and arithmetic on its values could overflow.
constexpr int64_t kMaxCount = int64_t{1} << 48;
constexpr uint64_t kMaxSeq = uint64_t{1} << 60;

bool CountersPlausible(const SharedQueue& q) {
  auto count_ok = [](int64_t v) { return v > -kMaxCount && v < kMaxCount; };
  // A plain Queue has no TaskDone, so its `unfinished` grows by one per Put for the queue's life
  // (2^48 Puts are a year at 9M msg/s) and means nothing: only a JoinableQueue's is checked.
  const bool joinable = q.header.kind == static_cast<uint32_t>(QueueKind::kJoinableQueue);
  auto ledger_ok = [&](const Ledger& l) {
    return count_ok(l.items) && (!joinable || count_ok(l.unfinished)) && l.read_seq <= kMaxSeq &&
           l.accounted_through <= kMaxSeq && l.tasks_folded <= kMaxSeq && l.seqs_lost <= kMaxSeq &&
           l.shut_down <= static_cast<uint32_t>(ShutDownState::kImmediate) &&
           l.items_dropped_by_shutdown <= kMaxSeq;
  };
  if (!ledger_ok(q.accounts.ledger) || !ledger_ok(q.accounts.journal_ledger) ||
      !count_ok(q.accounts.journal_slot_unsent) || !count_ok(q.accounts.peak_items) || q.reader.read_seq > kMaxSeq ||
      q.reader.tasks_done > kMaxSeq || q.writer.next_seq > kMaxSeq || q.writer.done_seq > kMaxSeq ||
      q.writer.in_write_last > kMaxSeq || q.writer.tombstone_due > kMaxSeq) {
    return false;
  }
  for (const ProcessSlot& slot : q.slots) {
    if (!count_ok(slot.unsent) || slot.sent_through > kMaxSeq) return false;
  }
  return true;
}

}  // namespace

uint64_t StagingCapacity(uint64_t max_message_bytes, bool persistent) {
  return RoundUp(2 * (max_message_bytes + kFrameHeaderBytes) + 2 * kReadChunkBytes, kPage) +
         (persistent ? kPersistentStagingBytes : 0);
}

uint64_t SlabGeometry::states_bytes() const {
  return RoundUp(blocks * kSlabStateStride * sizeof(uint64_t), kPage);
}

SlabGeometry SlabGeometryFor(int64_t maxsize, uint64_t max_message_bytes) {
  SlabGeometry g;
  if (max_message_bytes < kSlabMinPayloadBytes) return g;
  g.block_bytes = RoundUp(std::min(max_message_bytes, kSlabMaxBlockBytes), kPage);
  // A bounded queue holds at most maxsize items, each in at most one block; the few more cover
  // blocks whose reader has not released them yet. Put falls back to the pipe when none is free.
  constexpr int64_t kMaxBlocks = 64;
  g.blocks = maxsize > 0 && maxsize < kMaxBlocks - 4 ? static_cast<uint64_t>(maxsize + 4)
                                                     : uint64_t{kMaxBlocks};
  return g;
}

char* SharedQueue::slab_block(uint64_t i) {
  return reinterpret_cast<char*>(this) + header.slab_offset +
         SlabGeometry{header.slab_block_bytes, header.slab_blocks}.states_bytes() +
         i * header.slab_block_bytes;
}

SharedMapping::~SharedMapping() {
  if (queue_ != nullptr) munmap(queue_, bytes_);
}

SharedMapping::SharedMapping(SharedMapping&& other) noexcept
    : queue_(std::exchange(other.queue_, nullptr)), bytes_(std::exchange(other.bytes_, 0)) {}

SharedMapping& SharedMapping::operator=(SharedMapping&& other) noexcept {
  if (this != &other) {
    if (queue_ != nullptr) munmap(queue_, bytes_);
    queue_ = std::exchange(other.queue_, nullptr);
    bytes_ = std::exchange(other.bytes_, 0);
  }
  return *this;
}

absl::StatusOr<SharedMapping> SharedMapping::Create(int fd, const QueueIdentity& identity,
                                                    const QueueShape& shape) {
  const uint64_t staging_offset = RoundUp(sizeof(SharedQueue), kPage);
  const uint64_t staging_capacity = StagingCapacity(shape.max_message_bytes, shape.persistent);
  const SlabGeometry slab = SlabGeometryFor(shape.maxsize, shape.max_message_bytes);
  const uint64_t slab_offset = staging_offset + staging_capacity;
  const uint64_t total = slab_offset + slab.total_bytes();
  // The file stays sparse: ftruncate allocates nothing, pages appear as they are touched.
  if (ftruncate(fd, static_cast<off_t>(total)) != 0) return Errno("sizing queue memory");
  void* p = mmap(nullptr, total, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
  if (p == MAP_FAILED) return Errno("mapping queue memory");
  SharedMapping mapping(static_cast<SharedQueue*>(p), total);
  SharedQueue* q = mapping.queue_;  // zero-filled: its three locks are unlocked (robust_mutex.h)

  SharedHeader& h = q->header;
  h.magic = kSharedMagic;
  h.layout_version = kLayoutVersion;
  h.kind = static_cast<uint32_t>(identity.kind);
  h.type_id = identity.type_id;
  strncpy(h.type_name, identity.type_name.c_str(), kTypeNameBytes - 1);
  h.maxsize = shape.maxsize > 0 ? shape.maxsize : 0;
  h.max_message_bytes = shape.max_message_bytes;
  if (getrandom(&h.queue_id, sizeof h.queue_id, 0) != sizeof h.queue_id) {
    return Errno("getrandom");
  }
  h.staging_offset = staging_offset;
  h.staging_capacity = staging_capacity;
  h.slab_offset = slab_offset;
  h.slab_block_bytes = slab.block_bytes;
  h.slab_blocks = slab.blocks;
  h.total_bytes = total;
  h.header_crc = HeaderCrc(h);

  q->writer.next_seq = 1;
  q->accounts.ledger.read_seq = 1;
  q->reader.read_seq = 1;
  q->accounts.journal_slot = -1;
  return mapping;
}

absl::StatusOr<SharedMapping> SharedMapping::Attach(int fd) {
  struct stat st;
  if (fstat(fd, &st) != 0) return Errno("stat of queue memory");
  const uint64_t size = static_cast<uint64_t>(st.st_size);
  if (size < sizeof(SharedQueue)) {
    return absl::DataLossError(absl::StrCat("queue file is truncated (", size,
                                            " bytes, a queue needs at least ", sizeof(SharedQueue),
                                            ")"));
  }
  // Read the header with pread first: never map (and touch) a size taken from untrusted bytes.
  SharedHeader h;
  if (pread(fd, &h, sizeof h, 0) != static_cast<ssize_t>(sizeof h)) {
    return Errno("reading queue header");
  }
  if (h.magic != kSharedMagic) return absl::DataLossError("not a typed_channel queue file");
  if (h.layout_version != kLayoutVersion) {
    return absl::DataLossError(absl::StrCat("queue file has layout version ", h.layout_version,
                                            "; this library reads version ", kLayoutVersion));
  }
  if (h.header_crc != HeaderCrc(h)) return absl::DataLossError("queue file header is corrupt");
  const SlabGeometry slab = SlabGeometryFor(h.maxsize, h.max_message_bytes);
  if (h.staging_offset != RoundUp(sizeof(SharedQueue), kPage) ||
      (h.staging_capacity != StagingCapacity(h.max_message_bytes, false) &&
       h.staging_capacity != StagingCapacity(h.max_message_bytes, true)) ||
      h.slab_offset != h.staging_offset + h.staging_capacity ||
      h.slab_block_bytes != slab.block_bytes || h.slab_blocks != slab.blocks ||
      h.total_bytes != h.slab_offset + slab.total_bytes() || h.total_bytes != size ||
      h.type_name[kTypeNameBytes - 1] != '\0' ||
      (h.kind != static_cast<uint32_t>(QueueKind::kQueue) &&
       h.kind != static_cast<uint32_t>(QueueKind::kJoinableQueue))) {
    return absl::DataLossError(
        absl::StrCat("queue file header is inconsistent with its size (", size, " bytes)"));
  }
  void* p = mmap(nullptr, size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
  if (p == MAP_FAILED) return Errno("mapping queue memory");
  SharedMapping mapping(static_cast<SharedQueue*>(p), size);
  if (!CountersPlausible(*mapping.queue_)) {
    return absl::DataLossError("queue file counters are corrupt");
  }
  return mapping;
}

QueueIdentity SharedMapping::identity() const {
  QueueIdentity id;
  id.kind = static_cast<QueueKind>(queue_->header.kind);
  id.type_id = queue_->header.type_id;
  id.type_name = queue_->header.type_name;
  return id;
}

}  // namespace internal
}  // namespace channel
