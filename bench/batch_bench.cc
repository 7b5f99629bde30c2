// S1/S1b and S4/S4b for typed_channel alone: the same transfers with single Put/Get and with
// PutMany/GetMany in batches of --batch (64), run interleaved, medians and ratios printed.
//   S1:  1 producer -> 1 consumer, Queue<demo::Small> (u64 id + 48 data bytes), maxsize 1000.
//   S4:  4 producers -> 4 consumers, JoinableQueue, every item TaskDone'd, the clock stops when
//        Join returns (then Shutdown ends the consumers).
// Comparisons with the other systems come from //bench:channel_bench's S1/S4 in the same
// window (docs/performance.md). Build with -c opt:
//   ./bazelw run -c opt //bench:batch_bench -- --reps=5
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <functional>
#include <string>
#include <type_traits>
#include <vector>

#include <capnp/message.h>

#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "channel/channel.h"
#include "schema/demo.capnp.h"

namespace {

struct Shared {
  std::atomic<int> ready;
  std::atomic<bool> go;
  std::atomic<int64_t> end_ns;
  std::atomic<int> failed;
};

void Reset(Shared* sh) {
  sh->ready.store(0);
  sh->go.store(false);
  sh->end_ns.store(0);
  sh->failed.store(0);
}

int64_t NowNs() { return absl::GetCurrentTimeNanos(); }

int Flag(int argc, char** argv, const char* name, int fallback) {
  const std::string prefix = std::string("--") + name + "=";
  for (int i = 1; i < argc; ++i) {
    if (strncmp(argv[i], prefix.c_str(), prefix.size()) == 0) return atoi(argv[i] + prefix.size());
  }
  return fallback;
}

// One message per id, built once per process and re-stamped.
struct Messages {
  explicit Messages(size_t count) : builders(count) {
    for (auto& b : builders) {
      auto m = b.initRoot<demo::Small>();
      m.initData(48);
    }
  }
  std::vector<demo::Small::Reader> Stamp(uint64_t first, size_t n) {
    std::vector<demo::Small::Reader> readers;
    for (size_t i = 0; i < n; ++i) {
      auto m = builders[i].getRoot<demo::Small>();
      m.setId(first + i);
      readers.push_back(m.asReader());
    }
    return readers;
  }
  std::vector<capnp::MallocMessageBuilder> builders;
};

pid_t Fork(Shared* sh, const std::function<bool()>& body) {
  const pid_t pid = fork();
  if (pid == 0) {
    sh->ready.fetch_add(1);
    while (!sh->go.load()) usleep(100);
    const bool ok = body();
    if (!ok) sh->failed.store(1);
    exit(ok ? 0 : 1);  // flushes
  }
  return pid;
}

template <typename Q>
bool Produce(Q& q, uint64_t first, int64_t n, int batch) {
  Messages m(static_cast<size_t>(std::max(batch, 1)));
  for (int64_t i = 0; i < n;) {
    const int64_t k = batch > 0 ? std::min<int64_t>(batch, n - i) : 1;
    std::vector<demo::Small::Reader> r = m.Stamp(first + i, static_cast<size_t>(k));
    if (batch > 0) {
      if (!q.PutMany(r).ok()) return false;
    } else if (!q.Put(r[0]).ok()) {
      return false;
    }
    i += k;
  }
  return true;
}

// Receives until `n` items (n < 0: until shut down); S1 checks the order.
template <typename Q>
bool Consume(Q& q, int64_t n, int batch, bool ordered, bool task_done) {
  int64_t got = 0;
  while (n < 0 || got < n) {
    if (batch > 0) {
      auto many = q.GetMany(static_cast<size_t>(batch), absl::Seconds(60));
      if (channel::IsShutDown(many.status())) return n < 0;
      if (!many.ok()) return false;
      for (const auto& m : *many) {
        if (ordered && m->getId() != static_cast<uint64_t>(got)) return false;
        if constexpr (std::is_same_v<Q, channel::JoinableQueue<demo::Small>>) {
          if (task_done && !q.TaskDone().ok()) return false;
        }
        ++got;
      }
    } else {
      auto m = q.Get(absl::Seconds(60));
      if (channel::IsShutDown(m.status())) return n < 0;
      if (!m.ok() || (ordered && (*m)->getId() != static_cast<uint64_t>(got))) return false;
      if constexpr (std::is_same_v<Q, channel::JoinableQueue<demo::Small>>) {
        if (task_done && !q.TaskDone().ok()) return false;
      }
      ++got;
    }
  }
  return true;
}

bool WaitAll(const std::vector<pid_t>& pids) {
  bool ok = true;
  for (pid_t p : pids) {
    int status = 0;
    waitpid(p, &status, 0);
    ok = ok && WIFEXITED(status) && WEXITSTATUS(status) == 0;
  }
  return ok;
}

void Start(Shared* sh, int children) {
  while (sh->ready.load() < children) usleep(100);
}

// Messages per second, or -1 on failure.
double S1(Shared* sh, int64_t n, int batch) {
  Reset(sh);
  channel::QueueOptions options;
  options.maxsize = 1000;
  auto q = channel::Queue<demo::Small>::Create(options);
  if (!q.ok()) return -1;
  std::vector<pid_t> pids;
  pids.push_back(Fork(sh, [&] {
    const bool ok = Consume(*q, n, batch, /*ordered=*/true, false);
    sh->end_ns.store(NowNs());
    return ok;
  }));
  pids.push_back(Fork(sh, [&] { return Produce(*q, 0, n, batch); }));
  Start(sh, 2);
  const int64_t start = NowNs();
  sh->go.store(true);
  const bool ok = WaitAll(pids) && sh->failed.load() == 0;
  return ok ? n / ((sh->end_ns.load() - start) / 1e9) : -1;
}

double S4(Shared* sh, int64_t n, int batch) {
  Reset(sh);
  channel::QueueOptions options;
  options.maxsize = 1000;
  auto q = channel::JoinableQueue<demo::Small>::Create(options);
  if (!q.ok()) return -1;
  constexpr int kSide = 4;
  std::vector<pid_t> pids;
  for (int c = 0; c < kSide; ++c) {
    pids.push_back(Fork(sh, [&] { return Consume(*q, -1, batch, false, /*task_done=*/true); }));
  }
  for (int p = 0; p < kSide; ++p) {
    pids.push_back(Fork(sh, [&, p] { return Produce(*q, p * (n / kSide), n / kSide, batch); }));
  }
  Start(sh, 2 * kSide);
  const int64_t start = NowNs();
  sh->go.store(true);
  // Every item is put once the producers have exited (they flush first); then Join.
  const bool produced = WaitAll(std::vector<pid_t>(pids.begin() + kSide, pids.end()));
  const absl::Status joined = q->Join(absl::Seconds(120));
  const int64_t end = NowNs();
  q->Shutdown().IgnoreError();
  for (int c = 0; c < kSide; ++c) {
    int status;
    waitpid(pids[c], &status, 0);
  }
  const bool ok = produced && joined.ok() && sh->failed.load() == 0;
  return ok ? n / ((end - start) / 1e9) : -1;
}

double Median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return v.empty() ? 0 : v[v.size() / 2];
}

}  // namespace

