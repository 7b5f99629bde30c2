// SharedQueue: the layout of a queue's shared memory, mapped by every process on the queue.
//
//   [SharedHeader][WriterState][ReaderState][AccountsState][events][ProcessSlot x kMaxSlots]
//   ... padding to a page ... [staging area: staging_capacity bytes]
//   [slab: a state word per block, padded to a page][slab_blocks x slab_block_bytes] (slab.h)
//
// The header is written once by the creator and never changes; it records what a process needs
// to check before trusting the rest (magic, layout version, sizes, queue kind and message type).
// Each other section belongs to exactly one RobustMutex, named in its comment, and sits on its own
// cache lines so producers and consumers do not false-share. Fields read without the lock
// (counters shown by qsize(), the writer's done_seq) are only accessed through the atomic helpers
// below.
//
// Statistics (stats.h) add no cache line to a Put's or a Get's way: each counter sits on a line
// its hot path writes anyway, or is derived from counters that exist for other reasons (see
// queue_stats.h for which is which). The fields are marked "stats:" below.
//
// The mapping is a memfd for anonymous queues and a file for named ones (named_store.h). The
// staging area is sized for two maximum frames plus read-ahead, but it is sparse: only the pages
// actually touched are ever allocated (see pipe_reader.h for how it stays small). So is the slab.
#ifndef CHANNEL_INTERNAL_SHM_SHARED_STATE_H_
#define CHANNEL_INTERNAL_SHM_SHARED_STATE_H_

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "channel/internal/core/queue_identity.h"
#include "channel/internal/shm/futex.h"
#include "channel/internal/shm/robust_mutex.h"

