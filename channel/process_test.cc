// Tests of channel::Process (process.h) with real children: exit codes and signals (Terminate,
// Kill), targets of every accepted shape (int or void result), timeouts, preconditions, moves, exceptions in the target, daemon semantics (handle destruction, normal
// parent exit, parent SIGKILLed after starting the daemon from a thread that then exited), and
// the child flushing its queue items before it exits.
#include "channel/process.h"

#include <poll.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <stdexcept>
#include <string>
#include <thread>

#include <capnp/message.h>
#include <gtest/gtest.h>

#include "channel/channel.h"
#include "channel/internal/testing/test_util.h"
#include "schema/demo.capnp.h"

namespace channel {
namespace {

using ::channel::testing::ForkChild;
using ::channel::testing::KillAndReap;
using ::channel::testing::PollReadable;
using ::channel::testing::ReadValue;
using ::channel::testing::TestPipe;
using ::channel::testing::WaitChild;
using ::channel::testing::WaitExited;
using ::channel::testing::WriteValue;

constexpr absl::Duration kLong = absl::Seconds(60);

// True once `pid` (our child) has been reaped by someone (waitpid says ECHILD).
bool Reaped(pid_t pid) {
  int status;
  return waitpid(pid, &status, WNOHANG) < 0 && errno == ECHILD;
}

// Reads until EOF (bounded).
std::string ReadAll(int fd, absl::Duration timeout) {
  std::string out;
  const internal::Deadline deadline = internal::Deadline::After(timeout);
  char buf[4096];
  while (PollReadable(fd, absl::Nanoseconds(deadline.RemainingNanos()))) {
    const ssize_t n = read(fd, buf, sizeof buf);
    if (n <= 0) break;
    out.append(buf, static_cast<size_t>(n));
  }
  return out;
}

// A Process whose child waits (at most 120 s) for a byte on `hold_r`, then exits with `code`.
Process WaitsForHold(int hold_r, int code) {
  return Process([hold_r, code] {
    char c;
    ReadValue(hold_r, &c, absl::Seconds(120));
    return code;
  });
}

TEST(ProcessTest, ExitCodeIsReturned) {
  for (int code : {0, 1, 42, 255}) {
    Process p([code] { return code; });
    ASSERT_TRUE(p.Start().ok());
    absl::StatusOr<int> r = p.Join(kLong);
    ASSERT_TRUE(r.ok()) << r.status();
    EXPECT_EQ(*r, code);
    EXPECT_EQ(*p.Join(), code) << "later calls return the same code";
    EXPECT_EQ(*p.Join(absl::ZeroDuration()), code);
    EXPECT_FALSE(p.is_alive());
  }
}

TEST(ProcessTest, KilledBySignalIsMinusTheSignal) {
  Process self_kill([] {
    raise(SIGKILL);
    return 0;
  });
  ASSERT_TRUE(self_kill.Start().ok());
  EXPECT_EQ(*self_kill.Join(kLong), -SIGKILL);

  Process usr1([] {
    signal(SIGUSR1, SIG_DFL);
    raise(SIGUSR1);
    return 0;
  });
  ASSERT_TRUE(usr1.Start().ok());
  EXPECT_EQ(*usr1.Join(kLong), -SIGUSR1);

  TestPipe hold;
  const int hold_r = hold.r;
  Process blocked = WaitsForHold(hold_r, 0);
  ASSERT_TRUE(blocked.Start().ok());
  ASSERT_EQ(kill(blocked.pid(), SIGINT), 0);
  EXPECT_EQ(*blocked.Join(kLong), -SIGINT);
}

TEST(ProcessTest, JoinTimesOutWhileRunning) {
  TestPipe hold;
  const int hold_r = hold.r;
  Process p([hold_r] {
    char c;
    return ReadValue(hold_r, &c, absl::Seconds(120)) ? 3 : 4;
  });
  ASSERT_TRUE(p.Start().ok());
  EXPECT_TRUE(p.is_alive());
  const absl::Time start = absl::Now();
  absl::StatusOr<int> r = p.Join(absl::Milliseconds(200));
  EXPECT_EQ(r.status().code(), absl::StatusCode::kDeadlineExceeded) << r.status();
  EXPECT_EQ(r.status().message(), "process " + std::to_string(p.pid()) +
                                      " is still running; Join waited 200ms (its timeout)");
  EXPECT_GE(absl::Now() - start, absl::Milliseconds(190));
  r = p.Join(absl::ZeroDuration());
  EXPECT_EQ(r.status().code(), absl::StatusCode::kDeadlineExceeded);
  r = p.Join(-absl::Seconds(1));
  EXPECT_EQ(r.status().code(), absl::StatusCode::kDeadlineExceeded) << "negative = zero timeout";
  EXPECT_TRUE(p.is_alive());
  ASSERT_TRUE(WriteValue(hold.w, char{'g'}));
  r = p.Join(kLong);
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(*r, 3);
  EXPECT_FALSE(p.is_alive());
}

TEST(ProcessTest, PreconditionsBeforeStart) {
  Process p([] { return 0; });
  EXPECT_EQ(p.pid(), 0);
  EXPECT_FALSE(p.is_alive());
  EXPECT_EQ(p.Join().status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_EQ(p.Join(absl::ZeroDuration()).status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_EQ(p.Terminate().code(), absl::StatusCode::kFailedPrecondition);
  ASSERT_TRUE(p.Start().ok());
  EXPECT_GT(p.pid(), 0);
  EXPECT_NE(p.pid(), getpid());
  EXPECT_EQ(p.Start().code(), absl::StatusCode::kFailedPrecondition) << "started twice";
  EXPECT_EQ(*p.Join(kLong), 0);
  EXPECT_GT(p.pid(), 0) << "pid() stays the child's pid after it exited";
}

TEST(ProcessTest, TerminateSendsSigterm) {
  TestPipe hold;
  const int hold_r = hold.r;
  Process p = WaitsForHold(hold_r, 0);
  ASSERT_TRUE(p.Start().ok());
  ASSERT_TRUE(p.Terminate().ok());
  EXPECT_EQ(*p.Join(kLong), -SIGTERM);
  EXPECT_TRUE(p.Terminate().ok()) << "after exit: OK, nothing sent";
  EXPECT_FALSE(p.is_alive());
}

TEST(ProcessTest, KillSendsSigkillEvenToAChildIgnoringSigterm) {
  TestPipe hold, ready;
  const int hold_r = hold.r, ready_w = ready.w;
  Process p([hold_r, ready_w] {
    signal(SIGTERM, SIG_IGN);
    WriteValue(ready_w, char{'r'});
    char c;
    ReadValue(hold_r, &c, absl::Seconds(120));
    return 0;
  });
  EXPECT_EQ(p.Kill().code(), absl::StatusCode::kFailedPrecondition) << "before Start()";
  ASSERT_TRUE(p.Start().ok());
  char c;
  ASSERT_TRUE(ReadValue(ready.r, &c, kLong));  // SIGTERM is ignored from here on
  ASSERT_TRUE(p.Terminate().ok());
  ASSERT_TRUE(p.Kill().ok());
  EXPECT_EQ(*p.Join(kLong), -SIGKILL);
  EXPECT_TRUE(p.Kill().ok()) << "after exit: OK, nothing sent";
  EXPECT_FALSE(p.is_alive());
}

int ReturnsThirteen() { return 13; }

TEST(ProcessTest, TargetsReturningVoidExitZeroAndOtherCallablesWork) {
  TestPipe ran;
  const int ran_w = ran.w;
  Process void_lambda([ran_w] { WriteValue(ran_w, char{'v'}); });
  ASSERT_TRUE(void_lambda.Start().ok());
  char c = 0;
  ASSERT_TRUE(ReadValue(ran.r, &c, kLong));
  EXPECT_EQ(c, 'v') << "the void target ran";
  EXPECT_EQ(*void_lambda.Join(kLong), 0);

  int calls = 0;
  Process mutable_lambda([calls]() mutable { return ++calls + 20; });
  ASSERT_TRUE(mutable_lambda.Start().ok());
  EXPECT_EQ(*mutable_lambda.Join(kLong), 21);

  Process function_pointer(&ReturnsThirteen);
  ASSERT_TRUE(function_pointer.Start().ok());
  EXPECT_EQ(*function_pointer.Join(kLong), 13);

  Process function_name(ReturnsThirteen);
  ASSERT_TRUE(function_name.Start().ok());
  EXPECT_EQ(*function_name.Join(kLong), 13);

  Process std_function(std::function<int()>([] { return 14; }));
  ASSERT_TRUE(std_function.Start().ok());
  EXPECT_EQ(*std_function.Join(kLong), 14);

  Process returns_bool([] { return true; });  // converts to int, as a return statement would
  ASSERT_TRUE(returns_bool.Start().ok());
  EXPECT_EQ(*returns_bool.Join(kLong), 1);

  TestPipe err;
  const int err_w = err.w;
  Process void_throws([err_w] {
    dup2(err_w, STDERR_FILENO);
    throw std::runtime_error("void-boom-3391");
  });
  ASSERT_TRUE(void_throws.Start().ok());
  err.CloseWrite();
  const std::string text = ReadAll(err.r, kLong);
  EXPECT_EQ(*void_throws.Join(kLong), 1);
  EXPECT_NE(text.find("void-boom-3391"), std::string::npos) << "stderr was: " << text;
}

TEST(ProcessTest, IsAliveFollowsTheChild) {
  TestPipe hold, ready;
  const int hold_r = hold.r, hold_w = hold.w, ready_w = ready.w;
  Process p([=] {
    close(hold_w);  // so that the parent closing its end is an EOF here
    WriteValue(ready_w, char{'r'});
    char c;
    ReadValue(hold_r, &c, absl::Seconds(120));
    return 0;
  });
  EXPECT_FALSE(p.is_alive());
  ASSERT_TRUE(p.Start().ok());
  char c;
  ASSERT_TRUE(ReadValue(ready.r, &c));
  EXPECT_TRUE(p.is_alive());
  hold.CloseWrite();  // EOF: the child returns
  ASSERT_TRUE(WaitExited(p.pid(), kLong));
  EXPECT_FALSE(p.is_alive()) << "exited (is_alive reaps it)";
  EXPECT_EQ(*p.Join(absl::ZeroDuration()), 0);
}

TEST(ProcessTest, TargetThatThrowsPrintsAndExitsOne) {
  struct Case {
    std::function<void()> raise_it;
    const char* expect_in_stderr;
  } cases[] = {
      {[] { throw std::runtime_error("boom-7261"); }, "boom-7261"},
      {[] { throw 17; }, "non-std exception"},
  };
  for (const Case& c : cases) {
    TestPipe err;
    const int err_w = err.w;
    auto raise_it = c.raise_it;
    Process p([err_w, raise_it]() -> int {
      dup2(err_w, STDERR_FILENO);  // the child's stderr goes to the test
      raise_it();
      return 0;
    });
    ASSERT_TRUE(p.Start().ok());
    err.CloseWrite();
    const std::string text = ReadAll(err.r, kLong);
    EXPECT_EQ(*p.Join(kLong), 1);
    EXPECT_NE(text.find(c.expect_in_stderr), std::string::npos) << "stderr was: " << text;
  }
}

TEST(ProcessTest, MoveConstructionAndAssignment) {
  Process a([] { return 11; });
  Process b(std::move(a));
  EXPECT_EQ(a.pid(), 0);  // NOLINT(bugprone-use-after-move): the moved-from contract
  EXPECT_FALSE(a.is_alive());
  EXPECT_EQ(a.Start().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_EQ(a.Join().status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_EQ(a.Terminate().code(), absl::StatusCode::kFailedPrecondition);
  ASSERT_TRUE(b.Start().ok());
  // Moving a started process keeps the child.
  const pid_t child = b.pid();
  Process c(std::move(b));
  EXPECT_EQ(c.pid(), child);
  EXPECT_EQ(*c.Join(kLong), 11);

  // Move-assigning over a running non-daemon child waits for it (it is let go first here, so
  // the wait is bounded by the child's own exit).
  TestPipe hold;
  const int hold_r = hold.r;
  Process d = WaitsForHold(hold_r, 5);
  ASSERT_TRUE(d.Start().ok());
  const pid_t old_child = d.pid();
  Process e([] { return 6; });
  ASSERT_TRUE(WriteValue(hold.w, char{'g'}));
  d = std::move(e);
  EXPECT_TRUE(Reaped(old_child)) << "the overwritten handle's child was waited for";
  EXPECT_EQ(d.pid(), 0);
  ASSERT_TRUE(d.Start().ok());
  EXPECT_EQ(*d.Join(kLong), 6);
  d = std::move(d);  // self-move-assignment is harmless
  EXPECT_EQ(*d.Join(absl::ZeroDuration()), 6);
}

TEST(ProcessTest, DestroyingANonDaemonHandleWaitsForTheChild) {
  TestPipe hold;
  const int hold_r = hold.r;
  pid_t child;
  {
    Process p = WaitsForHold(hold_r, 0);
    ASSERT_TRUE(p.Start().ok());
    child = p.pid();
    ASSERT_TRUE(WriteValue(hold.w, char{'g'}));
  }
  EXPECT_TRUE(Reaped(child));
}

TEST(ProcessTest, SetDaemonAfterStartHasNoEffect) {
  TestPipe hold;
  const int hold_r = hold.r;
  pid_t child;
  {
    Process p = WaitsForHold(hold_r, 9);
    ASSERT_TRUE(p.Start().ok());
    p.set_daemon(true);  // too late: still a non-daemon, so destruction waits, no SIGTERM
    child = p.pid();
    ASSERT_TRUE(WriteValue(hold.w, char{'g'}));
  }
  EXPECT_TRUE(Reaped(child));
}

TEST(ProcessTest, DaemonExitingByItselfReportsItsCode) {
  Process p([] { return 21; });
  p.set_daemon(true);
  ASSERT_TRUE(p.Start().ok());
  EXPECT_EQ(*p.Join(kLong), 21);
}

// A daemon target that reports 'R' once its SIGTERM handler is installed and 'T' from the
// handler, then blocks.
int g_term_fd = -1;
void OnTerm(int) {
  const char t = 'T';
  (void)!write(g_term_fd, &t, 1);
  _exit(0);
}
std::function<int()> ReportingDaemon(int fd) {
  return [fd] {
    g_term_fd = fd;
    signal(SIGTERM, OnTerm);
    WriteValue(fd, char{'R'});
    // Not pause(): ThreadSanitizer delivers signals to handlers only at intercepted calls,
    // and pause() is not one, so the handler would never run under --config=tsan.
    for (;;) poll(nullptr, 0, 100);
    return 0;
  };
}

TEST(ProcessTest, DaemonGetsSigtermWhenItsHandleIsDestroyed) {
#if defined(__SANITIZE_THREAD__)
  // Under ThreadSanitizer a child forked from a multi-threaded process runs with TSan's
  // interceptors disabled, and TSan's signal trampoline then never runs the handler. See
  // DaemonHandleDestructionStopsItPromptly for what is checked there.
  GTEST_SKIP() << "signal handlers do not run in TSan children forked after threads";
#endif
  TestPipe report;
  pid_t child;
  {
    Process p(ReportingDaemon(report.w));
    p.set_daemon(true);
    ASSERT_TRUE(p.Start().ok());
    child = p.pid();
    char c;
    ASSERT_TRUE(ReadValue(report.r, &c, kLong));
    ASSERT_EQ(c, 'R');
  }
  char c = 0;
  ASSERT_TRUE(ReadValue(report.r, &c, kLong));
  EXPECT_EQ(c, 'T');
  EXPECT_TRUE(Reaped(child)) << "destruction also waited for it";
}

TEST(ProcessTest, DaemonHandleDestructionStopsItPromptly) {
  // With SIGTERM's default action, the daemon dies at once; without the SIGTERM the handle's
  // destructor would wait 5 s before falling back to SIGKILL.
  TestPipe ready;
  const int ready_w = ready.w;
  pid_t child;
  absl::Duration destruction;
  {
    Process p([ready_w] {
      WriteValue(ready_w, char{'R'});
      for (;;) poll(nullptr, 0, 100);
      return 0;
    });
    p.set_daemon(true);
    ASSERT_TRUE(p.Start().ok());
    child = p.pid();
    char c;
    ASSERT_TRUE(ReadValue(ready.r, &c, kLong));
    const absl::Time start = absl::Now();
    {
      Process gone = std::move(p);
    }
    destruction = absl::Now() - start;
  }
  EXPECT_LT(destruction, absl::Seconds(4)) << "the daemon was not stopped by SIGTERM";
  EXPECT_TRUE(Reaped(child));
}

// Runs process_test_helper (see there) as a fresh program with this process as subreaper, so
// the daemon it starts is re-parented to us when the helper dies and can be reaped here.
class DaemonParentTest : public ::testing::Test {
 protected:
  void SetUp() override { ASSERT_EQ(prctl(PR_SET_CHILD_SUBREAPER, 1), 0); }
  void TearDown() override {
    if (daemon_pid_ > 0 && !WaitExited(daemon_pid_, absl::ZeroDuration())) {
      kill(daemon_pid_, SIGKILL);
    }
    if (daemon_pid_ > 0) WaitChild(daemon_pid_, kLong).IgnoreError();
    KillAndReap(helper_);
    prctl(PR_SET_CHILD_SUBREAPER, 0);
  }
  void StartHelper(const std::string& mode) {
    helper_ = ::channel::testing::SpawnProgram(
        ::channel::testing::RunfilePath("channel/process_test_helper"), {mode},
        {pid_pipe_.w, report_.w, hold_.r});
    ASSERT_GT(helper_, 0);
    pid_pipe_.CloseWrite();
    report_.CloseWrite();
    ASSERT_TRUE(ReadValue(pid_pipe_.r, &daemon_pid_, kLong)) << "helper did not start a daemon";
    ASSERT_GT(daemon_pid_, 0);
  }
  TestPipe pid_pipe_, report_, hold_;
  pid_t helper_ = -1;
  pid_t daemon_pid_ = -1;
};

TEST_F(DaemonParentTest, DaemonDiesWhenItsParentIsKilledAfterTheStartingThreadExited) {
  StartHelper("kill");
  // The thread that started the daemon has exited: the daemon must still be alive (a
  // PR_SET_PDEATHSIG set on that thread's behalf would have killed it by now).
  EXPECT_FALSE(WaitExited(daemon_pid_, absl::Milliseconds(300)))
      << "the daemon died with the thread that started it";
  ASSERT_EQ(kill(helper_, SIGKILL), 0);
  absl::StatusOr<int> code = WaitChild(helper_, kLong);
  ASSERT_TRUE(code.ok());
  EXPECT_EQ(*code, -SIGKILL);
  helper_ = -1;
  EXPECT_TRUE(WaitExited(daemon_pid_, absl::Seconds(30)))
      << "the daemon outlived its SIGKILLed parent";
  absl::StatusOr<int> daemon_code = WaitChild(daemon_pid_, kLong);  // re-parented to us
  ASSERT_TRUE(daemon_code.ok()) << daemon_code.status();
  EXPECT_EQ(*daemon_code, -SIGKILL);
  daemon_pid_ = -1;
}

TEST_F(DaemonParentTest, DaemonDiesWhenItsParentExitsNormally) {
  StartHelper("exit");
  absl::StatusOr<int> code = WaitChild(helper_, kLong);
  ASSERT_TRUE(code.ok());
  EXPECT_EQ(*code, 0);
  helper_ = -1;
  EXPECT_TRUE(WaitExited(daemon_pid_, absl::Seconds(30)))
      << "the daemon outlived its parent's normal exit";
  absl::StatusOr<int> daemon_code = WaitChild(daemon_pid_, kLong);
  ASSERT_TRUE(daemon_code.ok()) << daemon_code.status();
  // SIGTERM (its handler exits 0) — or SIGKILL, if the parent finished exiting before the
  // daemon ran its handler (the parent waits at most a second for it: see
  // DaemonSigtermHandlerFinishesAtTheParentsNormalExit).
  EXPECT_TRUE(*daemon_code == 0 || *daemon_code == -SIGKILL) << *daemon_code;
  daemon_pid_ = -1;
}

TEST(ProcessTest, DaemonStartInAForkedChildOfADaemonUser) {
  // (Was known bug 2.) The daemon spawner must work in a child forked (here: by a non-daemon
  // Process) from a process that had already started daemons.
  {
    Process warmup([] { return 0; });  // creates the spawner in this process
    warmup.set_daemon(true);
    ASSERT_TRUE(warmup.Start().ok());
    ASSERT_EQ(*warmup.Join(kLong), 0);
  }
  TestPipe report;
  const int report_w = report.w;
  Process child([report_w] {
    Process grandchild([] { return 7; });
    grandchild.set_daemon(true);
    if (!grandchild.Start().ok()) return 2;
    WriteValue(report_w, char{'S'});
    absl::StatusOr<int> code = grandchild.Join(absl::Seconds(30));
    return code.ok() && *code == 7 ? 0 : 3;
  });
  ASSERT_TRUE(child.Start().ok());
  char c = 0;
  EXPECT_TRUE(ReadValue(report.r, &c, absl::Seconds(30)) && c == 'S')
      << "Process::Start() of a daemon did not return in the forked child";
  absl::StatusOr<int> code = child.Join(absl::Seconds(30));
  if (!code.ok()) {
    kill(child.pid(), SIGKILL);
    code = child.Join(kLong);
  }
  EXPECT_EQ(*code, 0);
}

TEST_F(DaemonParentTest, DaemonSigtermHandlerFinishesAtTheParentsNormalExit) {
  // (Was known bug 3.) At a normal exit the parent sends its daemons SIGTERM and gives them a
  // moment (as CPython joins them) before its own death fires their PR_SET_PDEATHSIG: a handler
  // with 300 ms of cleanup completes.
#if defined(__SANITIZE_THREAD__)
  GTEST_SKIP() << "signal handlers do not run in TSan children forked after threads";
#endif
  StartHelper("exit-slow");
  absl::StatusOr<int> code = WaitChild(helper_, kLong);
  ASSERT_TRUE(code.ok());
  EXPECT_EQ(*code, 0);
  helper_ = -1;
  char c = 0;
  EXPECT_TRUE(ReadValue(report_.r, &c, absl::Seconds(30)) && c == 'T')
      << "the daemon's SIGTERM handler did not finish";
  ASSERT_TRUE(WaitExited(daemon_pid_, kLong));
  absl::StatusOr<int> daemon_code = WaitChild(daemon_pid_, kLong);
  ASSERT_TRUE(daemon_code.ok()) << daemon_code.status();
  EXPECT_EQ(*daemon_code, 0) << "killed by signal " << -*daemon_code;
  daemon_pid_ = -1;
}

capnp::MallocMessageBuilder* SmallMessage(capnp::MallocMessageBuilder& b, uint64_t id) {
  auto m = b.initRoot<demo::Small>();
  m.setId(id);
  auto data = m.initData(48);
  for (size_t i = 0; i < data.size(); ++i) data[i] = static_cast<uint8_t>(id + i);
  return &b;
}

// Puts SmallMessage 0..n-1; 0, or 2 at the first Put that fails (a child's exit code).
int PutSmallMessages(Queue<demo::Small>& q, int n) {
  for (int i = 0; i < n; ++i) {
    capnp::MallocMessageBuilder b;
    if (!q.Put(*SmallMessage(b, static_cast<uint64_t>(i))).ok()) return 2;
  }
  return 0;
}

TEST(ProcessTest, NonDaemonChildFlushesItsQueueBeforeExiting) {
  constexpr int kItems = 1000;
  auto q = Queue<demo::Small>::Create();
  ASSERT_TRUE(q.ok()) << q.status();
  // Returns at once after its last Put: the feeder may still hold items.
  Process child([&q] { return PutSmallMessages(*q, kItems); });
  ASSERT_TRUE(child.Start().ok());
  // Wait for the child to be gone first: everything it put must already be in the queue.
  absl::StatusOr<int> code = child.Join(kLong);
  ASSERT_TRUE(code.ok()) << code.status();
  ASSERT_EQ(*code, 0);
  EXPECT_EQ(q->qsize(), kItems);
  for (int i = 0; i < kItems; ++i) {
    auto m = q->GetNowait();
    ASSERT_TRUE(m.ok()) << "item " << i << ": " << m.status();
    EXPECT_EQ((*m)->getId(), static_cast<uint64_t>(i));
    ASSERT_EQ((*m)->getData().size(), 48u);
    EXPECT_EQ((*m)->getData()[47], static_cast<uint8_t>(i + 47));
  }
  EXPECT_EQ(q->qsize(), 0);
  EXPECT_TRUE(IsEmpty(q->GetNowait().status()));
  const QueueStats s = q->stats();
  EXPECT_EQ(s.items_lost, 0u);
  EXPECT_EQ(s.dead_processes, 0u);
}

TEST(ProcessTest, ConsumerRunsConcurrentlyWithProducerChild) {
  constexpr int kItems = 1000;
  auto q = Queue<demo::Small>::Create();
  ASSERT_TRUE(q.ok()) << q.status();
  Process child([&q] { return PutSmallMessages(*q, kItems); });
  ASSERT_TRUE(child.Start().ok());
  for (int i = 0; i < kItems; ++i) {
    auto m = q->Get(kLong);
    ASSERT_TRUE(m.ok()) << "item " << i << ": " << m.status();
    EXPECT_EQ((*m)->getId(), static_cast<uint64_t>(i));
  }
  EXPECT_EQ(*child.Join(kLong), 0);
  EXPECT_EQ(q->qsize(), 0);
}

}  // namespace
}  // namespace channel
