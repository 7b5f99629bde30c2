#include "bench/harness.h"

#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <pthread.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <thread>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_split.h"

namespace bench {

void* MapShared(size_t bytes) {
  void* p = mmap(nullptr, std::max<size_t>(bytes, 1), PROT_READ | PROT_WRITE,
                 MAP_SHARED | MAP_ANONYMOUS, -1, 0);
  if (p == MAP_FAILED) {
    perror("channel_bench: mmap");
    abort();
  }
  return p;
}

void UnmapShared(void* p, size_t bytes) { munmap(p, std::max<size_t>(bytes, 1)); }

// ---- Control ------------------------------------------------------------------------------

void Control::Fail(const std::string& message) {
  uint32_t expected = 0;
  if (!error_claimed.compare_exchange_strong(expected, 1)) return;
  snprintf(error, sizeof error, "%s", message.c_str());
  // Unblock a coordinator waiting for producers or for completion.
  FutexWakeAll(&all_done);
  FutexWakeAll(&senders_done);
}

void Control::ReadyThenWaitForGo() {
  ready.fetch_add(1);
  while (go.load() == 0) FutexWait(&go, 0);
}

absl::Status Control::WaitReady(uint32_t n, Fleet& fleet, absl::Time deadline) {
  while (ready.load() < n) {
    if (error_claimed.load() != 0) return absl::InternalError(error_text());
    absl::Status children = fleet.Poll();
    if (!children.ok()) return children;
    if (absl::Now() > deadline) {
      return absl::DeadlineExceededError(
          absl::StrCat("only ", ready.load(), " of ", n, " processes got ready in time"));
    }
    usleep(200);
  }
  return absl::OkStatus();
}

int64_t Control::Go() {
  const int64_t start = NowNanos();
  go.store(1);
  FutexWakeAll(&go);
  return start;
}

void Control::Stop() {
  stop.store(1);
  FutexWakeAll(&stop);
}

void Control::WaitForStop() {
  while (stop.load() == 0) FutexWait(&stop, 0);
}

void Control::SenderDone() {
  senders_done.fetch_add(1);
  FutexWakeAll(&senders_done);
}

absl::Status Control::WaitSendersDone(uint32_t n, absl::Time deadline) {
  for (;;) {
    const uint32_t done = senders_done.load();
    if (done >= n) return absl::OkStatus();
    if (error_claimed.load() != 0) return absl::InternalError(error_text());
    if (absl::Now() >= deadline) {
      return absl::DeadlineExceededError(
          absl::StrCat("only ", done, " of ", n, " producers sent everything in time"));
    }
    FutexWait(&senders_done, done, 100 * 1000 * 1000);
  }
}

void Control::AddCpu(int64_t start_ns) { cpu_ns.fetch_add(CpuNanos() - start_ns); }

std::string Control::error_text() const {
  return error_claimed.load() != 0 ? std::string(error) : std::string();
}

// ---- Fleet --------------------------------------------------------------------------------

namespace {

sigset_t ChildSignals() {
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGCHLD);
  return set;
}

std::string DescribeExit(pid_t pid, int status) {
  if (WIFSIGNALED(status))
    return absl::StrCat("process ", pid, " killed by signal ", WTERMSIG(status));
  return absl::StrCat("process ", pid, " exited with code ", WEXITSTATUS(status));
}

}  // namespace

Fleet::Fleet() {
  // Blocked so that sigtimedwait can wait for the next child exit with a timeout.
  sigset_t set = ChildSignals();
  pthread_sigmask(SIG_BLOCK, &set, nullptr);
}

Fleet::~Fleet() { KillAll(); }

absl::StatusOr<pid_t> Fleet::Spawn(std::function<int()> fn) {
  fflush(stdout);
  fflush(stderr);
  const pid_t pid = fork();
  if (pid < 0) return absl::InternalError(absl::StrCat("fork: ", strerror(errno)));
  if (pid == 0) {
    setpgid(0, 0);  // its own group, so KillAll also reaches whatever it starts
    sigset_t set = ChildSignals();
    pthread_sigmask(SIG_UNBLOCK, &set, nullptr);
    int code = 1;
    try {
      code = fn();
    } catch (const std::exception& e) {
      fprintf(stderr, "channel_bench child: exception: %s\n", e.what());
    } catch (...) {
      fprintf(stderr, "channel_bench child: unknown exception\n");
    }
    fflush(stdout);
    fflush(stderr);
    _exit(code);
  }
  setpgid(pid, pid);  // also here: no race with KillAll
  children_.push_back({pid, false, 0});
  return pid;
}