namespace channel {
namespace internal {

inline constexpr uint64_t kSharedMagic = 0x3130514e41484354;  // "TCHANQ01"
inline constexpr uint32_t kLayoutVersion = 8;
inline constexpr int kMaxSlots = 128;
inline constexpr size_t kTypeNameBytes = 128;
inline constexpr size_t kReadChunkBytes = 256 << 10;

// Immutable after creation.
struct alignas(64) SharedHeader {
  uint64_t magic;
  uint32_t layout_version;
  uint32_t kind;
  uint64_t type_id;
  char type_name[kTypeNameBytes];
  int64_t maxsize;
  uint64_t max_message_bytes;
  uint64_t queue_id;  // random; names a named queue's FIFO so a recreated name never mixes
  uint64_t staging_offset;
  uint64_t staging_capacity;
  uint64_t slab_offset;  // SlabGeometry(maxsize, max_message_bytes); 0 blocks: no slab
  uint64_t slab_block_bytes;
  uint64_t slab_blocks;
  uint64_t total_bytes;
  uint32_t header_crc;  // over every field above
};

// Guarded by `mu` (the writer lock): one feeder at a time writes frames into the pipe.
struct alignas(64) WriterState {
  RobustMutex mu;
  uint64_t next_seq;        // seq of the next item written; seqs start at 1
  uint64_t done_seq;        // every item <= done_seq is fully in the pipe or declared lost (atomic)
  uint64_t in_write_first;  // the batch being written: [first, last], 0 when idle
  uint64_t in_write_last;
  int32_t in_write_slot;
  uint64_t tombstone_due;  // nonzero: write a tombstone with this seq before anything else
  // write(2) calls since the pipe was last seen empty: each may have left a partly filled page
  // behind, which FIONREAD's byte count does not show (PipeWriter::HasPagesFor).
  uint64_t writes_since_empty;
};

// Counters that must change together, kept exact across crashes by AccountsState's journal.
// items and unfinished change on every Put; the fields after them change only when lock-free
// takes and TaskDones are folded in or items are lost. AccountsState puts them on different cache
// lines, so that a reader's lock-free read of read_seq does not miss after every Put.
struct Ledger {
  // qsize, once the plain takes that ReaderState::read_seq is ahead by are subtracted
  // (accounts.h): reserved by Put, released when a reader takes or loses the item.
  int64_t items;
  int64_t unfinished;  // JoinableQueue: items put and not yet marked done
  uint64_t read_seq;   // the next item seq a reader expects; ReaderState::read_seq may be ahead
  // Every missing item (never to arrive) with a seq <= accounted_through was already counted
  // lost, by the repair of a dead writer's batch; readers count only the ones above it.
  uint64_t accounted_through;
  uint64_t items_lost;      // items that will never be delivered (deaths, torn frames)
  uint64_t resyncs;         // times a reader skipped garbage to find the next frame
  uint64_t torn_writes;     // writer deaths inside the writer lock that were repaired
  uint64_t dead_processes;  // process slots reclaimed from dead processes
  uint64_t tasks_folded;    // ReaderState::tasks_done as far as `unfinished` includes it
  // Seqs handed out whose items will never be delivered: the part of items_lost that had a seq
  // (torn, skipped, or taken by a reader that died), plus items_dropped_by_shutdown. Every seq
  // below a read_seq is an item delivered or one of these, which lets TaskDone bound the items
  // delivered without the accounts lock's cache line (accounts.h).
  uint64_t seqs_lost;
  // On the ledger's third line, which only Shutdown writes (so every Put's reservation reads it
  // from a line that stays shared). Set once by Shutdown, never cleared: a named queue stays shut
  // down until Unlink. Put refuses under the accounts lock when it is set, so a Put either
  // reserved before the Shutdown committed or fails.
  uint32_t shut_down;  // ShutDownState
  uint32_t padding_after_shut_down;
  // Items discarded by Shutdown(immediate = true) (also in seqs_lost, never in items_lost).
  uint64_t items_dropped_by_shutdown;
};

// Ledger::shut_down. Only grows: kNone -> kDraining -> kImmediate (an immediate Shutdown after a
// plain one drops what is left).
enum class ShutDownState : uint32_t { kNone = 0, kDraining = 1, kImmediate = 2 };

// Guarded by `mu` (the accounts lock); see accounts.h for the journal protocol. Laid out by hand:
// the first cache line holds what every Put's transaction writes (the lock, the journal's small
// fields, `commits`, ledger.items and ledger.unfinished), the second the rest of the ledger
// (static_asserts below).
struct alignas(64) AccountsState {
  RobustMutex mu;
  uint64_t commits;  // transactions committed or undone: lets lock-free readers see a torn read
  uint32_t journal_active;
  int32_t journal_slot;  // -1: no slot touched
  int64_t journal_slot_unsent;
  uint64_t journal_slot_sent_through;
  // stats: the largest ledger.items a transaction committed (peak depth). On the first line,
  // which every Put's transaction writes; also puts ledger.read_seq at the start of the second.
  int64_t peak_items;
  Ledger ledger;
  alignas(64) Ledger journal_ledger;  // written by every transaction: off the ledger's lines
};
static_assert(offsetof(AccountsState, ledger) + offsetof(Ledger, read_seq) == 64,
              "ledger.read_seq starts the second cache line");
static_assert(offsetof(AccountsState, ledger) + offsetof(Ledger, shut_down) == 128,
              "the counters a Get or TaskDone reads end within the second cache line");

// Guarded by `mu` (the reader lock): the staging area holds bytes read from the pipe and not yet
// consumed, [head, tail). See pipe_reader.h.
struct alignas(64) ReaderState {
  RobustMutex mu;
  uint64_t head;
  uint64_t tail;
  uint32_t journal_active;  // (head, tail) are being changed; journal_* hold the old values
  uint32_t reading;         // a read(2) into staging at read_at is in flight
  uint64_t taking_seq;      // an item being taken; nonzero until the Get owns it
  uint64_t journal_head;
  uint64_t journal_tail;
  uint64_t read_at;
  uint64_t read_max;
  // A GetMany in progress: the read_seq and ledger.seqs_lost when it began. Items it took are
  // the seqs from batch_first to read_seq less the seqs counted lost since (only reader-lock
  // holders count seqs lost): if its process dies before the batch is returned, they are lost.
  uint64_t batch_first;  // 0: none
  uint64_t batch_seqs_lost;
  // The next item seq a reader expects, as advanced by plain takes (an item with exactly the
  // expected seq): one store commits such a take, without the accounts lock. Every seq in
  // [ledger.read_seq, read_seq) was taken that way and is still counted in ledger.items until
  // the next accounts transaction folds it in (accounts.h). On a cache line of its own: other
  // processes read it (folds, qsize), which should not disturb the lock and cursors.
  alignas(64) uint64_t read_seq;
  // Not guarded: JoinableQueue's TaskDone calls, counted lock-free (one CAS each), which
  // transactions fold into ledger.unfinished (accounts.h). Beside read_seq, which the consumer
  // calling TaskDone wrote in its Get just before and TaskDone reads: one line between them.
  uint64_t tasks_done;
  // stats: payload bytes of the items Gets took, added under the reader lock after the take
  // commits. On read_seq's line, which that take has just written.
  uint64_t bytes_got;
};

// One per process (and handle) that puts: what it has reserved and not yet written.
// `pid` is claimed with a CAS; unsent/sent_through are guarded by the accounts lock.
struct alignas(64) ProcessSlot {
  std::atomic<int32_t> pid;
  uint32_t pad;
  uint64_t start_time;    // /proc/<pid>/stat starttime: tells a reused pid apart
  int64_t unsent;         // items reserved by Put and not yet written by the feeder
  uint64_t sent_through;  // the last seq this slot's feeder finished writing
  // stats: payload bytes of the items handed to this slot's feeder, by every process that ever
  // owned it (never reset, so the sum over all slots is the queue's total). Added by its owner
  // (atomic add: its threads share the slot) on the line Put's reservation writes anyway.
  uint64_t bytes_put;
};

// Named queues only; guarded by the reader lock.
struct AttachedProcess {
  int32_t pid;
  uint32_t count;  // handles this process has open
  uint64_t start_time;
};

// stats: one per process that ever blocked in a Put or Get on the queue (claimed by CAS on pid,
// the first time it blocks; a dead owner's entry is reclaimed). Each process counts only its own
// calls waiting right now, so a killed process leaves no stale count: readers sum the entries
// of live processes (process_registry.h). Off every hot path: touched only by a call that waits.
struct alignas(64) WaiterSlot {
  std::atomic<int32_t> pid;
  uint32_t pad;
  uint64_t start_time;
  std::atomic<int32_t> blocked_puts;
  std::atomic<int32_t> blocked_gets;
};

struct alignas(64) PaddedEvent {
  SharedEvent event;
};

struct SharedQueue {
  SharedHeader header;
  WriterState writer;
  ReaderState reader;
  AccountsState accounts;
  PaddedEvent data_ready;  // signalled after frames reach the pipe, and by Close()
  PaddedEvent space_free;  // signalled when items leave the queue
  PaddedEvent all_done;    // signalled when `unfinished` reaches zero
  alignas(64) std::atomic<int64_t> last_reap_ns;
  ProcessSlot slots[kMaxSlots];
  AttachedProcess attached[kMaxSlots];  // named queues: who has it open (named_store.h)
  WaiterSlot waiters[kMaxSlots];        // stats: blocked Puts and Gets, per process

