#include "examples/run_example.h"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <string>
#include <utility>
#include <vector>

#include <gtest/gtest.h>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/time/clock.h"

namespace examples {

Result RunExample(const std::string& name, std::vector<std::string> args,
                  absl::Duration limit) {
  const std::string path = absl::StrCat(getenv("TEST_SRCDIR"), "/typed_channel/examples/", name);
  std::vector<char*> argv = {const_cast<char*>(path.c_str())};
  for (std::string& arg : args) argv.push_back(arg.data());
  argv.push_back(nullptr);

  Result run;
  int fds[2];
  if (pipe2(fds, O_CLOEXEC) != 0) {
    ADD_FAILURE() << "pipe2: " << strerror(errno);
    return run;
  }
  const pid_t pid = fork();
  if (pid == 0) {
    setpgid(0, 0);
    dup2(fds[1], STDOUT_FILENO);
    execv(path.c_str(), argv.data());
    _exit(127);
  }
  setpgid(pid, pid);  // also here: the group must exist before any kill below
  close(fds[1]);

  // Read until every process of the example has closed stdout, or the limit.
  const absl::Time deadline = absl::Now() + limit;
  for (;;) {
    const int64_t left_ms = absl::ToInt64Milliseconds(deadline - absl::Now());
    if (left_ms <= 0) {
      run.timed_out = true;
      break;
    }
    pollfd p{fds[0], POLLIN, 0};
    if (poll(&p, 1, static_cast<int>(left_ms)) <= 0) continue;
    char buf[4096];
    const ssize_t n = read(fds[0], buf, sizeof buf);
    if (n <= 0) break;
    run.out.append(buf, static_cast<size_t>(n));
  }
  close(fds[0]);
  killpg(pid, SIGKILL);  // nothing left unless timed out or a child outlived the example
  int status = 0;
  waitpid(pid, &status, 0);
  run.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : -WTERMSIG(status);
  std::vector<std::string> lines = absl::StrSplit(run.out, '\n', absl::SkipEmpty());
  run.lines = std::move(lines);
  return run;
}

int CountLinesWith(const Result& run, const std::string& text) {
  return std::count_if(run.lines.begin(), run.lines.end(),
                       [&](const std::string& line) { return absl::StrContains(line, text); });
}


void ExpectCleanExit(const Result& run) {
  EXPECT_FALSE(run.timed_out) << "killed at the time limit\n" << run.out;
  EXPECT_EQ(run.exit_code, 0) << run.out;
}

}  // namespace examples
