// Helpers shared by the cross-process tests: message builders, child processes, bounded waits.
#ifndef TESTS_TEST_UTIL_H_
#define TESTS_TEST_UTIL_H_

#include <signal.h>
#include <stdlib.h>
#include <sys/syscall.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <poll.h>
#include <unistd.h>

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include <capnp/message.h>

#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "channel/channel.h"
#include "gtest/gtest.h"
#include "schema/demo.capnp.h"

namespace channel_test {

// A demo::Job message whose id and payload identify it.
struct JobMessage {
  capnp::MallocMessageBuilder builder;
  explicit JobMessage(uint64_t id, const std::string& payload = "", size_t data_bytes = 0) {
    auto job = builder.initRoot<demo::Job>();
    job.setId(id);
    job.setPayload(payload);
    if (data_bytes > 0) {
      auto data = job.initData(data_bytes);
      for (size_t i = 0; i < data_bytes; ++i) data[i] = static_cast<uint8_t>((id * 131 + i) & 0xff);
    }
  }
};

// True when `data` is what JobMessage(id, _, data.size()) wrote.
inline bool DataMatches(uint64_t id, capnp::Data::Reader data) {
  for (size_t i = 0; i < data.size(); ++i) {
    if (data[i] != static_cast<uint8_t>((id * 131 + i) & 0xff)) return false;
  }
  return true;
}

// fork() running `body` in the child, which then _exit()s with its result: queues are NOT
// flushed at that exit (body calls exit() itself, or uses channel::Process, to get the flush).
inline pid_t ForkChild(const std::function<int()>& body) {
  const pid_t pid = fork();
  if (pid == 0) _exit(body());
  return pid;
}

// Waits (bounded) for a child; returns its exit code, -signal, or -1000 on timeout.
inline int WaitChild(pid_t pid, absl::Duration timeout = absl::Seconds(60)) {
  const int pidfd = static_cast<int>(syscall(SYS_pidfd_open, pid, 0));
  const absl::Time deadline = absl::Now() + timeout;
  for (;;) {
    int status = 0;
    const pid_t r = waitpid(pid, &status, WNOHANG);
    if (r == pid) {
      if (pidfd >= 0) close(pidfd);
      return WIFEXITED(status) ? WEXITSTATUS(status) : -WTERMSIG(status);
    }
    if (absl::Now() >= deadline) {
      kill(pid, SIGKILL);
      waitpid(pid, &status, 0);
      if (pidfd >= 0) close(pidfd);
      return -1000;
    }
    pollfd p{pidfd, POLLIN, 0};
    poll(&p, 1, 100);
  }
}

// Path of a data dependency, e.g. Runfile("examples/heterogeneous/producer").
inline std::string Runfile(const std::string& path) {
  const char* dir = getenv("TEST_SRCDIR");
  return std::string(dir != nullptr ? dir : ".") + "/typed_channel/" + path;
}

// Starts `argv[0]` with exec (a separate program, not a fork of this one), its stdout going into
// a pipe whose read end is returned in *stdout_fd.
inline pid_t Spawn(const std::vector<std::string>& argv, int* stdout_fd) {
  int out[2];
  if (pipe(out) != 0) return -1;
  const pid_t pid = fork();
  if (pid == 0) {
    dup2(out[1], 1);
    close(out[0]);
    close(out[1]);
    std::vector<char*> args;
    for (const std::string& a : argv) args.push_back(const_cast<char*>(a.c_str()));
    args.push_back(nullptr);
    execv(args[0], args.data());
    _exit(127);
  }
  close(out[1]);
  *stdout_fd = out[0];
  return pid;
}

// Reads until EOF (the writer exited) or the timeout.
inline std::string ReadAll(int fd, absl::Duration timeout = absl::Seconds(60)) {
  std::string text;
  const absl::Time deadline = absl::Now() + timeout;
  char buf[4096];
  for (;;) {
    const absl::Duration left = deadline - absl::Now();
    if (left <= absl::ZeroDuration()) break;
    pollfd p{fd, POLLIN, 0};
    if (poll(&p, 1, static_cast<int>(absl::ToInt64Milliseconds(left)) + 1) <= 0) continue;
    const ssize_t n = read(fd, buf, sizeof buf);
    if (n <= 0) break;
    text.append(buf, static_cast<size_t>(n));
  }
  close(fd);
  return text;
}

inline void KillAndReap(pid_t pid) {
  kill(pid, SIGKILL);
  int status;
  waitpid(pid, &status, 0);
}

// Polls `done` until true or the timeout passes: for observable state that has no event to wait
// on (e.g. a counter repaired by another process's reaper).
inline bool Eventually(const std::function<bool()>& done,
                       absl::Duration timeout = absl::Seconds(20)) {
  const absl::Time deadline = absl::Now() + timeout;
  while (!done()) {
    if (absl::Now() >= deadline) return false;
    absl::SleepFor(absl::Milliseconds(20));
  }
  return true;
}

// A queue of demo::Job for a test (fails the test if it cannot be created).
template <typename Q = channel::Queue<demo::Job>>
Q MakeQueue(int64_t maxsize = 0, size_t max_message_bytes = 64 << 20) {
  channel::QueueOptions options;
  options.maxsize = maxsize;
  options.max_message_bytes = max_message_bytes;
  auto q = Q::Create(options);
  EXPECT_TRUE(q.ok()) << q.status();
  return *std::move(q);
}

// The id of the next item, or ~0 (and a test failure) if none came in time.
template <typename Q>
uint64_t GetId(Q& q, absl::Duration timeout = absl::Seconds(30)) {
  auto m = q.Get(timeout);
  EXPECT_TRUE(m.ok()) << m.status();
  return m.ok() ? (*m)->getId() : ~uint64_t{0};
}

// "The child got this far": one byte over a pipe, awaited with a bound.
class ReadySignal {
 public:
  ReadySignal() {
    if (pipe(fds_) != 0) fds_[0] = fds_[1] = -1;
  }
  ~ReadySignal() {
    close(fds_[0]);
    close(fds_[1]);
  }
  ReadySignal(const ReadySignal&) = delete;
  ReadySignal& operator=(const ReadySignal&) = delete;

  void Notify(char c = 'r') const {
    if (write(fds_[1], &c, 1) != 1) _exit(99);
  }
  // The byte sent, or 0 if nothing came within the timeout.
  char Wait(absl::Duration timeout = absl::Seconds(60)) const {
    pollfd p{fds_[0], POLLIN, 0};
    char c = 0;
    if (poll(&p, 1, static_cast<int>(absl::ToInt64Milliseconds(timeout))) == 1 &&
        read(fds_[0], &c, 1) == 1) {
      return c;
    }
    return 0;
  }

 private:
  int fds_[2];
};

// Forks a producer that puts `count` items of `bytes` bytes of data (ids 0..count-1), signals
// `ready`, and waits to be killed. Items of 1 MiB or more cannot all fit in the pipe, so at the
// kill its feeder is stuck in the middle of a write.
template <typename Q>
pid_t StartProducerThenHang(Q& q, int count, size_t bytes, const ReadySignal& ready) {
  return ForkChild([&q, count, bytes, &ready] {
    for (int i = 0; i < count; ++i) {
      JobMessage m(i, "", bytes);
      if (!q.Put(m.builder).ok()) return 1;
    }
    ready.Notify();
    pause();
    return 0;
  });
}

}  // namespace channel_test

#endif  // TESTS_TEST_UTIL_H_