  char* staging() { return reinterpret_cast<char*>(this) + header.staging_offset; }
  // The slab's state words (slab.h), one per block, and block i's bytes.
  uint64_t* slab_states() {
    return reinterpret_cast<uint64_t*>(reinterpret_cast<char*>(this) + header.slab_offset);
  }
  char* slab_block(uint64_t i);
};

// Lock-free access to plain fields that are written under a lock and read without one.
template <typename U>
U LoadRelaxed(const U& field) {
  return __atomic_load_n(&field, __ATOMIC_ACQUIRE);
}
template <typename U>
void StoreRelease(U& field, U value) {
  __atomic_store_n(&field, value, __ATOMIC_RELEASE);
}

// A mapped SharedQueue. Owns the mapping (not the fd).
class SharedMapping {
 public:
  SharedMapping() = default;
  ~SharedMapping();
  SharedMapping(SharedMapping&& other) noexcept;
  SharedMapping& operator=(SharedMapping&& other) noexcept;

  // Sizes `fd` (an empty file or memfd) for a queue of this shape, maps it and initialises it.
  static absl::StatusOr<SharedMapping> Create(int fd, const QueueIdentity& identity,
                                              const QueueShape& shape);
  // Maps an existing queue file and validates its header against its size. Untrusted input: any
  // mismatch is kDataLoss with the reason, never a crash.
  static absl::StatusOr<SharedMapping> Attach(int fd);

  SharedQueue* get() const { return queue_; }
  SharedQueue* operator->() const { return queue_; }
  QueueIdentity identity() const;

 private:
  SharedMapping(SharedQueue* queue, size_t bytes) : queue_(queue), bytes_(bytes) {}
  SharedQueue* queue_ = nullptr;
  size_t bytes_ = 0;
};

// Staging capacity for a queue whose messages are at most max_message_bytes: two maximum frames
// (so compaction never overlaps, see pipe_reader.h) plus read-ahead; persistent (named) queues
// add kPersistentStagingBytes for items kept while nobody has the queue open. Sparse either way.
inline constexpr uint64_t kPersistentStagingBytes = uint64_t{1} << 30;
uint64_t StagingCapacity(uint64_t max_message_bytes, bool persistent);

// The slab of a queue of this shape (slab.h): blocks of slab_block_bytes, each state word padded
// to a cache line. No blocks when messages cannot reach kSlabMinPayloadBytes.
inline constexpr uint64_t kSlabMinPayloadBytes = 32 << 10;
inline constexpr uint64_t kSlabMaxBlockBytes = 4 << 20;
inline constexpr uint64_t kSlabStateStride = 64 / sizeof(uint64_t);  // in state words
struct SlabGeometry {
  uint64_t block_bytes = 0;
  uint64_t blocks = 0;
  uint64_t states_bytes() const;  // the state words' part, a whole number of pages
  uint64_t total_bytes() const { return blocks == 0 ? 0 : states_bytes() + blocks * block_bytes; }
};
SlabGeometry SlabGeometryFor(int64_t maxsize, uint64_t max_message_bytes);

}  // namespace internal
}  // namespace channel

#endif  // CHANNEL_INTERNAL_SHM_SHARED_STATE_H_
