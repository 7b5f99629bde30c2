// PipeQueue: the pipe transport, composing the mechanisms of this directory into a QueueBackend.
//
//   Put:  reserve (Accounts: qsize < maxsize, else wait on space_free) -> Feeder buffer
//         (a large message goes into a slab block, and only its reference to the feeder)
//   feeder thread: PipeWriter::WriteBatch -> pipe -> signal data_ready
//   Get:  PipeReader::TryTake (staging in shared memory) -> signal space_free if a Put waits
//
// Waiting is on futex events in shared memory, in slices of at most kReapSlice, so every waiting
// process also acts as the reaper: it notices dead processes (process_registry.h) and repairs
// locks their death left behind, which is how a death is accounted within about a second even
// when nobody else touches the queue.
#ifndef CHANNEL_INTERNAL_PIPE_PIPE_QUEUE_H_
#define CHANNEL_INTERNAL_PIPE_PIPE_QUEUE_H_

#include <atomic>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <vector>

#include "absl/status/statusor.h"
#include "channel/internal/shm/accounts.h"
#include "channel/internal/core/backend.h"
#include "channel/internal/core/exit_hooks.h"
#include "channel/internal/pipe/feeder.h"
#include "channel/internal/pipe/pipe_reader.h"
#include "channel/internal/pipe/pipe_writer.h"
#include "channel/internal/pipe/readiness.h"
#include "channel/internal/shm/shared_state.h"
#include "channel/internal/shm/slab.h"

