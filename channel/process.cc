#include "channel/process.h"

#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <condition_variable>
#include <exception>
#include <iostream>
#include <mutex>
#include <new>
#include <set>
#include <thread>
#include <utility>

#include "absl/strings/str_cat.h"
#include "channel/internal/core/deadline.h"
#include "channel/internal/core/exit_hooks.h"

namespace channel {
namespace {

// Runs in the child: never returns.
[[noreturn]] void RunChild(const std::function<int()>& target, bool daemon, pid_t parent) {
  if (daemon) {
    prctl(PR_SET_PDEATHSIG, SIGKILL);
    if (getppid() != parent) _exit(1);  // the parent died before prctl took effect
  }
  int code = 1;
  try {
    code = target();
  } catch (const std::exception& e) {
    fprintf(stderr, "channel::Process %d: target threw: %s\n", static_cast<int>(getpid()),
            e.what());
  } catch (...) {
    fprintf(stderr, "channel::Process %d: target threw a non-std exception\n",
            static_cast<int>(getpid()));
  }
  internal::FlushAllHandles();
  std::cout.flush();
  std::cerr.flush();
  fflush(nullptr);
  _exit(code);
}

// Daemon children are forked by this thread, which lives as long as the process: their
// PR_SET_PDEATHSIG then fires when the parent process dies, not when some starting thread ends.
// The spawner is per process: a forked child (which has no spawner thread) starts afresh, and
// never terminates its parent's daemons when it exits.
class DaemonSpawner {
 public:
  static DaemonSpawner& Get() {
    static DaemonSpawner* spawner = new DaemonSpawner;  // leaked: lives until the process ends
    return *spawner;
  }

  // Forks on the spawner thread; returns the child's pid or -errno.
  pid_t Spawn(const std::function<int()>* target) {
    std::unique_lock<std::mutex> lock(mu_);
    if (!running_) {
      running_ = true;
      std::thread(&DaemonSpawner::Loop, this).detach();
    }
    done_cv_.wait(lock, [this] { return request_ == nullptr; });
    request_ = target;
    result_ready_ = false;
    work_cv_.notify_one();
    done_cv_.wait(lock, [this] { return result_ready_; });
    const pid_t pid = result_;
    request_ = nullptr;
    done_cv_.notify_all();
    return pid;
  }

  void Track(pid_t pid) {
    std::lock_guard<std::mutex> lock(mu_);
    live_.insert(pid);
  }
  void Untrack(pid_t pid) {
    std::lock_guard<std::mutex> lock(mu_);
    live_.erase(pid);
  }

 private:
  DaemonSpawner() : owner_(getpid()) {
    atexit([] { Get().TerminateAll(); });
    pthread_atfork([] { Get().mu_.lock(); }, [] { Get().mu_.unlock(); },
                   [] { Get().ForgetAfterFork(); });
  }

  void Loop() {
    std::unique_lock<std::mutex> lock(mu_);
    for (;;) {
      work_cv_.wait(lock, [this] { return request_ != nullptr && !result_ready_; });
      const std::function<int()>* target = request_;
      const pid_t parent = getpid();
      lock.unlock();
      const pid_t pid = fork();
      if (pid == 0) RunChild(*target, /*daemon=*/true, parent);
      lock.lock();
      result_ = pid < 0 ? -errno : pid;
      result_ready_ = true;
      done_cv_.notify_all();
    }
  }

  // In a forked child, on the forking thread, which holds mu_ (atfork prepare).
  void ForgetAfterFork() {
    new (&work_cv_) std::condition_variable();  // may count the parent's spawner thread
    new (&done_cv_) std::condition_variable();
    running_ = false;
    request_ = nullptr;
    result_ready_ = false;
    live_.clear();  // the parent's daemons are not this process's to terminate
    owner_ = getpid();
    mu_.unlock();
  }

  // At normal exit, as CPython does: SIGTERM every daemon, then give them a moment to finish
  // (up to a second in all) before this process's death SIGKILLs the rest (PR_SET_PDEATHSIG).
  void TerminateAll() {
    std::set<pid_t> live;
    {
      std::lock_guard<std::mutex> lock(mu_);
      if (getpid() != owner_) return;
      live = live_;
    }
    for (pid_t pid : live) kill(pid, SIGTERM);
    const internal::Deadline deadline = internal::Deadline::After(absl::Seconds(1));
    for (pid_t pid : live) {
      const int pidfd = static_cast<int>(syscall(SYS_pidfd_open, pid, 0));
      if (pidfd < 0) continue;
      pollfd p{pidfd, POLLIN, 0};
      poll(&p, 1, static_cast<int>(deadline.RemainingNanos() / 1000000));
      close(pidfd);
    }
  }

  std::mutex mu_;
  std::condition_variable work_cv_;
  std::condition_variable done_cv_;
  bool running_ = false;
  const std::function<int()>* request_ = nullptr;
  bool result_ready_ = false;
  pid_t result_ = 0;
  pid_t owner_;
  std::set<pid_t> live_;
};

int DecodeWaitStatus(int status) {
  if (WIFEXITED(status)) return WEXITSTATUS(status);
  if (WIFSIGNALED(status)) return -WTERMSIG(status);
  return -1;
}

}  // namespace

struct Process::State {
  std::function<int()> target;
  bool daemon = false;
  mutable std::mutex mu;
  pid_t pid = 0;
  int pidfd = -1;
  bool reaped = false;
  int exit_code = 0;

