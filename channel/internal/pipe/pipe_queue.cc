#include "channel/internal/pipe/pipe_queue.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include <algorithm>
#include <new>
#include <optional>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "channel/internal/testing/fault_injection.h"
#include "channel/internal/shm/liveness.h"
#include "channel/internal/shm/process_registry.h"
#include "channel/internal/shm/queue_stats.h"

namespace channel {
namespace internal {
namespace {

// Longest uninterrupted futex sleep: how often a waiting process looks for dead peers.
constexpr int64_t kReapSliceNs = 500 * 1000 * 1000;
// Minimum spacing of reaper runs across all processes on a queue.
constexpr int64_t kReapIntervalNs = 250 * 1000 * 1000;
constexpr int kPipeBytes = 1 << 20;

absl::Status ClosedError() {
  return absl::FailedPreconditionError("the queue handle is closed (Close() was called)");
}

absl::Status ShutDownError() {
  return absl::CancelledError("the queue was shut down (Shutdown() was called on it)");
}

// While items put before Shutdown(immediate = true) are still on their way from feeders, a
// Join must look again soon: the reader that drops them may be its own next attempt.
constexpr int64_t kDropInFlightSliceNs = 10 * 1000 * 1000;
// Counts a waiting call in this process's WaiterSlot (stats: blocked_puts/gets) while it lives.
class BlockedCall {
 public:
  explicit BlockedCall(std::atomic<int32_t>* count) : count_(count) {
    if (count_ != nullptr) count_->fetch_add(1, std::memory_order_relaxed);
  }
  ~BlockedCall() {
    if (count_ != nullptr) count_->fetch_sub(1, std::memory_order_relaxed);
  }
  BlockedCall(const BlockedCall&) = delete;
  BlockedCall& operator=(const BlockedCall&) = delete;