int main(int argc, char** argv) {
  const int reps = Flag(argc, argv, "reps", 5);
  const int batch = Flag(argc, argv, "batch", 64);
  const int64_t n1 = Flag(argc, argv, "s1_messages", 1000000);
  const int64_t n4 = Flag(argc, argv, "s4_messages", 400000);
  auto* sh = static_cast<Shared*>(
      mmap(nullptr, sizeof(Shared), PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0));
  std::vector<double> s1, s1b, s4, s4b;
  for (int r = 0; r < reps; ++r) {  // interleaved: a load spike hits both variants alike
    s1.push_back(S1(sh, n1, 0));
    s1b.push_back(S1(sh, n1, batch));
    s4.push_back(S4(sh, n4, 0));
    s4b.push_back(S4(sh, n4, batch));
    fprintf(stderr, "rep %d: S1 %.2fM S1b %.2fM S4 %.2fM S4b %.2fM msg/s\n", r, s1.back() / 1e6,
            s1b.back() / 1e6, s4.back() / 1e6, s4b.back() / 1e6);
  }
  printf("batch %d, %d reps (medians, M msg/s)\n", batch, reps);
  printf("S1  %.2f   S1b %.2f   S1b/S1 %.2fx\n", Median(s1) / 1e6, Median(s1b) / 1e6,
         Median(s1b) / Median(s1));
  printf("S4  %.2f   S4b %.2f   S4b/S4 %.2fx\n", Median(s4) / 1e6, Median(s4b) / 1e6,
         Median(s4b) / Median(s4));
  return 0;
}
