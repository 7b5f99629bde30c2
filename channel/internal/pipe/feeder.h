// Feeder: a handle's background thread that writes what Put buffered into the pipe.
//
// Put serializes into the feeder's pending buffer and returns; the thread swaps that buffer for
// an empty one and writes the whole batch with as few write(2) calls as the pipe allows (see
// PipeWriter). Frames are contiguous in one reusable buffer, so the hot path allocates nothing
// once the buffer has grown to the working size.
//
// Scheduling: the thread runs as SCHED_BATCH (when the process runs under the default policy;
// a real-time program's feeder keeps its policy), so waking it never preempts the thread that woke
// it. Put wakes it when the pending buffer goes from empty to non-empty; under the default policy
// the scheduler switched to the feeder at once, which wrote that one frame and slept again: two
// context switches per few messages whenever producers and consumers kept both CPUs busy. As
// SCHED_BATCH it runs at once on an idle CPU, and otherwise when the producer's slice ends or it
// blocks, by which time it has a batch to write. The price is latency on a saturated machine only
// (bounded by the scheduler's slice), and a thread that waited since its previous Put writes its
// frame itself anyway (PipeWriter::TryWriteNow), so request/response traffic does not pay it.
//
// Full batches: a Put that brings the pending buffer to a multiple of kSelfWriteFrames frames or
// past a multiple of kSelfWriteBytes writes the batch itself, if the thread is not writing and
// that cannot block (as FlushBeforeWait). A streaming producer then rarely hands anything to the
// thread: the hand-off moved the buffer's cache lines and the mutex's between two CPUs for every
// batch (the first store into a line the other CPU last read costs ~400 ns on a VM whose vCPUs are
// far apart), and the thread could not run before the producer's slice ended anyway.
//
// Lifecycle: started by the first Append; Close() lets it finish what is pending and exit;
// Join() waits for that. Cancel() drops what is pending and stops waiting for the thread (it may
// be blocked on a full pipe; it keeps its owner alive through the keepalive it was started with).
// After fork() the child has no feeder thread: ForgetAfterFork() discards the parent's buffered
// frames in the child, so they are written once, by the parent.
#ifndef CHANNEL_INTERNAL_PIPE_FEEDER_H_
#define CHANNEL_INTERNAL_PIPE_FEEDER_H_

#include <condition_variable>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <mutex>
#include <thread>
#include <utility>

#include "absl/functional/function_ref.h"
#include "absl/status/status.h"
#include "absl/time/time.h"
#include "channel/internal/wire/frame.h"
#include "channel/internal/pipe/pipe_writer.h"

namespace channel {
namespace internal {

class Feeder {
  // A growable byte buffer that, unlike std::vector<char>, does not zero what it grows into:
  // every byte appended is overwritten by the frame written there at once.
  class Buffer {
   public:
    char* data() { return data_.get(); }
    size_t size() const { return size_; }
    // Grows by n bytes and returns where they start.
    char* Append(size_t n);
    void Clear() { size_ = 0; }
    // Gives the memory back if it grew beyond `keep` bytes.
    void Trim(size_t keep);
    void swap(Buffer& other) {
      std::swap(data_, other.data_);
      std::swap(size_, other.size_);
      std::swap(capacity_, other.capacity_);
    }

   private:
    std::unique_ptr<char[]> data_;
    size_t size_ = 0;
    size_t capacity_ = 0;
  };

 public:
  explicit Feeder(PipeWriter* writer) : writer_(writer) {}
  ~Feeder();
  Feeder(const Feeder&) = delete;
  Feeder& operator=(const Feeder&) = delete;

  // Appends one frame of `kind` (an item or a slab item) whose payload `encode` writes
  // (payload_bytes, a multiple of 8), for the items reserved on `slot`. If the thread has to be
  // started, `keepalive()` gives it ownership of everything it touches (called only then: it is
  // not free on every Put).
  void Append(int slot, FrameKind kind, size_t payload_bytes, absl::FunctionRef<void(char*)> encode,
              absl::FunctionRef<std::shared_ptr<void>()> keepalive);
  // For a Put about to wait for room: writes what is pending from the calling thread, if the
  // thread is not writing and that cannot block (PipeWriter::TryWriteBatch). Consumers are then
  // served while this process waits, instead of when its feeder thread next gets a CPU.
  void FlushBeforeWait();
  void Close();
  // After Close(): waits until the thread has written everything and exited. The first write
  // error, if one happened (its items were counted lost).
  absl::Status Join();
  // After Close(): waits up to `timeout` for the thread to finish writing; true if it has (Join
  // then returns at once).
  bool WaitWrittenFor(absl::Duration timeout);
  // Drops frames not yet handed to the pipe and returns how many; does not wait for the thread.
  int64_t Cancel();
  // Frames appended and not yet written, including a batch being written.
  int64_t unwritten() const;

  // fork() support (exit_hooks.h): the mutex is held across fork(); in the child,
  // ForgetAfterFork resets the state and releases it.
  void LockForFork() { mu_.lock(); }
  void UnlockForFork() { mu_.unlock(); }
  void ForgetAfterFork();

 private:
  void Run(std::shared_ptr<void> keepalive);
  // With mu_ held: writes what is pending from the calling thread if the thread is not writing
  // and that cannot block (PipeWriter::TryWriteBatch). True if it did.
  bool TryWriteLocked();
  // With mu_ held, after this thread wrote everything pending (`written`: how that went).
  void WrittenHere(const absl::Status& written);

  PipeWriter* const writer_;
  mutable std::mutex mu_;
  std::condition_variable work_cv_;
  std::condition_variable idle_cv_;
  Buffer pending_;  // frames appended since the last swap
  // The batch the thread is writing. A member, not a local of Run(), so that a forked child
  // (which has no feeder thread) still owns the buffer and can free it.
  Buffer writing_;
  int64_t pending_count_ = 0;
  int64_t writing_count_ = 0;  // frames in the batch the thread is writing
  int slot_ = -1;
  bool started_ = false;
  bool closing_ = false;
  bool cancelled_ = false;
  absl::Status error_;
  std::thread thread_;
};

}  // namespace internal
}  // namespace channel

#endif  // CHANNEL_INTERNAL_PIPE_FEEDER_H_
