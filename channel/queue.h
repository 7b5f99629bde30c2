// Queue<T>: a bounded, multi-producer multi-consumer queue of Cap'n Proto messages between
// processes, with the semantics of Python's multiprocessing.Queue.
//
//   channel::QueueOptions options;
//   options.maxsize = 100;
//   auto q = channel::Queue<demo::Job>::Create(options);
//   channel::Process worker([&q] {
//     for (;;) {
//       absl::StatusOr<channel::Message<demo::Job>> job = q->Get(absl::Seconds(5));
//       if (!job.ok()) return channel::IsEmpty(job.status()) ? 0 : 1;
//       Handle((*job)->getId());
//     }
//   });
//   worker.Start();
//   capnp::MallocMessageBuilder b;
//   b.initRoot<demo::Job>().setId(1);
//   absl::Status s = q->Put(b);               // serialized now; `b` may be reused at once
//
// Put serializes the message and hands it to this handle's feeder thread, which writes it into
// the queue's pipe; Get takes exactly one item. Every process on the queue sees the same bound
// and the same qsize(): counters and locks live in shared memory.
//
// Thread safety: every method may be called from any thread. Handles are movable, not copyable;
// a moved-from handle returns kFailedPrecondition. Destroying a handle flushes what it put (see
// CancelJoinThread). A handle copied into a child by fork() keeps working there.
//
// Timeouts follow Abseil: a negative timeout is a zero timeout; absl::InfiniteDuration() blocks.
//
// Failure behaviour: any process on a queue may die at any moment, SIGKILL included. The others
// never deadlock on the queue's locks and never receive a torn or duplicated message; what the
// dead process held (the frame it was reading or writing, its unflushed items) is lost and
// accounted within about a second: qsize() stops counting it, a bounded queue's slots free up,
// a JoinableQueue's unfinished count drops by the items never delivered, and stats() shows it.
#ifndef CHANNEL_QUEUE_H_
#define CHANNEL_QUEUE_H_

#include "channel/internal/core/queue_base.h"
#include "channel/message.h"
#include "channel/stats.h"
#include "channel/status.h"