namespace channel {
namespace internal {

// The two ends of a queue's pipe, owned. The read end is O_NONBLOCK (readers only drain), the
// write end blocking (a feeder waits for room).
struct PipeEnds {
  int read_fd = -1;
  int write_fd = -1;
  size_t capacity = 0;  // F_GETPIPE_SZ
};

// Creates an anonymous pipe, enlarged to 1 MiB where the system allows.
absl::StatusOr<PipeEnds> MakePipe();
// Asks for a 1 MiB pipe buffer and returns what the kernel granted.
size_t EnlargePipe(int fd);

class PipeQueue final : public QueueBackend,
                        public ExitParticipant,
                        public std::enable_shared_from_this<PipeQueue> {
 public:
  static absl::StatusOr<std::shared_ptr<PipeQueue>> CreateAnonymous(const QueueIdentity& identity,
                                                                    const QueueShape& shape);
  // Takes ownership of an attached mapping and pipe. `on_release` runs once, after the handle's
  // items are flushed at its release or at process exit (named queues detach there, see
  // named_store.h).
  static std::shared_ptr<PipeQueue> Adopt(SharedMapping mapping, PipeEnds pipe,
                                          std::function<void(PipeQueue&)> on_release);
  ~PipeQueue() override;

  absl::Status Put(size_t payload_bytes, absl::FunctionRef<void(char*)> encode,
                   const Deadline& deadline) override;
  absl::Status PutMany(size_t count, absl::FunctionRef<absl::Status(size_t, ItemSink)> item,
                       const Deadline& deadline, size_t* put) override;
  absl::StatusOr<Payload> Get(const Deadline& deadline) override;
  absl::Status GetMany(size_t max_items, const Deadline& deadline,
                       std::vector<Payload>* out) override;
  void Unget(std::vector<Payload> payloads) override;
  int64_t qsize() override;
  int64_t maxsize() const override { return q_->header.maxsize; }
  size_t max_message_bytes() const override { return q_->header.max_message_bytes; }
  QueueStats stats() override;
  absl::StatusOr<int> ReadableFd() override { return readiness_.Fd(); }
  void Close() override;
  absl::Status JoinThread() override;
  void CancelJoinThread() override { cancelled_ = true; }
  absl::Status Shutdown(bool immediate) override;
  absl::Status TaskDone() override;
  int64_t unfinished() override;
  absl::Status Join(const Deadline& deadline) override;
  void Release() override;

  // ExitParticipant.
  void FlushAtExit() override { FlushAndDetach(); }
  void LockForFork() override;
  void UnlockForFork() override;
  void ForgetAfterFork() override;

  SharedQueue* shared() const { return q_; }
  PipeReader& reader() { return reader_; }

  // Runs the reaper now if nobody in any process ran it in the last 250 ms.
  void MaybeReap();
  // Runs it now: releases what dead processes held, repairs locks they held (channelctl repair).
  void Reap();
  // For a named queue found with no live process attached: every item written to the (now
  // vanished) FIFO and not in staging is lost; tells readers so with a tombstone.
  void DeclareWrittenItemsLost();

 private:
  PipeQueue(SharedMapping mapping, PipeEnds pipe, std::function<void(PipeQueue&)> on_release);
  absl::StatusOr<int> Slot();
  // kInvalidArgument (naming both sizes) when a message of `payload_bytes` is too large.
  absl::Status CheckSize(size_t payload_bytes) const;
  // Reserves room for 1..want items (as many as fit, waiting while none does), in one accounts
  // transaction; *reserved says how many.
  absl::Status Reserve(int slot, int64_t want, const Deadline& deadline, int64_t* reserved);
  // Hands one reserved item to the feeder (its message into a slab block when it fits one).
  void AppendReserved(int slot, size_t payload_bytes, absl::FunctionRef<void(char*)> encode);
  // Get's body: `take(deadline)` (-> StatusOr<bool>: took something) under WaitFor on
  // data_ready, with the Shutdown, Close and timeout rules, then the signals a take owes.
  template <typename Take>
  absl::Status GetWith(const Deadline& deadline, Take take);
  // Moves up to `max_items` of what Unget gave back into *out; how many.
  size_t TakeUngot(size_t max_items, std::vector<Payload>* out);
  // This process's blocked_puts (space_free) or blocked_gets (data_ready) count; null for other
  // events, or when every WaiterSlot belongs to another live process.
  std::atomic<int32_t>* BlockedCounter(SharedEvent* event);
  // Calls `attempt` (-> std::optional<absl::Status>, nullopt: not yet) until it returns a status,
  // which WaitFor returns, or the deadline passes (nullopt), sleeping on `event` in between;
  // every sleep is at most kReapSlice, after which this process runs the reaper.
  // `signalled_if_armed`: the event's busy signaller uses SignalIfArmed, so every sleep is
  // preceded by Arm() and one more attempt.
  template <typename Attempt>
  std::optional<absl::Status> WaitFor(SharedEvent* event, const Deadline& deadline,
                                      bool signalled_if_armed, Attempt attempt);
  // Flushes (or, after CancelJoinThread, drops) what this handle put; frees its slot; runs
  // on_release_. Once per handle.
  void FlushAndDetach();
  // How long WaitFor sleeps on `event` before it looks again and runs the reaper.
  int64_t SliceNanos(const SharedEvent* event) const;
  // Frees a slot whose owner will write nothing more (dead, or shut down), and slab blocks it
  // claimed for items it will never write.
  void RetireSlot(int slot);

  SharedMapping mapping_;
  SharedQueue* q_;
  PipeEnds pipe_;
  Accounts accounts_;
  PipeReader reader_;
  PipeWriter writer_;
  Feeder feeder_;
  Slab slab_;
  Readiness readiness_;
  std::function<void(PipeQueue&)> on_release_;
  const bool persistent_;  // a named queue: keeps its items while no process has it open
  // What Unget gave back, returned first by Get/GetMany (rare: an undecodable item in a batch).
  std::mutex unget_mu_;
  std::deque<Payload> ungot_;
  std::atomic<bool> has_ungot_{false};  // !ungot_.empty(), read without the lock by every Get
  std::atomic<bool> closed_{false};
  std::atomic<bool> cancelled_{false};
  std::mutex slot_mu_;  // guards changes of slot_, and detached_
  std::atomic<int> slot_{-1};  // read without the lock on every Put
  std::atomic<int> waiter_{-1};  // this process's WaiterSlot, claimed when a call first waits
  bool detached_ = false;
  bool released_ = false;
};

}  // namespace internal
}  // namespace channel

#endif  // CHANNEL_INTERNAL_PIPE_PIPE_QUEUE_H_
