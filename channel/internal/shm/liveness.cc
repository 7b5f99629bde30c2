#include "channel/internal/shm/liveness.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include <cstdlib>

namespace channel {
namespace internal {
namespace {

// Reads /proc/<pid>/stat. state and starttime come after the parenthesised command name, which
// may itself contain spaces and parentheses: parse from the last ')'.
bool ReadStat(pid_t pid, char* state, uint64_t* start_time) {
  char path[64];
  snprintf(path, sizeof path, "/proc/%d/stat", static_cast<int>(pid));
  const int fd = open(path, O_RDONLY | O_CLOEXEC);
  if (fd < 0) return false;
  char buf[1024];
  const ssize_t n = read(fd, buf, sizeof buf - 1);
  const int read_errno = errno;
  close(fd);
  if (n <= 0) {
    errno = n < 0 ? read_errno : EINVAL;
    return false;
  }
  buf[n] = '\0';
  errno = EINVAL;  // for the parse failures below: a line we do not understand
  const char* p = strrchr(buf, ')');
  if (p == nullptr || p[1] != ' ') return false;
  p += 2;
  *state = *p;
  // After ") " come fields 3 (state) .. ; starttime is field 22, i.e. 19 fields after state.
  for (int field = 3; field < 22; ++field) {
    p = strchr(p, ' ');
    if (p == nullptr) return false;
    ++p;
  }
  *start_time = strtoull(p, nullptr, 10);
  return true;
}

}  // namespace

uint64_t ProcessStartTime(pid_t pid) {
  char state;
  uint64_t start = 0;
  return ReadStat(pid, &state, &start) ? start : 0;
}

bool ProcessAlive(pid_t pid, uint64_t start_time, uint64_t start_mask) {
  if (pid <= 0) return false;
  if (kill(pid, 0) != 0 && errno == ESRCH) return false;
  char state;
  uint64_t start = 0;
  if (!ReadStat(pid, &state, &start)) {
    // No /proc entry (ENOENT), or the process went while we read it (ESRCH): gone, unless /proc
    // is not mounted, in which case kill() is all we know. Any other failure (no descriptors
    // left, a line we cannot parse) tells nothing: assume alive. Taking a live process for dead
    // would count its unwritten items lost, and then deliver them when it writes them.
    if (errno == ENOENT || errno == ESRCH) return access("/proc/self/stat", R_OK) != 0;
    return true;
  }
  if (state == 'Z' || state == 'X') return false;
  return start_time == 0 || (start & start_mask) == (start_time & start_mask);
}

}  // namespace internal
}  // namespace channel