bool Fleet::Reap(bool block_until_one, absl::Time deadline) {
  bool any = false;
  for (;;) {
    int status = 0;
    const pid_t pid = waitpid(-1, &status, WNOHANG);
    if (pid > 0) {
      for (Child& c : children_) {
        if (c.pid == pid) {
          c.exited = true;
          c.status = status;
        }
      }
      any = true;
      continue;
    }
    if (any || !block_until_one) return any;
    if (pid < 0 && errno == ECHILD) return false;
    const absl::Duration left = deadline - absl::Now();
    if (left <= absl::ZeroDuration()) return false;
    const int64_t ns = std::min<int64_t>(absl::ToInt64Nanoseconds(left), 1000000000);
    timespec ts{static_cast<time_t>(ns / 1000000000), static_cast<long>(ns % 1000000000)};
    sigset_t set = ChildSignals();
    sigtimedwait(&set, nullptr, &ts);  // a SIGCHLD, or a timeout: either way, look again
  }
}

absl::Status Fleet::Wait(absl::Time deadline) {
  for (;;) {
    Reap(false, deadline);
    bool pending = false;
    for (const Child& c : children_) {
      if (!c.exited) {
        pending = true;
      } else if (!WIFEXITED(c.status) || WEXITSTATUS(c.status) != 0) {
        return absl::InternalError(DescribeExit(c.pid, c.status));
      }
    }
    if (!pending) return absl::OkStatus();
    if (absl::Now() >= deadline) return absl::DeadlineExceededError("processes still running");
    Reap(true, deadline);
  }
}

absl::Status Fleet::Poll() {
  Reap(false, absl::Now());
  for (const Child& c : children_) {
    if (c.exited && (!WIFEXITED(c.status) || WEXITSTATUS(c.status) != 0)) {
      return absl::InternalError(DescribeExit(c.pid, c.status));
    }
  }
  return absl::OkStatus();
}

void Fleet::KillAll() {
  for (Child& c : children_) {
    if (!c.exited) kill(-c.pid, SIGKILL);
  }
  for (Child& c : children_) {
    if (!c.exited) {
      int status = 0;
      if (waitpid(c.pid, &status, 0) == c.pid) {
        c.exited = true;
        c.status = status;
      }
    }
  }
}

// ---- Commands -----------------------------------------------------------------------------

std::string FindInPath(const std::string& name) {
  if (name.find('/') != std::string::npos) return access(name.c_str(), X_OK) == 0 ? name : "";
  const char* path = getenv("PATH");
  if (path == nullptr) return "";
  for (absl::string_view dir : absl::StrSplit(path, ':', absl::SkipEmpty())) {
    std::string candidate = absl::StrCat(dir, "/", name);
    if (access(candidate.c_str(), X_OK) == 0) return candidate;
  }
  return "";
}

absl::StatusOr<CommandResult> RunCommand(const std::vector<std::string>& argv,
                                         absl::Time deadline) {
  FILE* out = tmpfile();
  if (out == nullptr) return absl::InternalError(absl::StrCat("tmpfile: ", strerror(errno)));
  const int out_fd = fileno(out);
  CommandResult result;
  {
    Fleet fleet;
    absl::StatusOr<pid_t> pid = fleet.Spawn([&]() -> int {
      dup2(out_fd, 1);
      dup2(out_fd, 2);
      std::vector<char*> args;
      for (const std::string& a : argv) args.push_back(const_cast<char*>(a.c_str()));
      args.push_back(nullptr);
      execvp(args[0], args.data());
      fprintf(stderr, "exec %s: %s\n", args[0], strerror(errno));
      return 127;
    });
    if (!pid.ok()) {
      fclose(out);
      return pid.status();
    }
    absl::Status waited = fleet.Wait(deadline);
    if (absl::IsDeadlineExceeded(waited)) {
      fleet.KillAll();
      fclose(out);
      return absl::DeadlineExceededError(absl::StrCat(argv[0], " timed out and was killed"));
    }
    // A nonzero exit is reported through exit_code, with the output.
    result.exit_code = waited.ok() ? 0 : 1;
  }
  std::string text;
  char buf[4096];
  lseek(out_fd, 0, SEEK_SET);
  ssize_t n;
  while ((n = read(out_fd, buf, sizeof buf)) > 0) text.append(buf, static_cast<size_t>(n));
  fclose(out);
  result.output = std::move(text);
  return result;
}

// ---- /proc and statistics -----------------------------------------------------------------

