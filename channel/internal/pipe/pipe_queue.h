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
#include <functional>
#include <memory>
#include <mutex>
#include <optional>

#include "absl/status/statusor.h"
#include "channel/internal/shm/accounts.h"
#include "channel/internal/core/backend.h"
#include "channel/internal/core/exit_hooks.h"
#include "channel/internal/pipe/feeder.h"
#include "channel/internal/pipe/pipe_reader.h"
#include "channel/internal/pipe/pipe_writer.h"
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
  absl::StatusOr<Payload> Get(const Deadline& deadline) override;
  int64_t qsize() override;
  int64_t maxsize() const override { return q_->header.maxsize; }
  size_t max_message_bytes() const override { return q_->header.max_message_bytes; }
  QueueStats stats() override;
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
  // For a named queue found with no live process attached: every item written to the (now
  // vanished) FIFO and not in staging is lost; tells readers so with a tombstone.
  void DeclareWrittenItemsLost();

 private:
  PipeQueue(SharedMapping mapping, PipeEnds pipe, std::function<void(PipeQueue&)> on_release);
  absl::StatusOr<int> Slot();
  absl::Status Reserve(int slot, const Deadline& deadline);
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
  void Reap();
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
  std::function<void(PipeQueue&)> on_release_;
  const bool persistent_;  // a named queue: keeps its items while no process has it open
  std::atomic<bool> closed_{false};
  std::atomic<bool> cancelled_{false};
  std::mutex slot_mu_;  // guards changes of slot_, and detached_
  std::atomic<int> slot_{-1};  // read without the lock on every Put
  bool detached_ = false;
  bool released_ = false;
};

}  // namespace internal
}  // namespace channel

#endif  // CHANNEL_INTERNAL_PIPE_PIPE_QUEUE_H_
