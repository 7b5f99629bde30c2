#include "channel/internal/pipe/feeder.h"

#include <sched.h>

#include <algorithm>
#include <cstring>
#include <new>
#include <utility>

#include "channel/internal/wire/crc32c.h"
#include "channel/internal/wire/frame.h"
#include "channel/internal/shm/futex.h"

namespace channel {
namespace internal {
namespace {

// Full batches (feeder.h): 128 small frames are ~14 KiB; in interleaved runs 64 to 256 did about
// as well as each other and 16 clearly worse (docs/performance.md, round 6).
constexpr int64_t kSelfWriteFrames = 128;
constexpr size_t kSelfWriteBytes = 64 << 10;

// A buffer that once held a huge batch is given back rather than kept for ever; below this, it
// is kept, so steady traffic (even of large messages) never re-faults its buffer.
constexpr size_t kKeepBufferBytes = 64 << 20;

// True if the calling thread waited in a queue (SharedEvent::Wait) since its previous call, or
// this is its first. A thread that streams Puts without waiting is better served by batches (one
// write(2) for many frames) than by writing each frame itself; a thread that waits in between
// (request/response, or a producer that waited for room) gains a hop.
bool WaitedSincePreviousPut() {
  thread_local uint64_t waits_at_previous_put = ~uint64_t{0};
  const uint64_t waits = WaitsInThisThread();
  return std::exchange(waits_at_previous_put, waits) != waits;
}

}  // namespace

char* Feeder::Buffer::Append(size_t n) {
  if (size_ + n > capacity_) {
    const size_t capacity = std::max(size_ + n, std::max<size_t>(2 * capacity_, 64 << 10));
    std::unique_ptr<char[]> grown(new char[capacity]);  // uninitialised on purpose
    if (size_ > 0) memcpy(grown.get(), data_.get(), size_);
    data_ = std::move(grown);
    capacity_ = capacity;
  }
  char* at = data_.get() + size_;
  size_ += n;
  return at;
}

void Feeder::Buffer::Trim(size_t keep) {
  if (capacity_ > keep) *this = Buffer();
}

Feeder::~Feeder() {
  std::unique_lock<std::mutex> lock(mu_);
  if (thread_.joinable()) thread_.detach();  // only after Cancel(); Join() joins otherwise
}

void Feeder::Append(int slot, FrameKind kind, size_t payload_bytes,
                    absl::FunctionRef<void(char*)> encode,
                    absl::FunctionRef<std::shared_ptr<void>()> keepalive) {
  std::unique_lock<std::mutex> lock(mu_);
  slot_ = slot;
  char* frame = pending_.Append(kFrameHeaderBytes + payload_bytes);
  encode(frame + kFrameHeaderBytes);
  FrameHeader h;
  h.kind = kind;
  h.payload_bytes = static_cast<uint32_t>(payload_bytes);
  h.payload_crc = Crc32c(frame + kFrameHeaderBytes, payload_bytes);
  EncodeUnsealedHeader(h, frame);  // PipeWriter stamps the seq and seals it under the writer lock
  // Only the first frame after a swap can find the thread waiting; notify after unlocking, so it
  // does not wake into a held mutex.
  const bool was_empty = pending_count_++ == 0;
  if (was_empty && writing_count_ == 0 && WaitedSincePreviousPut()) {
    // Nothing of this handle's is queued or being written, so writing this frame now keeps the
    // order; mu_ keeps the thread and this handle's other Puts out meanwhile. Saves a thread
    // wake-up and a context switch on a queue whose consumers are waiting (pipe_writer.h).
    if (std::optional<absl::Status> written =
            writer_->TryWriteNow(slot, pending_.data(), pending_.size())) {
      WrittenHere(*written);
      return;
    }
  }
  // A full batch: write it from this thread (feeder.h). Tried once per batch, not on every later
  // Put, when it cannot be written (the thread is writing, or the pipe has no room).
  const size_t size = pending_.size();
  const size_t size_before = size - h.frame_bytes();
  const bool batch_full = pending_count_ % kSelfWriteFrames == 0 ||
                          size / kSelfWriteBytes != size_before / kSelfWriteBytes;
  if (batch_full && TryWriteLocked()) return;
  if (!started_) {
    // A thread that exited after an earlier Close() has released mu_ for good: reap it.
    if (thread_.joinable()) thread_.join();
    started_ = true;
    thread_ = std::thread(&Feeder::Run, this, keepalive());
  }
  lock.unlock();
  if (was_empty) work_cv_.notify_one();
}

void Feeder::FlushBeforeWait() {
  std::lock_guard<std::mutex> lock(mu_);
  TryWriteLocked();
}

bool Feeder::TryWriteLocked() {
  // mu_ keeps the thread from starting a batch meanwhile, so this handle's order is kept.
  if (pending_count_ == 0 || writing_count_ != 0 || cancelled_) return false;
  std::optional<absl::Status> written =
      writer_->TryWriteBatch(slot_, pending_.data(), pending_.size(), pending_count_);
  if (!written.has_value()) return false;
  WrittenHere(*written);
  return true;
}

void Feeder::WrittenHere(const absl::Status& written) {
  if (!written.ok() && error_.ok()) error_ = written;  // counted lost, as from the thread
  pending_.Clear();
  pending_count_ = 0;
}

void Feeder::Run(std::shared_ptr<void> keepalive) {
  // See feeder.h. Only from the default policy: a thread of a real-time program keeps its
  // policy (as SCHED_BATCH it could starve behind the program's own real-time threads).
  if (sched_getscheduler(0) == SCHED_OTHER) {
    const sched_param param{};
    sched_setscheduler(0, SCHED_BATCH, &param);  // on failure it stays SCHED_OTHER
  }
  std::unique_lock<std::mutex> lock(mu_);
  for (;;) {
    work_cv_.wait(lock, [this] { return pending_count_ > 0 || closing_ || cancelled_; });
    if (pending_count_ == 0 || cancelled_) break;
    writing_.swap(pending_);
    writing_count_ = std::exchange(pending_count_, 0);
    const int slot = slot_;
    lock.unlock();
    // writing_ is only touched by this thread until writing_count_ drops back to 0.
    absl::Status s = writer_->WriteBatch(slot, writing_.data(), writing_.size(), writing_count_);
    writing_.Clear();
    writing_.Trim(kKeepBufferBytes);
    lock.lock();
    if (!s.ok() && error_.ok()) error_ = s;
    writing_count_ = 0;
    idle_cv_.notify_all();
  }
  started_ = false;
  idle_cv_.notify_all();
  lock.unlock();
  keepalive.reset();
}

void Feeder::Close() {
  std::lock_guard<std::mutex> lock(mu_);
  closing_ = true;
  work_cv_.notify_one();
}

bool Feeder::WaitWrittenFor(absl::Duration timeout) {
  std::unique_lock<std::mutex> lock(mu_);
  return idle_cv_.wait_for(lock, absl::ToChronoNanoseconds(timeout),
                           [this] { return !started_ || cancelled_; });
}

absl::Status Feeder::Join() {
  std::thread thread;
  {
    std::unique_lock<std::mutex> lock(mu_);
    idle_cv_.wait(lock, [this] { return !started_ || cancelled_; });
    thread = std::move(thread_);
  }
  if (thread.joinable()) {
    if (cancelled_) {
      thread.detach();
    } else {
      thread.join();
    }
  }
  std::lock_guard<std::mutex> lock(mu_);
  return error_;
}

int64_t Feeder::Cancel() {
  std::lock_guard<std::mutex> lock(mu_);
  cancelled_ = true;
  const int64_t dropped = std::exchange(pending_count_, 0);
  pending_.Clear();
  work_cv_.notify_one();
  idle_cv_.notify_all();
  return dropped;
}

int64_t Feeder::unwritten() const {
  std::lock_guard<std::mutex> lock(mu_);
  return pending_count_ + writing_count_;
}

void Feeder::ForgetAfterFork() {
  // Runs in the child, on the thread that forked, which still holds mu_ from LockForFork. The
  // parent's feeder thread does not exist here: reset everything it could have been part of. A
  // condition variable may count that thread as a waiter, so it is rebuilt, not reused.
  new (&work_cv_) std::condition_variable();
  new (&idle_cv_) std::condition_variable();
  new (&thread_) std::thread();  // the parent's thread id is meaningless here; never join it
  pending_ = Buffer();
  writing_ = Buffer();
  pending_count_ = 0;
  writing_count_ = 0;
  slot_ = -1;
  started_ = false;
  closing_ = false;
  error_ = absl::OkStatus();
  mu_.unlock();
}

}  // namespace internal
}  // namespace channel