absl::Status PinToCpu(int cpu) {
  if (cpu < 0) return absl::OkStatus();
  cpu_set_t set;
  CPU_ZERO(&set);
  CPU_SET(cpu, &set);
  if (sched_setaffinity(0, sizeof set, &set) != 0) {
    return absl::InternalError(absl::StrCat("sched_setaffinity(CPU ", cpu, "): ", strerror(errno)));
  }
  return absl::OkStatus();
}

namespace {

int64_t StatusField(const char* text, const char* field) {
  const size_t len = strlen(field);
  for (const char* line = text; line != nullptr && *line != '\0';) {
    if (strncmp(line, field, len) == 0 && line[len] == ':')
      return strtoll(line + len + 1, nullptr, 10);
    line = strchr(line, '\n');
    if (line != nullptr) ++line;
  }
  return -1;
}

// The text of /proc/<pid>/status (pid 0: self), or "" if unreadable.
std::string ReadStatus(pid_t pid) {
  char path[64];
  if (pid == 0) {
    snprintf(path, sizeof path, "/proc/self/status");
  } else {
    snprintf(path, sizeof path, "/proc/%d/status", static_cast<int>(pid));
  }
  const int fd = open(path, O_RDONLY | O_CLOEXEC);
  if (fd < 0) return "";
  char buf[4096];
  const ssize_t n = read(fd, buf, sizeof buf - 1);
  close(fd);
  return n > 0 ? std::string(buf, static_cast<size_t>(n)) : "";
}

}  // namespace

MemorySnapshot ReadMemory(pid_t pid) {
  const std::string text = ReadStatus(pid);
  MemorySnapshot m;
  m.rss_kb = StatusField(text.c_str(), "VmRSS");
  m.anon_kb = StatusField(text.c_str(), "RssAnon");
  m.file_kb = StatusField(text.c_str(), "RssFile");
  m.shmem_kb = StatusField(text.c_str(), "RssShmem");
  m.hwm_kb = StatusField(text.c_str(), "VmHWM");
  return m;
}

int64_t ProcStatusKb(pid_t pid, const char* field) {
  return StatusField(ReadStatus(pid).c_str(), field);
}

int64_t CpuNanos() {
  rusage u;
  if (getrusage(RUSAGE_SELF, &u) != 0) return 0;
  auto ns = [](const timeval& t) {
    return static_cast<int64_t>(t.tv_sec) * 1000000000 + static_cast<int64_t>(t.tv_usec) * 1000;
  };
  return ns(u.ru_utime) + ns(u.ru_stime);
}

// ---- Regime probes ------------------------------------------------------------------------

