// Unit tests of process liveness (liveness.h): by pid + start time (self, live child, zombie,
// reaped, recycled-pid emulation), and /proc parsing with hostile command names.
#include "channel/internal/shm/liveness.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include "channel/internal/testing/test_util.h"

namespace channel {
namespace internal {
namespace {

using ::channel::testing::ExpectExitCode;
using ::channel::testing::ForkChild;
using ::channel::testing::KillAndReap;
using ::channel::testing::ReadValue;
using ::channel::testing::TestPipe;
using ::channel::testing::WaitExited;
using ::channel::testing::WriteValue;

// A child that reports and then blocks until killed (or until its pipe closes).
struct Sleeper {
  pid_t pid = -1;
  TestPipe ready, hold;
  Sleeper() {
    const int ready_w = ready.w, hold_r = hold.r;
    pid = ForkChild([=] {
      WriteValue(ready_w, char{'r'});
      char c;
      ReadValue(hold_r, &c, absl::Seconds(120));
      return 0;
    });
    char c;
    if (pid <= 0 || !ReadValue(ready.r, &c)) pid = -1;
  }
  ~Sleeper() { KillAndReap(pid); }
};

TEST(LivenessTest, SelfIsAlive) {
  const uint64_t start = ProcessStartTime(getpid());
  EXPECT_GT(start, 0u);
  EXPECT_EQ(ProcessStartTime(getpid()), start) << "stable";
  EXPECT_TRUE(ProcessAlive(getpid(), start));
  EXPECT_TRUE(ProcessAlive(getpid(), 0)) << "start time 0 means unknown: pid alone decides";
}

TEST(LivenessTest, WrongStartTimeIsDead) {
  const uint64_t start = ProcessStartTime(getpid());
  EXPECT_FALSE(ProcessAlive(getpid(), start + 1));
  EXPECT_FALSE(ProcessAlive(getpid(), start - 1));
}

TEST(LivenessTest, InvalidPidsAreDead) {
  EXPECT_FALSE(ProcessAlive(0, 0));
  EXPECT_FALSE(ProcessAlive(-1, 0));
  EXPECT_FALSE(ProcessAlive(-12345, 0));
  EXPECT_EQ(ProcessStartTime(-1), 0u);
  EXPECT_EQ(ProcessStartTime(0), 0u);
}

TEST(LivenessTest, LiveChildIsAliveWithItsStartTime) {
  Sleeper child;
  ASSERT_GT(child.pid, 0);
  const uint64_t start = ProcessStartTime(child.pid);
  EXPECT_GT(start, 0u);
  EXPECT_GE(start, ProcessStartTime(getpid()));
  EXPECT_TRUE(ProcessAlive(child.pid, start));
  EXPECT_TRUE(ProcessAlive(child.pid, 0));
  EXPECT_FALSE(ProcessAlive(child.pid, start + 1000)) << "a recycled pid: another process";
}

TEST(LivenessTest, ZombieIsDeadThenReapedIsDead) {
  Sleeper child;
  ASSERT_GT(child.pid, 0);
  const pid_t pid = child.pid;
  const uint64_t start = ProcessStartTime(pid);
  ASSERT_GT(start, 0u);
  ASSERT_EQ(kill(pid, SIGKILL), 0);
  ASSERT_TRUE(WaitExited(pid, absl::Seconds(30)));
  // Exited, not reaped: a zombie. kill(pid, 0) still succeeds for it.
  siginfo_t info{};
  ASSERT_EQ(waitid(P_PID, static_cast<id_t>(pid), &info, WEXITED | WNOHANG | WNOWAIT), 0);
  ASSERT_EQ(info.si_pid, pid) << "the child should be waitable (a zombie)";
  EXPECT_EQ(kill(pid, 0), 0) << "zombies still accept signal 0";
  EXPECT_FALSE(ProcessAlive(pid, start));
  EXPECT_FALSE(ProcessAlive(pid, 0));
  // Reaped: gone.
  ASSERT_NO_FATAL_FAILURE(ExpectExitCode(pid, -SIGKILL));
  child.pid = -1;
  EXPECT_FALSE(ProcessAlive(pid, start));
  EXPECT_FALSE(ProcessAlive(pid, 0));
  EXPECT_EQ(ProcessStartTime(pid), 0u);
}

TEST(LivenessTest, ALiveProcessIsNotTakenForDeadWhenProcCannotBeRead) {
  Sleeper child;
  ASSERT_GT(child.pid, 0);
  const pid_t pid = child.pid;
  const uint64_t start = ProcessStartTime(pid);
  ASSERT_GT(start, 0u);
  // In a helper process with no file descriptor left, /proc/<pid>/stat cannot be opened.
  const pid_t helper = ForkChild([pid, start] {
    while (open("/dev/null", O_RDONLY) >= 0) {
    }
    if (errno != EMFILE) return 2;
    return ProcessAlive(pid, start) ? 0 : 1;
  });
  ASSERT_GT(helper, 0);
  ASSERT_NO_FATAL_FAILURE(ExpectExitCode(helper, 0));
}

TEST(LivenessTest, ExitedAndReapedIsDead) {
  const pid_t pid = ForkChild([] { return 0; });
  ASSERT_GT(pid, 0);
  ASSERT_NO_FATAL_FAILURE(ExpectExitCode(pid, 0));
  EXPECT_FALSE(ProcessAlive(pid, 0));
  EXPECT_FALSE(ProcessAlive(pid, 12345));
}

TEST(LivenessTest, StartTimeParsingSurvivesHostileCommandNames) {
  // /proc/<pid>/stat's second field is the command name in parentheses, which may contain
  // spaces and parentheses; the parser must take fields after the *last* ')'.
  for (const char* name : {") ) 1 2 3 4 5", "a b (c) d", "x)", ")(", "          )"}) {
    TestPipe go, ready, hold;
    const int go_r = go.r, ready_w = ready.w, hold_r = hold.r;
    const pid_t pid = ForkChild([=] {
      char c;
      if (!ReadValue(go_r, &c)) return 2;
      prctl(PR_SET_NAME, name, 0, 0, 0);
      WriteValue(ready_w, char{'r'});
      ReadValue(hold_r, &c, absl::Seconds(120));
      return 0;
    });
    ASSERT_GT(pid, 0);
    const uint64_t before = ProcessStartTime(pid);  // ordinary name
    ASSERT_GT(before, 0u);
    ASSERT_TRUE(WriteValue(go.w, char{'g'}));
    char c;
    ASSERT_TRUE(ReadValue(ready.r, &c));
    EXPECT_EQ(ProcessStartTime(pid), before) << "name \"" << name << "\"";
    EXPECT_TRUE(ProcessAlive(pid, before)) << "name \"" << name << "\"";
    KillAndReap(pid);
    EXPECT_FALSE(ProcessAlive(pid, before));
  }
}

}  // namespace
}  // namespace internal
}  // namespace channel