 private:
  std::atomic<int32_t>* count_;
};

}  // namespace

size_t EnlargePipe(int fd) {
  fcntl(fd, F_SETPIPE_SZ, kPipeBytes);  // may be refused (pipe-max-size, per-user limits)
  const int size = fcntl(fd, F_GETPIPE_SZ);
  return size > 0 ? static_cast<size_t>(size) : 4096;
}

absl::StatusOr<PipeEnds> MakePipe() {
  int fds[2];
  if (pipe2(fds, O_CLOEXEC) != 0) {
    return absl::ResourceExhaustedError(absl::StrCat("pipe2: ", strerror(errno)));
  }
  PipeEnds ends{fds[0], fds[1], EnlargePipe(fds[1])};
  fcntl(ends.read_fd, F_SETFL, fcntl(ends.read_fd, F_GETFL) | O_NONBLOCK);
  return ends;
}

absl::StatusOr<std::shared_ptr<PipeQueue>> PipeQueue::CreateAnonymous(
    const QueueIdentity& identity, const QueueShape& shape) {
  const int fd = memfd_create("typed_channel", MFD_CLOEXEC);
  if (fd < 0) return absl::ResourceExhaustedError(absl::StrCat("memfd_create: ", strerror(errno)));
  absl::StatusOr<SharedMapping> mapping = SharedMapping::Create(fd, identity, shape);
  close(fd);  // the mapping keeps the memory alive, in this process and in forked children
  if (!mapping.ok()) return mapping.status();
  absl::StatusOr<PipeEnds> pipe = MakePipe();
  if (!pipe.ok()) return pipe.status();
  return Adopt(*std::move(mapping), *pipe, nullptr);
}

std::shared_ptr<PipeQueue> PipeQueue::Adopt(SharedMapping mapping, PipeEnds pipe,
                                            std::function<void(PipeQueue&)> on_release) {
  std::shared_ptr<PipeQueue> queue(
      new PipeQueue(std::move(mapping), pipe, std::move(on_release)));
  RegisterForExit(queue.get());
  return queue;
}

PipeQueue::PipeQueue(SharedMapping mapping, PipeEnds pipe,
                     std::function<void(PipeQueue&)> on_release)
    : mapping_(std::move(mapping)),
      q_(mapping_.get()),
      pipe_(pipe),
      accounts_(q_),
      reader_(q_, pipe.read_fd),
      writer_(q_, pipe.write_fd, pipe.capacity, &reader_),
      feeder_(&writer_),
      slab_(q_),
      readiness_(q_),
      on_release_(std::move(on_release)),
      persistent_(q_->header.staging_capacity ==
                  StagingCapacity(q_->header.max_message_bytes, /*persistent=*/true)) {}

PipeQueue::~PipeQueue() {
  close(pipe_.read_fd);
  close(pipe_.write_fd);
}

template <typename Attempt>
std::optional<absl::Status> PipeQueue::WaitFor(SharedEvent* event, const Deadline& deadline,
                                               bool signalled_if_armed, Attempt attempt) {
  // The first attempt goes without a snapshot: reading the event's counter pulls the cache line
  // the other side bumps on every Get or write, and most attempts succeed at once.
  if (std::optional<absl::Status> done = attempt()) return done;
  if (deadline.expired()) return std::nullopt;
  BlockedCall blocked(BlockedCounter(event));
  for (;;) {
    const uint32_t snapshot = event->Snapshot();
    if (std::optional<absl::Status> done = attempt()) return done;
    if (deadline.expired()) return std::nullopt;
    if (signalled_if_armed) {
      event->Arm();  // then look once more: see SharedEvent::SignalIfArmed
      if (std::optional<absl::Status> done = attempt()) return done;
    }
    // Only a Get spins before sleeping. A Put waiting for room (or a Join) waits for consumers
    // to finish items, work that needs the CPU it would spin on: on a saturated machine that
    // spin halved a 4-to-4 JoinableQueue's throughput (docs/performance.md).
    event->Wait(snapshot, deadline.RemainingNanos(SliceNanos(event)),
                event == &q_->data_ready.event);
    MaybeReap();
  }
}

int64_t PipeQueue::SliceNanos(const SharedEvent* event) const {
  if (event == &q_->all_done.event && accounts_.shut_down() == ShutDownState::kImmediate &&
      accounts_.items() > 0) {
    return kDropInFlightSliceNs;
  }
  return kReapSliceNs;
}

std::atomic<int32_t>* PipeQueue::BlockedCounter(SharedEvent* event) {
  const bool put = event == &q_->space_free.event;
  if (!put && event != &q_->data_ready.event) return nullptr;  // Join: not counted
  int waiter = waiter_.load(std::memory_order_acquire);
  if (waiter < 0) {
    waiter = ClaimWaiterSlot(q_);  // -1 when the table is full: the call goes uncounted
    waiter_.store(waiter, std::memory_order_release);
    if (waiter < 0) return nullptr;
  }
  WaiterSlot& w = q_->waiters[waiter];
  return put ? &w.blocked_puts : &w.blocked_gets;
}

absl::StatusOr<int> PipeQueue::Slot() {
  const int cached = slot_.load(std::memory_order_acquire);
  if (cached >= 0) return cached;
  std::lock_guard<std::mutex> lock(slot_mu_);
  if (slot_ < 0) {
    absl::StatusOr<int> slot = ClaimSlot(q_);
    if (!slot.ok()) {
      MaybeReap();  // dead processes' slots may be reclaimable
      slot = ClaimSlot(q_);
      if (!slot.ok()) return slot.status();
    }
    slot_ = *slot;
  }
  return slot_;
}

absl::Status PipeQueue::CheckSize(size_t payload_bytes) const {
  if (payload_bytes <= q_->header.max_message_bytes) return absl::OkStatus();
  return absl::InvalidArgumentError(
      absl::StrCat("message is ", payload_bytes, " bytes serialized; this queue's ",
                   "max_message_bytes is ", q_->header.max_message_bytes));
}

absl::Status PipeQueue::Put(size_t payload_bytes, absl::FunctionRef<void(char*)> encode,
                            const Deadline& deadline) {
  if (closed_) return ClosedError();
  if (absl::Status size = CheckSize(payload_bytes); !size.ok()) return size;
  absl::StatusOr<int> slot = Slot();
  if (!slot.ok()) return slot.status();
  int64_t reserved = 0;
  absl::Status s = Reserve(*slot, 1, deadline, &reserved);
  if (!s.ok()) return s;
  AppendReserved(*slot, payload_bytes, encode);
  return absl::OkStatus();
}

absl::Status PipeQueue::PutMany(size_t count,
                                absl::FunctionRef<absl::Status(size_t, ItemSink)> item,
                                const Deadline& deadline, size_t* put) {
  *put = 0;
  if (closed_) return ClosedError();
  if (count == 0) return absl::OkStatus();
  absl::StatusOr<int> slot = Slot();
  if (!slot.ok()) return slot.status();
  // Room is reserved for as many of the items still to put as fit, in one accounts transaction,
  // when the previous reservation is used up; item i is serialized and checked before any
  // reservation it needs. An item that fails stops the batch, and what was reserved for the
  // items after it is given back (a process killed before that leaves it in its slot, released
  // by the reaper like any unwritten reservation).
  int64_t reserved = 0;
  auto give_back = [&] {
    if (reserved == 0) return;
    const int64_t n = reserved;
    accounts_
        .Transact(Deadline::Never(), *slot,
                  [n](Ledger& l, SlotCounters* c) {
                    l.items -= n;
                    l.unfinished -= n;
                    c->unsent -= n;
                    return true;
                  })
        .IgnoreError();  // a Never deadline cannot time out
    q_->space_free.event.Signal();
  };
  for (size_t i = 0; i < count; ++i) {
    absl::Status s = item(i, [&](size_t payload_bytes, absl::FunctionRef<void(char*)> encode) {
      if (absl::Status size = CheckSize(payload_bytes); !size.ok()) return size;
      if (reserved == 0) {
        absl::Status r = Reserve(*slot, static_cast<int64_t>(count - i), deadline, &reserved);
        if (!r.ok()) return r;
      }
      AppendReserved(*slot, payload_bytes, encode);
      --reserved;
      return absl::OkStatus();
    });
    if (!s.ok()) {
      give_back();
      return s;
    }
    *put = i + 1;
  }
  return absl::OkStatus();
}

void PipeQueue::AppendReserved(int slot, size_t payload_bytes,
                               absl::FunctionRef<void(char*)> encode) {
  CHANNEL_FAULT_POINT("put.reserved");
  // stats: not journaled with the reservation, which may cover a whole batch of sizes not known
  // yet; a process killed in between leaves its item counted in items_put (and lost) without
  // its bytes.
  __atomic_fetch_add(&q_->slots[slot].bytes_put, uint64_t{payload_bytes}, __ATOMIC_RELAXED);
  auto keepalive = [this] { return shared_from_this(); };
  if (slab_.Fits(payload_bytes)) {
    if (std::optional<uint32_t> block = slab_.Claim(slot)) {
      encode(slab_.Data(*block));
      CHANNEL_FAULT_POINT("put.slab_filled");
      feeder_.Append(
          slot, FrameKind::kSlabItem, kSlabRefBytes,
          [&](char* ref) { Slab::EncodeRef(*block, payload_bytes, ref); }, keepalive);
      return;
    }
  }
  feeder_.Append(slot, FrameKind::kItem, payload_bytes, encode, keepalive);
}

absl::Status PipeQueue::Reserve(int slot, int64_t want, const Deadline& deadline,
                                int64_t* reserved) {
  const int64_t maxsize = q_->header.maxsize;
  auto full = [maxsize, &deadline] {
    return absl::ResourceExhaustedError(absl::StrCat(
        "the queue is full (maxsize ", maxsize, "); ", DescribeWait(deadline, "Put", "PutNowait")));
  };
  auto attempt = [&]() -> std::optional<absl::Status> {
    if (closed_) return ClosedError();
    bool committed = false;
    bool shut_down = false;
    absl::Status locked = accounts_.TransactFoldingLazily(
        deadline, slot,
        [maxsize, want, reserved, &shut_down](Ledger& l, SlotCounters* c) {
          // Under the accounts lock, which Shutdown's flag is set under: a Put either reserved
          // before the Shutdown or fails.
          shut_down = l.shut_down != 0;
          if (shut_down || (maxsize > 0 && l.items >= maxsize)) return false;
          *reserved = maxsize > 0 ? std::min(want, maxsize - l.items) : want;
          l.items += *reserved;
          l.unfinished += *reserved;
          c->unsent += *reserved;
          return true;
        },
        &committed);
    if (!locked.ok()) return full();  // the accounts lock timed out: the deadline passed
    if (committed) return absl::OkStatus();
    if (shut_down) return ShutDownError();
    feeder_.FlushBeforeWait();  // what consumers need next may be this handle's own frames
    return std::nullopt;
  };
  std::optional<absl::Status> s =
      WaitFor(&q_->space_free.event, deadline, /*signalled_if_armed=*/true, attempt);
  return s.has_value() ? *s : full();
}

template <typename Take>
absl::Status PipeQueue::GetWith(const Deadline& deadline, Take take) {
  auto empty = [&deadline] {
    return absl::UnavailableError(
        absl::StrCat("the queue is empty; ", DescribeWait(deadline, "Get", "GetNowait")));
  };
  auto attempt = [&]() -> std::optional<absl::Status> {
    if (closed_) return ClosedError();
    absl::StatusOr<bool> got = take(deadline);
    if (!got.ok()) return empty();  // the reader lock timed out: the deadline has passed
    if (*got) return absl::OkStatus();
    // Python's rule: after Shutdown a Get fails once nothing is left (at once if immediate: the
    // reader dropped what it found, and drops what still arrives).
    const ShutDownState shut_down = accounts_.shut_down();
    if (shut_down == ShutDownState::kImmediate ||
        (shut_down == ShutDownState::kDraining && accounts_.items() <= 0)) {
      return ShutDownError();
    }
    return std::nullopt;
  };
  std::optional<absl::Status> s =
      WaitFor(&q_->data_ready.event, deadline, /*signalled_if_armed=*/false, attempt);
  if (!s.has_value()) {
    readiness_.NothingThere();
    return empty();
  }
  if (!s->ok()) {
    // Gets blocked in other processes look again: whatever emptied the queue (this Get's
    // predecessor, a loss) may not have signalled them.
    if (absl::IsCancelled(*s)) q_->data_ready.event.Signal();
    return *s;
  }
  // Only an armed Put can be waiting for this: the take was published by the reader lock's
  // release, and Reserve's WaitFor looks again after arming. The reader signals all_done itself
  // when it counts a loss. After Shutdown, the last item taken lets blocked Gets fail.
  q_->space_free.event.SignalIfArmed();
  if (accounts_.shut_down() != ShutDownState::kNone) q_->data_ready.event.Signal();
  return absl::OkStatus();
}

absl::StatusOr<Payload> PipeQueue::Get(const Deadline& deadline) {
  if (closed_) return ClosedError();
  if (has_ungot_.load(std::memory_order_relaxed)) {
    std::vector<Payload> one;
    if (TakeUngot(1, &one) == 1) return std::move(one[0]);
  }
  Payload payload;
  absl::Status s = GetWith(deadline, [&](const Deadline& d) -> absl::StatusOr<bool> {
    return reader_.TryTake(d, &payload);
  });
  if (!s.ok()) return s;
  return payload;
}

absl::Status PipeQueue::GetMany(size_t max_items, const Deadline& deadline,
                                std::vector<Payload>* out) {
  if (closed_) return ClosedError();
  if (has_ungot_.load(std::memory_order_relaxed) && TakeUngot(max_items, out) > 0) {
    return absl::OkStatus();
  }
  // Most batches are small messages: one block for all of them (PayloadArena), sized for
  // max_items of them up to 64 KiB; larger ones get their own buffers.
  PayloadArena arena(std::min<size_t>(max_items, 512) * 128);
  out->reserve(out->size() + max_items);
  return GetWith(deadline, [&](const Deadline& d) -> absl::StatusOr<bool> {
    absl::StatusOr<size_t> got = reader_.TryTakeMany(d, max_items, &arena, out);
    if (!got.ok()) return got.status();
    return *got > 0;
  });
}

size_t PipeQueue::TakeUngot(size_t max_items, std::vector<Payload>* out) {
  std::lock_guard<std::mutex> lock(unget_mu_);
  size_t n = 0;
  for (; n < max_items && !ungot_.empty(); ++n) {
    out->push_back(std::move(ungot_.front()));
    ungot_.pop_front();
  }
  has_ungot_ = !ungot_.empty();
  return n;
}

void PipeQueue::Unget(std::vector<Payload> payloads) {
  std::lock_guard<std::mutex> lock(unget_mu_);
  for (auto it = payloads.rbegin(); it != payloads.rend(); ++it) ungot_.push_front(std::move(*it));
  has_ungot_ = !ungot_.empty();
}


int64_t PipeQueue::qsize() {
  MaybeReap();
  return accounts_.items();
}

int64_t PipeQueue::unfinished() {
  MaybeReap();
  return accounts_.unfinished();
}

QueueStats PipeQueue::stats() {
  MaybeReap();
  return ReadQueueStats(q_);
}

void PipeQueue::Close() {
  closed_ = true;
  feeder_.Close();
  readiness_.Closed();
  // Wake this handle's blocked Put/Get (they re-check closed_); others see a spurious wake-up.
  q_->data_ready.event.Signal();
  q_->space_free.event.Signal();
}

absl::Status PipeQueue::JoinThread() {
  if (!closed_) return absl::FailedPreconditionError("JoinThread() requires Close() first");
  if (cancelled_) return absl::OkStatus();
  return feeder_.Join();
}

absl::Status PipeQueue::Shutdown(bool immediate) {
  const auto state = static_cast<uint32_t>(immediate ? ShutDownState::kImmediate
                                                     : ShutDownState::kDraining);
  // One journaled transaction: a process killed inside leaves the flag set or not, never half.
  accounts_
      .Transact(Deadline::Never(), -1,
                [state](Ledger& l, SlotCounters*) {
                  if (l.shut_down >= state) return false;
                  l.shut_down = state;
                  return true;
                })
      .IgnoreError();  // a Never deadline cannot time out
  CHANNEL_FAULT_POINT("shutdown.flagged");
  // Drop what the pipe and staging hold now; what feeders write later is dropped by whichever
  // reader (a Get, a Join, the reaper) finds it. A process killed here leaves that to them.
  if (immediate) reader_.Maintain(Deadline::Never());
  // Every blocked call in every process looks again: Puts fail, Gets fail once nothing is left,
  // Join sees the dropped items done.
  q_->space_free.event.Signal();
  q_->data_ready.event.Signal();
  q_->all_done.event.Signal();
  return absl::OkStatus();
}

absl::Status PipeQueue::TaskDone() {
  bool maybe_finished = false;
  absl::Status s = accounts_.TaskDone(&maybe_finished);
  if (!s.ok()) return s;
  if (maybe_finished && accounts_.unfinished() <= 0) q_->all_done.event.Signal();
  return absl::OkStatus();
}

absl::Status PipeQueue::Join(const Deadline& deadline) {
  auto attempt = [&]() -> std::optional<absl::Status> {
    if (accounts_.unfinished() <= 0) return absl::OkStatus();
    // Items put before an immediate Shutdown that reached the pipe since: drop them, they count
    // as done. (Items handed out by Get still wait for their TaskDone.)
    if (accounts_.shut_down() == ShutDownState::kImmediate && accounts_.items() > 0) {
      reader_.Maintain();
      if (accounts_.unfinished() <= 0) return absl::OkStatus();
    }
    return std::nullopt;
  };
  std::optional<absl::Status> s =
      WaitFor(&q_->all_done.event, deadline, /*signalled_if_armed=*/false, attempt);
  if (s.has_value()) return *s;
  return absl::DeadlineExceededError(absl::StrCat(DescribeWait(deadline, "Join"), "; ",
                                                  accounts_.unfinished(),
                                                  " item(s) not yet marked done"));
}

void PipeQueue::FlushAndDetach() {
  {
    std::lock_guard<std::mutex> lock(slot_mu_);
    if (detached_) return;
    detached_ = true;
  }
  closed_ = true;
  if (cancelled_) {
    const int64_t dropped = feeder_.Cancel();
    int slot;
    {
      std::lock_guard<std::mutex> lock(slot_mu_);
      slot = slot_;
    }
    if (dropped > 0 && slot >= 0) {
      accounts_
          .Transact(Deadline::Never(), slot,
                    [dropped](Ledger& l, SlotCounters* c) {
                      l.items -= dropped;
                      l.unfinished -= dropped;
                      l.items_lost += static_cast<uint64_t>(dropped);
                      c->unsent -= dropped;
                      return true;
                    })
          .IgnoreError();
      q_->space_free.event.Signal();
      q_->all_done.event.Signal();
    }
  } else {
    feeder_.Close();
    // A named queue must keep what this process put even when no reader ever comes, and a full
    // FIFO would block the feeder for ever: move the FIFO's bytes into staging (which lives in
    // the queue file) until the feeder is done.
    while (persistent_ && !feeder_.WaitWrittenFor(absl::ZeroDuration())) {
      pollfd readable{pipe_.read_fd, POLLIN, 0};
      poll(&readable, 1, /*ms=*/20);  // bytes arrived, or look at the feeder again
      reader_.WithLock(Deadline::Never(), [this] { reader_.DrainPipeLocked(); }).IgnoreError();
    }
  }
  feeder_.Join().IgnoreError();  // a write error was already counted as a loss
  {
    std::lock_guard<std::mutex> lock(slot_mu_);
    // A cancelled feeder may still be writing its last batch: then the slot stays claimed, and is
    // reclaimed as dead once this process exits.
    if (slot_ >= 0 && feeder_.unwritten() == 0 && LoadRelaxed(q_->slots[slot_].unsent) == 0) {
      RetireSlot(slot_);
    }
    slot_ = -1;
  }
  if (on_release_) on_release_(*this);  // named queues: detach, keeping the FIFO's bytes
}

void PipeQueue::Release() {
  if (released_) return;
  released_ = true;
  readiness_.Stop();
  FlushAndDetach();
  UnregisterForExit(this);
}

void PipeQueue::LockForFork() {
  slot_mu_.lock();
  feeder_.LockForFork();
  readiness_.LockForFork();
}

void PipeQueue::UnlockForFork() {
  readiness_.UnlockForFork();
  feeder_.UnlockForFork();
  slot_mu_.unlock();
}

void PipeQueue::ForgetAfterFork() {
  readiness_.ForgetAfterFork();  // unlocks its mutex
  feeder_.ForgetAfterFork();  // unlocks the feeder's mutex
  slot_ = -1;  // the parent's slot; the child claims its own on its first Put
  waiter_ = -1;  // likewise its WaiterSlot
  slot_mu_.unlock();
}

void PipeQueue::RetireSlot(int slot) {
  slab_.FreeFilling(slot);  // blocks of items the slot's owner will never write
  ReleaseSlot(q_, slot);
}

void PipeQueue::DeclareWrittenItemsLost() {
  WriterState& w = q_->writer;
  writer_.WithLockForMaintenance([&w] {
    if (w.next_seq > 1) w.tombstone_due = std::max(w.tombstone_due, w.next_seq - 1);
  });
  MaybeReap();
}

void PipeQueue::MaybeReap() {
  const int64_t now = MonotonicNanos();
  int64_t last = q_->last_reap_ns.load(std::memory_order_relaxed);
  // Unsigned, so a stamp from an untrusted file or from before a reboot (a monotonic time from
  // another boot may lie in the future) reads as "long ago" instead of overflowing.
  const uint64_t since = static_cast<uint64_t>(now) - static_cast<uint64_t>(last);
  if (since < static_cast<uint64_t>(kReapIntervalNs)) return;
  if (!q_->last_reap_ns.compare_exchange_strong(last, now)) return;  // another process has it
  Reap();
}

void PipeQueue::Reap() {
  std::vector<int> dead;
  for (int i = 0; i < kMaxSlots; ++i) {
    const int32_t pid = q_->slots[i].pid.load();
    if (pid != 0 && !ProcessAlive(pid, LoadRelaxed(q_->slots[i].start_time))) dead.push_back(i);
  }
  // The writer lock first: if a dead process held it, its repair hands the batch it was writing
  // over to the readers, and only what remains in its slot is released here.
  const bool repaired = writer_.WithLockForMaintenance([&] {
    for (int i : dead) {
      const int32_t pid = q_->slots[i].pid.load();
      if (pid == 0 || ProcessAlive(pid, LoadRelaxed(q_->slots[i].start_time))) continue;
      accounts_
          .Transact(Deadline::Never(), i,
                    [](Ledger& l, SlotCounters* c) {
                      l.items -= c->unsent;
                      l.unfinished -= c->unsent;
                      l.items_lost += static_cast<uint64_t>(c->unsent);
                      ++l.dead_processes;
                      c->unsent = 0;
                      return true;
                    })
          .IgnoreError();
      RetireSlot(i);
    }
  });
  if (!repaired) q_->last_reap_ns.store(0);  // writer lock busy: let the next waiter retry soon
  const int64_t items_before = accounts_.items();
  reader_.Maintain();
  if (dead.empty() && accounts_.items() == items_before) return;
  q_->space_free.event.Signal();
  q_->all_done.event.Signal();
  q_->data_ready.event.Signal();
}

}  // namespace internal
}  // namespace channel