namespace {

constexpr int kProbeCpuA = 0;
constexpr int kProbeCpuB = 1;
// Each probe gives up after this long (a neighbour holding one CPU can stall a spinning
// partner for whole time slices); what it measured by then is reported.
constexpr int64_t kProbeBudgetNs = 300 * 1000 * 1000;

bool PinThread(int cpu) {
  cpu_set_t set;
  CPU_ZERO(&set);
  CPU_SET(cpu, &set);
  return pthread_setaffinity_np(pthread_self(), sizeof set, &set) == 0;
}

// Thread A writes odd values, thread B even ones; each spins until the other has answered.
// Many short batches (~10-50 us each), so that on a loaded host the median is a batch in
// which both threads ran, not one that waited for a neighbour's time slice.
double AtomicPingPongNs() {
  constexpr int kBatches = 501;
  constexpr int64_t kRoundTrips = 100;
  alignas(64) std::atomic<int64_t> word{0};
  std::atomic<bool> give_up{false};
  const int64_t deadline = NowNanos() + kProbeBudgetNs;
  // Spins until `word` holds `want`; false when the probe ran out of time.
  auto await = [&](int64_t want) {
    for (uint32_t spins = 1;; ++spins) {
      if (word.load(std::memory_order_acquire) == want) return true;
      if ((spins & 4095) == 0 && (give_up.load() || NowNanos() > deadline)) {
        give_up.store(true);
        return false;
      }
    }
  };
  std::vector<double> batch_ns;
  bool pinned_b = true;
  std::thread b([&] {
    pinned_b = PinThread(kProbeCpuB);
    for (int64_t v = 1; v < 2 * kBatches * kRoundTrips; v += 2) {
      if (!await(v)) return;
      word.store(v + 1, std::memory_order_release);
    }
  });
  const bool pinned_a = PinThread(kProbeCpuA);
  int64_t v = 0;
  for (int batch = 0; batch < kBatches && !give_up.load(); ++batch) {
    const int64_t t0 = NowNanos();
    int64_t i = 0;
    for (; i < kRoundTrips; ++i, v += 2) {
      word.store(v + 1, std::memory_order_release);
      if (!await(v + 2)) break;
    }
    if (i == kRoundTrips) {
      batch_ns.push_back(static_cast<double>(NowNanos() - t0) / static_cast<double>(kRoundTrips));
    }
  }
  give_up.store(true);
  b.join();
  return pinned_a && pinned_b && !batch_ns.empty() ? Median(batch_ns) : NAN;
}

// Two pipes; each side blocks in read(2) until the other writes, so every hop is a wake-up of
// a sleeping thread on the other CPU.
double PipeRoundTripUs() {
  constexpr int kRoundTrips = 2000;
  int ab[2];
  int ba[2];
  if (pipe2(ab, O_CLOEXEC) != 0) return NAN;
  if (pipe2(ba, O_CLOEXEC) != 0) {
    close(ab[0]);
    close(ab[1]);
    return NAN;
  }
  const int64_t deadline = NowNanos() + kProbeBudgetNs;
  bool pinned_b = true;
  std::thread b([&] {
    pinned_b = PinThread(kProbeCpuB);
    char c;
    // Ends when A closes its end of the request pipe.
    while (read(ab[0], &c, 1) == 1) {
      if (write(ba[1], &c, 1) != 1) break;
    }
  });
  const bool pinned_a = PinThread(kProbeCpuA);
  std::vector<double> rtt_us;
  for (int i = 0; i < kRoundTrips && NowNanos() < deadline; ++i) {
    char c = 1;
    const int64_t t0 = NowNanos();
    if (write(ab[1], &c, 1) != 1 || read(ba[0], &c, 1) != 1) break;
    rtt_us.push_back(static_cast<double>(NowNanos() - t0) / 1e3);
  }
  close(ab[1]);
  b.join();
  close(ab[0]);
  close(ba[0]);
  close(ba[1]);
  return pinned_a && pinned_b && !rtt_us.empty() ? Median(rtt_us) : NAN;
}

}  // namespace

Regime MeasureRegime() {
  Regime r{NAN, NAN};
  // The probes pin the calling thread; its affinity (inherited by the scenarios' children) is
  // restored afterwards.
  if (sysconf(_SC_NPROCESSORS_ONLN) < 2) return r;
  cpu_set_t saved;
  if (sched_getaffinity(0, sizeof saved, &saved) != 0) return r;
  r.atomic_rtt_ns = AtomicPingPongNs();
  r.pipe_rtt_us = PipeRoundTripUs();
  sched_setaffinity(0, sizeof saved, &saved);
  return r;
}

std::string DescribeRegime(const Regime& r) {
  // Thresholds from docs/performance.md ("Noise and regimes"): the atomic round trip sits at
  // 70-125 ns or 370-430 ns on the VMs measured; a cross-CPU pipe round trip at ~3-10 us when
  // wake-ups are cheap, tens of us when an idle vCPU has to be kicked out of halt.
  auto value = [](double v, const char* fmt) {
    return std::isfinite(v) ? absl::StrFormat(fmt, v) : std::string("n/a");
  };
  std::string atomic = value(r.atomic_rtt_ns, "%.0f ns");
  if (std::isfinite(r.atomic_rtt_ns)) atomic += r.atomic_rtt_ns < 250 ? " (fast)" : " (slow)";
  std::string pipe = value(r.pipe_rtt_us, "%.1f us");
  if (std::isfinite(r.pipe_rtt_us)) {
    pipe += r.pipe_rtt_us < 12 ? " (cheap wake-ups)" : " (expensive wake-ups)";
  }
  return absl::StrCat("cross-CPU atomic ping-pong ", atomic, ", cross-CPU pipe round trip ", pipe);
}

double Median(std::vector<double> values) {
  if (values.empty()) return NAN;
  std::sort(values.begin(), values.end());
  const size_t n = values.size();
  return n % 2 == 1 ? values[n / 2] : (values[n / 2 - 1] + values[n / 2]) / 2;
}

double Percentile(std::vector<double> values, double p) {
  if (values.empty()) return NAN;
  std::sort(values.begin(), values.end());
  const double rank = std::ceil(p / 100.0 * static_cast<double>(values.size()));
  const size_t index = rank < 1 ? 0 : static_cast<size_t>(rank) - 1;
  return values[std::min(index, values.size() - 1)];
}

}  // namespace bench