namespace channel {

// struct QueueOptions { int64_t maxsize = 0; size_t max_message_bytes = 64 << 20; } is defined
// in internal/core/queue_base.h: maxsize <= 0 means unbounded; a Put of a message whose serialized
// size exceeds max_message_bytes fails with kInvalidArgument, and readers accept messages up to
// that size (past capnp's default limits). max_message_bytes must be in [8, 1 GiB].

template <typename T>
class Queue : public internal::QueueBase<Queue<T>, T> {
 public:
  // The full surface, inherited from QueueBase:
  //
  // static Create(QueueOptions = {})
  //   An anonymous queue; processes forked after this call share it.
  // static CreateNamed(name, QueueOptions = {}) / Open(name) / Unlink(name)
  //   Named queues, for unrelated processes and different binaries (where they live:
  //   docs/api.md). CreateNamed: kAlreadyExists if the name exists. Open: kNotFound if it does
  //   not; kFailedPrecondition if it was created for another message type or queue kind (the
  //   message names both). Unlink: kNotFound if absent; open handles keep working, and a later
  //   CreateNamed makes a new queue. Names: 1..200 chars of [A-Za-z0-9._-], not starting with
  //   '.', else kInvalidArgument. A named queue and its items live until Unlink, even while no
  //   process has it open.
  //
  // Put(T::Reader, timeout = infinite) / Put(MessageBuilder&, timeout = infinite)
  //   Serializes now, then waits while the queue is full, up to `timeout`.
  //   kResourceExhausted (IsFull) if still full; kInvalidArgument if too large or the builder
  //   has no struct root (its root must be a T: Cap'n Proto messages do not carry their type);
  //   kFailedPrecondition (IsClosed) after Close() on this handle, or if Close() is called while
  //   waiting; kCancelled (IsShutDown) once the queue is shut down (see Shutdown), also while
  //   waiting.
  // PutNowait(...)  Put with a zero timeout.
  //
  // Get(timeout = infinite) -> Message<T>
  //   Waits for an item, up to `timeout` for the whole call (lock waits included; Get never
  //   blocks reading a frame whose writer stalled). kUnavailable (IsEmpty) if none came;
  //   kFailedPrecondition (IsClosed) after or during Close() on this handle; kCancelled
  //   (IsShutDown) when the queue is shut down and nothing is left; kDataLoss if the item could
  //   not be decoded (it is consumed).
  // GetNowait()  Get with a zero timeout.
  //
  // PutMany(Span<const T::Reader> messages, timeout = infinite, size_t* put = nullptr)
  //   Puts a prefix of `messages`, in order, exactly as if put one by one by this thread (other
  //   threads' and processes' items may come between them). It waits for room up to `timeout`
  //   (one deadline for the whole call); room is reserved for as many as fit at once, with one
  //   lock acquisition, and the frames go to the feeder like Put's.
  //   OK: all were put. Otherwise the status of the Put that stopped it — kResourceExhausted
  //   (IsFull) when the queue stayed full, kCancelled (IsShutDown), kFailedPrecondition
  //   (IsClosed), kInvalidArgument for a message too large or unreadable — and *put (when not
  //   null) says how many went in, in every case (0 on a moved-from handle).
  //
  // GetMany(size_t max_items, timeout = infinite) -> std::vector<Message<T>>
  //   Waits up to `timeout` while nothing is available, then returns what is available now:
  //   1..max_items messages in queue order, taken under one lock acquisition (one read(2) serves
  //   the batch when the pipe holds it). The statuses of Get (IsEmpty after the timeout,
  //   IsClosed, IsShutDown once shut down and empty), and kInvalidArgument for max_items 0. An
  //   undecodable item ends the batch before it; this handle's next Get/GetMany reports it
  //   (kDataLoss, consumed) and then returns the items that followed it. The small messages of
  //   a batch share one allocation, freed when the last of them is destroyed (keeping one
  //   message keeps that block, up to 64 KiB).
  //
  // ReadableFd() -> int
  //   A descriptor for poll/select/epoll, owned by this handle: valid until the handle is
  //   destroyed (do not close it; a forked child's copy of the handle makes its own). It polls
  //   readable (level-triggered) while
  //     - the next item to take is complete in the queue (written whole into the pipe by its
  //       producer's feeder: an item still in a feeder, or half-written by a producer killed
  //       mid-frame, does not count; the latter is resolved by the reaper within about a
  //       second, after which the following item counts), or
  //     - the queue is shut down and empty (immediately shut down: at once), or
  //     - this handle is closed (Get then reports IsClosed; it stays readable).
  //   Readable is a hint: another consumer (thread or process) may take the item first, and
  //   GetNowait then reports IsEmpty. Only a Get/GetNowait/GetMany *on this handle* that reports
  //   IsEmpty makes it unreadable again, so drain it with GetNowait until IsEmpty, as with a
  //   non-blocking socket. No wake-up is lost: an item arriving at any moment, from any
  //   process, makes it readable. The first call starts a watcher thread for this handle
  //   (kResourceExhausted if eventfd or the thread cannot be made); handles nobody polls cost
  //   Put and Get nothing. kFailedPrecondition on a moved-from handle. Thread-safe.
  //
  // qsize()  Items put and not yet taken, across all processes, exact when read; an item counts
  //          from the moment its Put returns. An item still in some feeder is counted but may not
  //          be readable yet, so GetNowait can report Empty while qsize() > 0.
  // empty()  qsize() == 0.   full()  maxsize() > 0 && qsize() >= maxsize().
  // maxsize()  0 when unbounded.   max_message_bytes()   stats()  see stats.h.
  //
  // Shutdown(immediate = false) -> Status
  //   Python 3.13's queue.Queue.shutdown, for the whole queue: every handle in every process,
  //   and every process that opens or forks it later (a named queue stays shut down until
  //   Unlink). Afterwards Put fails with kCancelled (IsShutDown), also on a full queue, and a Put
  //   blocked in any process wakes and fails; a Put that returned OK before counts and is
  //   delivered. Get keeps returning the items left (including those still in feeders), then
  //   fails with kCancelled instead of waiting; Gets blocked in any process wake and fail once
  //   nothing is left. immediate = true drops the items left instead (stats: dropped by
  //   shutdown, not lost; items still in a feeder are dropped when they reach the pipe, within
  //   milliseconds, and count in qsize() until then) and Get fails at once. A JoinableQueue
  //   counts dropped items done: Join then waits only for items Get already returned.
  //   qsize/empty/full stay truthful and TaskDone keeps working. Calling it again is harmless;
  //   immediate after a plain Shutdown drops what is left. Works on a closed handle too.
  //   Blocks only for the queue's locks (held briefly; a dead holder is repaired). OK, or
  //   kFailedPrecondition on a moved-from handle. A process killed inside it leaves the queue
  //   shut down or not, and consistent either way.
  //   Status precedence for Put/Get: closed handle, then shut down, then full/empty.
  //
  // Close()  No more Put/Get on this handle; blocked Put/Get on it return kFailedPrecondition.
  //          The feeder keeps flushing what was put.
  // JoinThread()  After Close(): waits until this handle's feeder has written everything (OK at
  //          once if already done or cancelled). Before Close(): kFailedPrecondition.
  // CancelJoinThread()  Exit and destruction will not wait for the feeder: its unwritten items
  //          are dropped and no longer counted in qsize().
  //
  // A process exiting normally (return from main, exit(), a channel::Process child returning)
  // first flushes every handle's items, unless CancelJoinThread() was called.
  static constexpr internal::QueueKind kKind = internal::QueueKind::kQueue;

  Queue(Queue&&) noexcept = default;
  Queue& operator=(Queue&&) noexcept = default;

 private:
  friend class internal::QueueBase<Queue<T>, T>;
  explicit Queue(internal::Handle handle) : internal::QueueBase<Queue<T>, T>(std::move(handle)) {}
};

}  // namespace channel

#endif  // CHANNEL_QUEUE_H_