  // With mu held. True once the child has been waited for.
  bool TryReap() {
    if (reaped) return true;
    int status = 0;
    const pid_t r = waitpid(pid, &status, WNOHANG);
    if (r == pid) {
      reaped = true;
      exit_code = DecodeWaitStatus(status);
    } else if (r < 0 && errno == ECHILD) {
      reaped = true;  // somebody else reaped it (SIGCHLD ignored): the code is unknowable
      exit_code = -1;
    }
    if (reaped) {
      if (pidfd >= 0) close(pidfd);
      pidfd = -1;
      if (daemon) DaemonSpawner::Get().Untrack(pid);
    }
    return reaped;
  }
};

Process::Process(std::function<int()> target, PrivateTag) : state_(std::make_unique<State>()) {
  state_->target = std::move(target);
}

Process::Process(Process&& other) noexcept = default;

Process& Process::operator=(Process&& other) noexcept {
  if (this != &other) {
    Finish();
    state_ = std::move(other.state_);
  }
  return *this;
}

Process::~Process() { Finish(); }

void Process::Finish() {
  if (state_ == nullptr) return;
  bool running;
  bool daemon;
  {
    std::lock_guard<std::mutex> lock(state_->mu);
    running = state_->pid != 0 && !state_->TryReap();
    daemon = state_->daemon;
  }
  if (!running) return;
  if (daemon) {
    Terminate().IgnoreError();
    if (!Join(absl::Seconds(5)).ok()) Kill().IgnoreError();
  }
  Join().IgnoreError();
}

Process& Process::set_daemon(bool daemon) {
  if (state_ == nullptr) return *this;  // moved from
  std::lock_guard<std::mutex> lock(state_->mu);
  if (state_->pid == 0) state_->daemon = daemon;
  return *this;
}

absl::Status Process::Start() {
  if (state_ == nullptr) return absl::FailedPreconditionError("this Process was moved from");
  std::lock_guard<std::mutex> lock(state_->mu);
  if (state_->pid != 0) return absl::FailedPreconditionError("the process was already started");
  // As CPython does: what this process buffered must not be printed again by the child.
  std::cout.flush();
  std::cerr.flush();
  fflush(nullptr);
  pid_t pid;
  if (state_->daemon) {
    pid = DaemonSpawner::Get().Spawn(&state_->target);
  } else {
    const pid_t parent = getpid();
    pid = fork();
    if (pid == 0) RunChild(state_->target, /*daemon=*/false, parent);
    if (pid < 0) pid = -errno;
  }
  if (pid < 0) {
    return absl::ResourceExhaustedError(absl::StrCat("fork: ", strerror(-pid)));
  }
  state_->pid = pid;
  if (state_->daemon) DaemonSpawner::Get().Track(pid);
  state_->pidfd = static_cast<int>(syscall(SYS_pidfd_open, pid, 0));
  return absl::OkStatus();
}

absl::StatusOr<int> Process::Join(absl::Duration timeout) {
  if (state_ == nullptr) return absl::FailedPreconditionError("this Process was moved from");
  const internal::Deadline deadline = internal::Deadline::After(timeout);
  for (;;) {
    int pidfd;
    {
      std::lock_guard<std::mutex> lock(state_->mu);
      if (state_->pid == 0) {
        return absl::FailedPreconditionError("Join() before Start()");
      }
      if (state_->TryReap()) return state_->exit_code;
      pidfd = state_->pidfd;
    }
    if (deadline.expired()) {
      return absl::DeadlineExceededError(
          absl::StrCat("process ", state_->pid, " is still running; ",
                       internal::DescribeWait(deadline, "Join")));
    }
    // The pidfd becomes readable when the child exits. Without one (kernels before 5.3), check
    // every 10 ms.
    const int64_t cap_ms = pidfd >= 0 ? 1000 : 10;
    const int ms = static_cast<int>((deadline.RemainingNanos(cap_ms * 1000000) + 999999) / 1000000);
    if (pidfd >= 0) {
      pollfd p{pidfd, POLLIN, 0};
      poll(&p, 1, ms);
    } else {
      usleep(static_cast<useconds_t>(ms) * 1000);
    }
  }
}

pid_t Process::pid() const {
  if (state_ == nullptr) return 0;
  std::lock_guard<std::mutex> lock(state_->mu);
  return state_->pid;
}

bool Process::is_alive() const {
  if (state_ == nullptr) return false;
  std::lock_guard<std::mutex> lock(state_->mu);
  return state_->pid != 0 && !state_->TryReap();
}

absl::Status Process::Terminate() { return Signal(SIGTERM, "Terminate"); }

absl::Status Process::Kill() { return Signal(SIGKILL, "Kill"); }

absl::Status Process::Signal(int signo, const char* method) {
  if (state_ == nullptr) return absl::FailedPreconditionError("this Process was moved from");
  std::lock_guard<std::mutex> lock(state_->mu);
  if (state_->pid == 0) {
    return absl::FailedPreconditionError(absl::StrCat(method, "() before Start()"));
  }
  // Reaped means the pid may already belong to another process: nothing is sent.
  if (state_->TryReap()) return absl::OkStatus();
  if (kill(state_->pid, signo) != 0 && errno != ESRCH) {
    return absl::InternalError(absl::StrCat("kill(", state_->pid, ", ", strsignal(signo),
                                            "): ", strerror(errno)));
  }
  return absl::OkStatus();
}

}  // namespace channel
