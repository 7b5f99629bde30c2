#include "channel/internal/pipe/readiness.h"

#include <errno.h>
#include <string.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include <cstdint>
#include <new>
#include <system_error>

#include "absl/strings/str_cat.h"

namespace channel {
namespace internal {
namespace {

// How often the watcher looks again while a batch is being written (see readiness.h), and the
// longest it sleeps otherwise (it also wakes for Stop, which signals data_ready).
constexpr int64_t kWritingSliceNs = 1000 * 1000;
constexpr int64_t kIdleSliceNs = 500 * 1000 * 1000;

}  // namespace

absl::StatusOr<int> Readiness::Fd() {
  std::unique_lock<std::mutex> lock(mu_);
  if (fd_ >= 0) return fd_;
  const int fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
  if (fd < 0) return absl::ResourceExhaustedError(absl::StrCat("eventfd: ", strerror(errno)));
  fd_ = fd;
  if (closed_) {
    SetLocked();
    return fd_;
  }
  active_ = true;
  try {
    watcher_ = std::thread([this] { Run(); });
  } catch (const std::system_error& e) {
    active_ = false;
    close(fd_);
    fd_ = -1;
    return absl::ResourceExhaustedError(absl::StrCat("cannot start the watcher thread: ", e.what()));
  }
  // Return only once the thread runs: a fork() while a thread is still starting can leave the
  // child with a runtime's thread bookkeeping locked (seen under ASan: the child's next
  // pthread_create hung).
  cleared_.wait(lock, [this] { return started_; });
  return fd_;
}

Readiness::State Readiness::Check() const {
  const ShutDownState shut_down = accounts_.shut_down();
  if (shut_down == ShutDownState::kImmediate ||
      (shut_down == ShutDownState::kDraining && accounts_.items() <= 0)) {
    return State::kReadable;
  }
  const uint64_t next = accounts_.read_seq();  // the next item a Get would take
  if (next <= LoadRelaxed(q_->writer.done_seq)) return State::kReadable;
  if (next < LoadRelaxed(q_->writer.next_seq)) return State::kWriting;
  return State::kNothing;
}

void Readiness::Run() {
  SharedEvent& event = q_->data_ready.event;
  {
    std::lock_guard<std::mutex> lock(mu_);
    started_ = true;
  }
  cleared_.notify_all();
  for (;;) {
    {
      std::unique_lock<std::mutex> lock(mu_);
      cleared_.wait(lock, [this] { return !readable_ || stopping_; });
      if (stopping_) return;
    }
    const uint32_t snapshot = event.Snapshot();
    const State state = Check();
    if (state == State::kReadable) {
      std::lock_guard<std::mutex> lock(mu_);
      if (!stopping_) SetLocked();
      continue;
    }
    {
      std::lock_guard<std::mutex> lock(mu_);
      if (stopping_) return;
    }
    event.Wait(snapshot, state == State::kWriting ? kWritingSliceNs : kIdleSliceNs,
               /*may_spin=*/false);
  }
}

void Readiness::SetLocked() {
  if (readable_ || fd_ < 0) return;
  const uint64_t one = 1;
  if (write(fd_, &one, sizeof one) == sizeof one) readable_ = true;
}

void Readiness::Clear() {
  std::lock_guard<std::mutex> lock(mu_);
  if (!readable_ || closed_) return;
  uint64_t value;
  if (read(fd_, &value, sizeof value) == sizeof value) readable_ = false;
  cleared_.notify_all();
}

void Readiness::Closed() {
  std::thread watcher;
  {
    std::lock_guard<std::mutex> lock(mu_);
    closed_ = true;
    stopping_ = true;
    SetLocked();
    cleared_.notify_all();
    watcher.swap(watcher_);
  }
  if (watcher.joinable()) {
    q_->data_ready.event.Signal();  // the watcher may be asleep on it
    watcher.join();
  }
  active_ = false;
}

void Readiness::Stop() {
  Closed();
  std::lock_guard<std::mutex> lock(mu_);
  if (fd_ >= 0) close(fd_);
  fd_ = -1;
}

void Readiness::LockForFork() { mu_.lock(); }

void Readiness::UnlockForFork() { mu_.unlock(); }

void Readiness::ForgetAfterFork() {
  // The parent's watcher does not exist here: its std::thread must be neither joined nor
  // destroyed joinable, and the condition variable may count it as a waiter. Both are replaced
  // without running their destructors (nothing of theirs is owned in this process).
  new (&watcher_) std::thread();
  new (&cleared_) std::condition_variable();
  mu_.unlock();  // locked by LockForFork in the thread that forked, which is this one
  if (fd_ >= 0) close(fd_);
  fd_ = -1;
  readable_ = false;
  stopping_ = false;
  started_ = false;
  active_ = false;
}

}  // namespace internal
}  // namespace channel
