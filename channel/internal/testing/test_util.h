// Test-only helpers shared by the unit tests in this directory (not part of the library; the
// BUILD target is testonly). Real processes: fork, kill, bounded waits on pidfds.
//
// Rules the helpers follow, so the tests stay deterministic on a loaded machine:
// - every wait is bounded by an explicit timeout and waits on the thing itself (a pidfd, a pipe),
//   never by sleeping a guessed amount;
// - a forked child never returns into GoogleTest: it runs its function and _exit()s.
#ifndef CHANNEL_INTERNAL_TESTING_TEST_UTIL_H_
#define CHANNEL_INTERNAL_TESTING_TEST_UTIL_H_

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdint>
#include <cstdlib>
#include <functional>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include <gtest/gtest.h>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/string_view.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "channel/internal/shm/accounts.h"
#include "channel/internal/wire/crc32c.h"
#include "channel/internal/core/deadline.h"
#include "channel/internal/wire/frame.h"
#include "channel/internal/pipe/pipe_queue.h"
#include "channel/internal/pipe/pipe_reader.h"
#include "channel/internal/shm/shared_state.h"

namespace channel {
namespace testing {

// A pidfd for `pid` (any process, not only children), or -1 if the kernel has none.
inline int PidfdOpen(pid_t pid) {
#ifdef SYS_pidfd_open
  return static_cast<int>(syscall(SYS_pidfd_open, pid, 0));
#else
  errno = ENOSYS;
  return -1;
#endif
}

// Waits until `fd` is readable, at most `timeout`. True if it is.
inline bool PollReadable(int fd, absl::Duration timeout) {
  const internal::Deadline deadline = internal::Deadline::After(timeout);
  for (;;) {
    pollfd p{fd, POLLIN, 0};
    const int ms = static_cast<int>((deadline.RemainingNanos() + 999999) / 1000000);
    const int rc = poll(&p, 1, ms);
    if (rc > 0) return true;
    if (rc < 0 && errno == EINTR) continue;
    if (deadline.expired() || rc == 0) return rc > 0;
  }
}

// The state letter of `pid` in /proc/PID/stat ('R', 'S', 'Z'...); '\0' when it is gone.
inline char ProcessState(pid_t pid) {
  char path[64];
  snprintf(path, sizeof path, "/proc/%d/stat", static_cast<int>(pid));
  FILE* f = fopen(path, "r");
  if (f == nullptr) return '\0';
  char buf[512] = {};
  const size_t n = fread(buf, 1, sizeof buf - 1, f);
  fclose(f);
  const char* p = n > 0 ? strrchr(buf, ')') : nullptr;
  return p != nullptr && p[1] == ' ' ? p[2] : '\0';
}

// Waits (bounded) until `pid` has exited: it is a zombie or gone. Works for any process.
inline bool WaitExited(pid_t pid, absl::Duration timeout) {
  const int pidfd = PidfdOpen(pid);
  if (pidfd < 0) {
    if (errno == ESRCH) return true;
    // No pidfd support: fall back to polling liveness (kill(0) sees zombies as alive, so also
    // check /proc state).
    const internal::Deadline deadline = internal::Deadline::After(timeout);
    for (;;) {
      if (kill(pid, 0) != 0 && errno == ESRCH) return true;
      const char state = ProcessState(pid);
      if (state == '\0' || state == 'Z' || state == 'X') return true;
      if (deadline.expired()) return false;
      usleep(1000);
    }
  }
  const bool exited = PollReadable(pidfd, timeout);
  close(pidfd);
  return exited;
}

// Decodes a wait status the way channel::Process does: exit code, or -signal.
inline int DecodeStatus(int status) {
  if (WIFEXITED(status)) return WEXITSTATUS(status);
  if (WIFSIGNALED(status)) return -WTERMSIG(status);
  return -1000;
}

// Waits for (and reaps) a child: its exit code, or -N if killed by signal N.
// kDeadlineExceeded if it is still running after `timeout` (it is left running).
inline absl::StatusOr<int> WaitChild(pid_t pid, absl::Duration timeout) {
  if (!WaitExited(pid, timeout)) {
    return absl::DeadlineExceededError(absl::StrCat("child ", pid, " still running"));
  }
  int status = 0;
  pid_t r;
  do {
    r = waitpid(pid, &status, 0);  // it has exited: returns at once
  } while (r < 0 && errno == EINTR);
  if (r != pid) return absl::InternalError(absl::StrCat("waitpid: ", strerror(errno)));
  return DecodeStatus(status);
}

// Waits (bounded) for child `pid` and expects it to end with `code` (-N: killed by signal N).
// A fatal failure if it does not end in time: call it inside ASSERT_NO_FATAL_FAILURE when the
// test must stop there.
inline void ExpectExitCode(pid_t pid, int code, absl::Duration timeout = absl::Seconds(30)) {
  absl::StatusOr<int> got = WaitChild(pid, timeout);
  ASSERT_TRUE(got.ok()) << got.status();
  EXPECT_EQ(*got, code);
}

// SIGKILLs and reaps a child (cleanup path; bounded).
// Cap'n Proto pointer words, for hand-made (and hostile) messages.
inline uint64_t StructPtr(int32_t offset, uint16_t data_words, uint16_t pointers) {
  return (static_cast<uint64_t>(static_cast<uint32_t>(offset) << 2)) |
         (static_cast<uint64_t>(data_words) << 32) | (static_cast<uint64_t>(pointers) << 48);
}
inline uint64_t ListPtr(int32_t offset, uint8_t element_size, uint32_t count) {
  return 1 | (static_cast<uint64_t>(static_cast<uint32_t>(offset) << 2)) |
         (static_cast<uint64_t>(element_size) << 32) | (static_cast<uint64_t>(count) << 35);
}

inline void KillAndReap(pid_t pid) {
  if (pid <= 0) return;
  kill(pid, SIGKILL);
  WaitChild(pid, absl::Seconds(30)).IgnoreError();
}

// Forks; the child runs `fn` and _exit()s with its result. Never returns in the child.
inline pid_t ForkChild(const std::function<int()>& fn) {
  const pid_t pid = fork();
  if (pid == 0) {
    int code = 1;
    code = fn();
    _exit(code);
  }
  return pid;
}

// A pipe with RAII ends.
struct TestPipe {
  int r = -1;
  int w = -1;
  TestPipe() {
    int fds[2];
    if (pipe2(fds, O_CLOEXEC) == 0) {
      r = fds[0];
      w = fds[1];
    }
  }
  ~TestPipe() {
    CloseRead();
    CloseWrite();
  }
  TestPipe(const TestPipe&) = delete;
  TestPipe& operator=(const TestPipe&) = delete;
  void CloseRead() {
    if (r >= 0) close(r);
    r = -1;
  }
  void CloseWrite() {
    if (w >= 0) close(w);
    w = -1;
  }
};

inline bool WriteFull(int fd, const void* data, size_t n) {
  const char* p = static_cast<const char*>(data);
  while (n > 0) {
    const ssize_t k = write(fd, p, n);
    if (k < 0 && errno == EINTR) continue;
    if (k <= 0) return false;
    p += k;
    n -= static_cast<size_t>(k);
  }
  return true;
}

// Reads exactly n bytes within `timeout` (the fd may be blocking or not). False on EOF/timeout.
inline bool ReadFull(int fd, void* data, size_t n, absl::Duration timeout) {
  const internal::Deadline deadline = internal::Deadline::After(timeout);
  char* p = static_cast<char*>(data);
  while (n > 0) {
    if (!PollReadable(fd, absl::Nanoseconds(deadline.RemainingNanos()))) return false;
    const ssize_t k = read(fd, p, n);
    if (k < 0 && (errno == EINTR || errno == EAGAIN)) continue;
    if (k <= 0) return false;
    p += k;
    n -= static_cast<size_t>(k);
  }
  return true;
}

template <typename U>
bool WriteValue(int fd, const U& v) {
  return WriteFull(fd, &v, sizeof v);
}
template <typename U>
bool ReadValue(int fd, U* v, absl::Duration timeout = absl::Seconds(30)) {
  return ReadFull(fd, v, sizeof *v, timeout);
}

// An anonymous SharedQueue on a memfd, as PipeQueue::CreateAnonymous makes it.
inline absl::StatusOr<internal::SharedMapping> MakeSharedQueue(
    uint64_t max_message_bytes = 1 << 16, int64_t maxsize = 0,
    internal::QueueKind kind = internal::QueueKind::kJoinableQueue) {
  const int fd = memfd_create("typed_channel_test", MFD_CLOEXEC);
  if (fd < 0) return absl::InternalError(absl::StrCat("memfd_create: ", strerror(errno)));
  internal::QueueIdentity identity;
  identity.kind = kind;
  identity.type_id = 0x1234;
  identity.type_name = "test:Payload";
  internal::QueueShape shape;
  shape.maxsize = maxsize;
  shape.max_message_bytes = max_message_bytes;
  absl::StatusOr<internal::SharedMapping> m =
      internal::SharedMapping::Create(fd, identity, shape);
  close(fd);
  return m;
}

// A complete item frame (header + payload) as a feeder + writer would produce it.
inline std::string ItemFrame(uint64_t seq, absl::string_view payload) {
  internal::FrameHeader h;
  h.kind = internal::FrameKind::kItem;
  h.seq = seq;
  h.payload_bytes = static_cast<uint32_t>(payload.size());
  h.payload_crc = internal::Crc32c(payload.data(), payload.size());
  std::string out(internal::kFrameHeaderBytes, '\0');
  internal::EncodeHeader(h, &out[0]);
  out.append(payload.data(), payload.size());
  return out;
}

inline std::string TombstoneFrame(uint64_t seq) {
  internal::FrameHeader h;
  h.kind = internal::FrameKind::kTombstone;
  h.seq = seq;
  std::string out(internal::kFrameHeaderBytes, '\0');
  internal::EncodeHeader(h, &out[0]);
  return out;
}

// A payload of `bytes` (multiple of 8) bytes that encodes `id`, so content is checkable.
inline std::string TestPayload(uint64_t id, size_t bytes = 16) {
  std::string p(bytes, '\0');
  for (size_t i = 0; i < bytes; ++i) p[i] = static_cast<char>((id * 131 + i * 7) & 0xff);
  if (bytes >= 8) memcpy(&p[0], &id, 8);
  return p;
}

// Path of a runfile of this workspace (a `data` dependency of the test).
inline std::string RunfilePath(const std::string& workspace_relative) {
  const char* srcdir = getenv("TEST_SRCDIR");
  const char* ws = getenv("TEST_WORKSPACE");
  return std::string(srcdir != nullptr ? srcdir : ".") + "/" +
         (ws != nullptr ? ws : "typed_channel") + "/" + workspace_relative;
}

// Fork + exec of `path` with `args` (argv[1..]); each fds[i] is passed as descriptor 100 + i
// (its number is what the program is told). Returns the child's pid.
inline pid_t SpawnProgram(const std::string& path, std::vector<std::string> args,
                          const std::vector<int>& fds) {
  for (size_t i = 0; i < fds.size(); ++i) args.push_back(std::to_string(100 + i));
  const pid_t pid = fork();
  if (pid == 0) {
    for (size_t i = 0; i < fds.size(); ++i) {
      if (dup2(fds[i], static_cast<int>(100 + i)) < 0) _exit(126);
    }
    std::vector<char*> argv;
    argv.push_back(const_cast<char*>(path.c_str()));
    for (std::string& a : args) argv.push_back(&a[0]);
    argv.push_back(nullptr);
    execv(path.c_str(), argv.data());
    _exit(127);
  }
  return pid;
}

// Leaves `mu` in the state a holder killed inside its critical section leaves: a forked child
// locks it and exits without unlocking (its word then names a dead process). True on success.
inline bool MakeOwnerDead(internal::RobustMutex* mu) {
  const pid_t pid = ForkChild([mu] {
    absl::StatusOr<internal::RobustMutex::Acquired> r = mu->Lock(internal::Deadline::Never());
    return r.ok() ? 0 : 3;
  });
  if (pid < 0) return false;
  absl::StatusOr<int> code = WaitChild(pid, absl::Seconds(30));
  return code.ok() && *code == 0;
}

// Fixture: an anonymous SharedQueue (q_) of 4 KiB messages, as MakeSharedQueue makes it.
class SharedQueueTest : public ::testing::Test {
 protected:
  void SetUp() override { MapQueue(4096); }

