// Helper program for process_test's DaemonParentTest: the *parent* of a daemon Process, run as a
// fresh program (fork + exec) so it starts with no inherited library state.
//
//   process_test_helper MODE PID_FD REPORT_FD HOLD_FD
//
// Starts a daemon channel::Process from a std::thread that exits right after Start() (the
// handle is leaked so it outlives the thread), writes the daemon's pid (pid_t) to PID_FD once
// the daemon runs, then:
//   MODE=kill       blocks reading HOLD_FD (the test SIGKILLs it);
//   MODE=exit       returns from main (a normal exit);
//   MODE=exit-slow  as exit, but the daemon's SIGTERM handler needs 300 ms of cleanup.
// The daemon writes 'T' to REPORT_FD when its SIGTERM handler has finished its cleanup, then
// _exit(0)s; it blocks otherwise.
#include <poll.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <string>
#include <thread>

#include "channel/internal/testing/test_util.h"
#include "channel/process.h"

namespace {

int g_report_fd = -1;
bool g_slow = false;
// The daemon's handle: never destroyed (that would SIGTERM the daemon); global so that it stays
// reachable (no leak report) after the thread that made it has exited.
channel::Process* g_daemon = nullptr;

void OnTerm(int) {
  if (g_slow) {
    timespec ts{0, 300 * 1000 * 1000};
    nanosleep(&ts, nullptr);  // async-signal-safe "cleanup"
  }
  const char t = 'T';
  (void)!write(g_report_fd, &t, 1);
  _exit(0);
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 5) return 100;
  const std::string mode = argv[1];
  const int pid_fd = atoi(argv[2]);
  g_report_fd = atoi(argv[3]);
  const int hold_fd = atoi(argv[4]);
  g_slow = mode == "exit-slow";
  channel::testing::TestPipe ready;
  const int ready_w = ready.w;

  pid_t daemon_pid = 0;
  std::thread starter([&daemon_pid, ready_w] {
    g_daemon = new channel::Process([ready_w] {
      signal(SIGTERM, OnTerm);
      channel::testing::WriteValue(ready_w, char{'R'});
      // Not pause(): ThreadSanitizer delivers signals to handlers only at intercepted calls,
      // and pause() is not one, so the handler would never run under --config=tsan.
      for (;;) poll(nullptr, 0, 100);
      return 0;
    });
    g_daemon->set_daemon(true);
    if (g_daemon->Start().ok()) daemon_pid = g_daemon->pid();
  });
  starter.join();
  if (daemon_pid <= 0) return 101;
  char c = 0;
  if (!channel::testing::ReadValue(ready.r, &c, absl::Seconds(60)) || c != 'R') return 102;
  if (!channel::testing::WriteValue(pid_fd, daemon_pid)) return 103;
  if (mode == "kill") {
    channel::testing::ReadValue(hold_fd, &c, absl::Seconds(120));
    return 0;
  }
  return 0;  // exit / exit-slow: a normal exit
}
