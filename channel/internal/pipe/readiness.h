// Readiness: the descriptor behind ReadableFd(), for one handle that wants to poll the queue.
//
// Futexes cannot be polled, so a watcher thread turns the queue's state into an eventfd that is
// readable while a complete item may be there for GetNowait, or the queue is shut down (and, for
// a draining Shutdown, empty), or this handle is closed. Created on the first ReadableFd() call:
// a handle nobody polls has no thread and costs Put and Get nothing.
//
// Protocol (no lost wake-ups, in any number of processes and consumers):
// - The watcher takes a snapshot of data_ready, then checks the state lock-free: an item is
//   complete once its seq is <= the writer's done_seq, so "reader's read_seq <= done_seq" says
//   the next item to take is whole in the pipe or in staging (or was lost, which the next Get
//   resolves). If so it makes the eventfd readable and waits, on a process-local condition
//   variable, for this handle to clear it; otherwise it sleeps on data_ready from the snapshot,
//   which every write(2) into the pipe, every Shutdown and every reaped loss signals.
// - Only this handle clears it: a Get on this handle that finds nothing (IsEmpty). The clear
//   and the set are under one mutex, and after a clear the watcher checks again from a fresh
//   snapshot, so an item that arrived while the descriptor was readable is not forgotten.
// - While a batch is being written (read_seq < next_seq but > done_seq: data_ready was
//   signalled by write(2) before done_seq moved), the watcher looks again every millisecond
//   until done_seq moves; a writer killed mid-frame keeps it doing so until the reaper closes
//   the batch (about a second).
// A descriptor that stays readable while another consumer keeps winning the race is a hint,
// as the contract says: GetNowait reports Empty, which clears it.
//
// Fork: the child's copy of a handle has no watcher (threads do not survive fork) and closes
// its copy of the eventfd; its next ReadableFd() makes its own.
#ifndef CHANNEL_INTERNAL_PIPE_READINESS_H_
#define CHANNEL_INTERNAL_PIPE_READINESS_H_

#include <atomic>
#include <condition_variable>
#include <mutex>
#include <thread>

#include "absl/status/statusor.h"
#include "channel/internal/shm/accounts.h"
#include "channel/internal/shm/shared_state.h"

namespace channel {
namespace internal {

class Readiness {
 public:
  explicit Readiness(SharedQueue* queue) : q_(queue), accounts_(queue) {}
  ~Readiness() { Stop(); }
  Readiness(const Readiness&) = delete;
  Readiness& operator=(const Readiness&) = delete;

  // The eventfd, starting the watcher on the first call. kResourceExhausted if eventfd(2) or the
  // thread cannot be created.
  absl::StatusOr<int> Fd();
  // A Get on this handle found nothing: not readable any more (until the watcher sees an item).
  // Costs one relaxed load when nobody called Fd().
  void NothingThere() {
    if (active_.load(std::memory_order_relaxed)) Clear();
  }
  // This handle was closed: readable for good (GetNowait reports IsClosed); the watcher stops.
  void Closed();
  // Stops the watcher and closes the eventfd (handle destruction).
  void Stop();
  // Around fork(): the parent holds the mutex across it, and the child forgets the parent's
  // watcher, closes its copy of the eventfd and unlocks.
  void LockForFork();
  void UnlockForFork();
  void ForgetAfterFork();

 private:
  enum class State { kNothing, kWriting, kReadable };
  State Check() const;
  void Run();
  void Clear();
  void SetLocked();  // under mu_

  SharedQueue* q_;
  Accounts accounts_;
  std::atomic<bool> active_{false};  // Fd() was called: Gets must clear
  std::mutex mu_;                    // guards everything below
  std::condition_variable cleared_;
  int fd_ = -1;
  bool started_ = false;  // the watcher runs (Fd() waits for it)
  bool readable_ = false;
  bool stopping_ = false;
  bool closed_ = false;
  std::thread watcher_;
};

}  // namespace internal
}  // namespace channel

#endif  // CHANNEL_INTERNAL_PIPE_READINESS_H_