  // Replaces q_ by a fresh queue of messages of at most `max_message_bytes`.
  void MapQueue(uint64_t max_message_bytes) {
    absl::StatusOr<internal::SharedMapping> m = MakeSharedQueue(max_message_bytes);
    ASSERT_TRUE(m.ok()) << m.status();
    mapping_ = *std::move(m);
    q_ = mapping_.get();
  }

  internal::Ledger L() const { return internal::Accounts(q_).Snapshot(); }

  internal::SharedMapping mapping_;
  internal::SharedQueue* q_ = nullptr;
};

// Fixture: the reading side of a PipeQueue: a SharedQueue (64 KiB messages unless a test calls
// Init again), a real pipe (pipe_) and a PipeReader on it (reader_).
class PipeQueueTest : public SharedQueueTest {
 protected:
  void SetUp() override { Init(1 << 16); }
  void TearDown() override { ClosePipe(); }

  // Closes what there is, then makes a new queue, pipe and reader.
  void Init(uint64_t max_message_bytes) {
    ClosePipe();
    ASSERT_NO_FATAL_FAILURE(MapQueue(max_message_bytes));
    absl::StatusOr<internal::PipeEnds> p = internal::MakePipe();
    ASSERT_TRUE(p.ok()) << p.status();
    pipe_ = *p;
    reader_ = std::make_unique<internal::PipeReader>(q_, pipe_.read_fd);
  }
  void ClosePipe() {
    reader_.reset();
    if (pipe_.read_fd >= 0) close(pipe_.read_fd);
    if (pipe_.write_fd >= 0) close(pipe_.write_fd);
    pipe_ = internal::PipeEnds{};
  }

  internal::PipeEnds pipe_;
  std::unique_ptr<internal::PipeReader> reader_;
};

}  // namespace testing
}  // namespace channel

#endif  // CHANNEL_INTERNAL_TESTING_TEST_UTIL_H_
