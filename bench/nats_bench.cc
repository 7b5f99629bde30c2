// nats_bench: typed_channel over NATS JetStream beside the engine's own ceiling, in one run.
//
//   bazel run -c opt //bench:nats_bench -- [--messages=N] [--reps=R] [--storage=file|memory]
//
// It starts a nats-server -js on a loopback port (its own temporary store), then runs, in turns
// (one repetition of every system before the next repetition of any, so that load from other
// work on the machine spreads over all of them):
//   raw_sync   js_Publish of N 56-byte messages (an id and 48 bytes, as S1's), each waiting for
//              its PubAck: the synchronous publish+ack rate of this server and client library
//   raw_async  js_PublishAsync of N such messages, up to 4096 in flight, then waiting for every
//              PubAck: the pipelined ceiling
//   tc_S1      S1 over NATS: one producer program Put()s N demo::Small (48 bytes of data) into a
//              Queue (maxsize 1000), one consumer program Get()s them; items per second from
//              start to the consumer's last Get
//   tc_put_only, tc_get_only  S1's sides apart on an unbounded queue: one program Put()s N
//              items, then another Get()s them (where S1's time goes)
//   tc_S4      S4 over NATS: 4 producer and 4 consumer programs on a JoinableQueue (maxsize
//              1000), consumers TaskDone() each item; items per second until Join() returns
// and prints medians, the worst repetition, and the ratios the targets are about.
// Programs are exec'd (this binary with --role), not forked: see queue_peer.cc for why.
#include <nats/nats.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <map>
#include <string>
#include <vector>

#include <capnp/message.h>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/match.h"
#include "absl/strings/string_view.h"
#include "absl/time/clock.h"
#include "channel/channel.h"
#include "channel/internal/nats/nats_test_server.h"
#include "schema/demo.capnp.h"

namespace {

constexpr size_t kData = 48;

std::string self_path;

pid_t Run(const std::vector<std::string>& args) {
  const pid_t pid = fork();
  if (pid == 0) {
    std::vector<char*> argv;
    argv.push_back(self_path.data());
    for (const std::string& a : args) argv.push_back(const_cast<char*>(a.c_str()));
    argv.push_back(nullptr);
    execv(self_path.c_str(), argv.data());
    _exit(127);
  }
  return pid;
}

bool Reap(pid_t pid) {
  int status = 0;
  waitpid(pid, &status, 0);
  if (WIFEXITED(status) && WEXITSTATUS(status) == 0) return true;
  fprintf(stderr, "child %d: status %d\n", pid, status);
  return false;
}

// --- Roles (child programs) ---

template <typename Q>
int Produce(const std::string& url, int64_t n) {
  auto q = Q::Open(url);
  if (!q.ok()) return fprintf(stderr, "%s\n", q.status().ToString().c_str()), 1;
  capnp::MallocMessageBuilder b;
  auto m = b.initRoot<demo::Small>();
  m.initData(kData);
  for (int64_t i = 0; i < n; ++i) {
    m.setId(static_cast<uint64_t>(i));
    if (absl::Status s = q->Put(b); !s.ok()) return fprintf(stderr, "%s\n", s.ToString().c_str()), 1;
  }
  return 0;
}

// A consumer of a known count (S1), or until an end item (S4: an id of UINT64_MAX).
template <typename Q>
int Consume(const std::string& url, int64_t n) {
  auto q = Q::Open(url);
  if (!q.ok()) return fprintf(stderr, "%s\n", q.status().ToString().c_str()), 1;
  for (int64_t i = 0; n < 0 || i < n; ++i) {
    auto m = q->Get(absl::Seconds(60));
    if (!m.ok()) return fprintf(stderr, "%s\n", m.status().ToString().c_str()), 1;
    const bool end = (*m)->getId() == UINT64_MAX;
    if constexpr (std::is_same_v<Q, channel::JoinableQueue<demo::Small>>) {
      if (absl::Status s = q->TaskDone(); !s.ok()) {
        return fprintf(stderr, "%s\n", s.ToString().c_str()), 1;
      }
    }
    if (end) break;
  }
  return 0;
}

// --- Systems (in the coordinator) ---

struct Raw {
  natsConnection* nc = nullptr;
  jsCtx* js = nullptr;
  explicit Raw(const std::string& server, bool memory) {
    natsConnection_ConnectTo(&nc, server.c_str());
    jsOptions o;
    jsOptions_Init(&o);
    o.PublishAsync.MaxPending = 4096;
    natsConnection_JetStream(&js, nc, &o);
    jsStreamConfig cfg;
    jsStreamConfig_Init(&cfg);
    cfg.Name = "RAW";
    const char* subjects[] = {"raw"};
    cfg.Subjects = subjects;
    cfg.SubjectsLen = 1;
    cfg.Retention = js_WorkQueuePolicy;
    cfg.Storage = memory ? js_MemoryStorage : js_FileStorage;
    js_AddStream(nullptr, js, &cfg, nullptr, nullptr);
  }
  ~Raw() {
    js_DeleteStream(js, "RAW", nullptr, nullptr);
    jsCtx_Destroy(js);
    natsConnection_Destroy(nc);
  }
  double Sync(int64_t n) {
    std::vector<char> msg(8 + kData, 1);
    const absl::Time start = absl::Now();
    for (int64_t i = 0; i < n; ++i) {
      memcpy(msg.data(), &i, 8);
      jsPubAck* ack = nullptr;
      if (js_Publish(&ack, js, "raw", msg.data(), static_cast<int>(msg.size()), nullptr,
                     nullptr) != NATS_OK) {
        return 0;
      }
      jsPubAck_Destroy(ack);
    }
    const double rate = n / absl::ToDoubleSeconds(absl::Now() - start);
    js_PurgeStream(js, "RAW", nullptr, nullptr);
    return rate;
  }
  double Async(int64_t n) {
    std::vector<char> msg(8 + kData, 1);
    const absl::Time start = absl::Now();
    for (int64_t i = 0; i < n; ++i) {
      memcpy(msg.data(), &i, 8);
      if (js_PublishAsync(js, "raw", msg.data(), static_cast<int>(msg.size()), nullptr) !=
          NATS_OK) {
        return 0;
      }
    }
    jsPubOptions po;
    jsPubOptions_Init(&po);
    po.MaxWait = 60000;
    if (js_PublishAsyncComplete(js, &po) != NATS_OK) return 0;
    const double rate = n / absl::ToDoubleSeconds(absl::Now() - start);
    js_PurgeStream(js, "RAW", nullptr, nullptr);
    return rate;
  }
};

double TypedS1(const std::string& base, const std::string& query, int rep, int64_t n) {
  const std::string url = absl::StrCat(base, "/s1_", rep, query);
  channel::QueueOptions o;
  o.maxsize = 1000;
  auto q = channel::Queue<demo::Small>::CreateNamed(url, o);
  if (!q.ok()) return fprintf(stderr, "%s\n", q.status().ToString().c_str()), 0;
  const absl::Time start = absl::Now();
  const pid_t consumer = Run({"--role=consume", url, absl::StrCat(n)});
  const pid_t producer = Run({"--role=produce", url, absl::StrCat(n)});
  const bool ok = Reap(producer) & Reap(consumer);
  const double rate = ok ? n / absl::ToDoubleSeconds(absl::Now() - start) : 0;
  channel::Queue<demo::Small>::Unlink(url);
  return rate;
}

// S1's two halves apart, unbounded: N Puts, then N Gets (rates of each side alone).
std::pair<double, double> TypedSides(const std::string& base, const std::string& query, int rep,
                                     int64_t n) {
  const std::string url = absl::StrCat(base, "/sides_", rep, query);
  auto q = channel::Queue<demo::Small>::CreateNamed(url);
  if (!q.ok()) return {0, 0};
  absl::Time start = absl::Now();
  bool ok = Reap(Run({"--role=produce", url, absl::StrCat(n)}));
  const double put = ok ? n / absl::ToDoubleSeconds(absl::Now() - start) : 0;
  start = absl::Now();
  ok = Reap(Run({"--role=consume", url, absl::StrCat(n)}));
  const double get = ok ? n / absl::ToDoubleSeconds(absl::Now() - start) : 0;
  channel::Queue<demo::Small>::Unlink(url);
  return {put, get};
}

double TypedS4(const std::string& base, const std::string& query, int rep, int64_t n) {
  const std::string url = absl::StrCat(base, "/s4_", rep, query);
  channel::QueueOptions o;
  o.maxsize = 1000;
  auto q = channel::JoinableQueue<demo::Small>::CreateNamed(url, o);
  if (!q.ok()) return fprintf(stderr, "%s\n", q.status().ToString().c_str()), 0;
  const absl::Time start = absl::Now();
  std::vector<pid_t> consumers, producers;
  for (int i = 0; i < 4; ++i) consumers.push_back(Run({"--role=consume_joinable", url, "-1"}));
  for (int i = 0; i < 4; ++i) producers.push_back(Run({"--role=produce_joinable", url, absl::StrCat(n / 4)}));
  bool ok = true;
  for (pid_t p : producers) ok &= Reap(p);
  if (absl::Status joined = q->Join(absl::Seconds(300)); !joined.ok()) {
    fprintf(stderr, "S4 join: %s\n", joined.ToString().c_str());
    ok = false;
  }
  const double rate = ok ? n / absl::ToDoubleSeconds(absl::Now() - start) : 0;
  capnp::MallocMessageBuilder end;
  end.initRoot<demo::Small>().setId(UINT64_MAX);
  for (int i = 0; i < 4; ++i) q->Put(end, absl::Seconds(10)).IgnoreError();
  for (pid_t p : consumers) ok &= Reap(p);
  channel::JoinableQueue<demo::Small>::Unlink(url);
  return rate;
}

double Median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return v.empty() ? 0 : v[v.size() / 2];
}

}  // namespace

int main(int argc, char** argv) {
  self_path = argv[0];
  if (argc >= 2 && absl::StartsWith(argv[1], "--role=")) {
    const absl::string_view role = absl::string_view(argv[1]).substr(7);
    const std::string url = argv[2];
    int64_t n = 0;
    if (!absl::SimpleAtoi(argv[3], &n)) return 2;
    using Plain = channel::Queue<demo::Small>;
    using Joinable = channel::JoinableQueue<demo::Small>;
    if (role == "produce") return Produce<Plain>(url, n);
    if (role == "consume") return Consume<Plain>(url, n);
    if (role == "produce_joinable") return Produce<Joinable>(url, n);
    if (role == "consume_joinable") return Consume<Joinable>(url, n);
    return 2;
  }
  int64_t messages = 20000;
  int reps = 3;
  bool memory = false;
  for (int i = 1; i < argc; ++i) {
    const absl::string_view a = argv[i];
    if (absl::StartsWith(a, "--messages=")) {
      if (!absl::SimpleAtoi(a.substr(11), &messages)) return 2;
    } else if (absl::StartsWith(a, "--reps=")) {
      if (!absl::SimpleAtoi(a.substr(7), &reps)) return 2;
    } else if (a == "--storage=memory") {
      memory = true;
    } else if (a != "--storage=file") {
      fprintf(stderr, "usage: %s [--messages=N] [--reps=R] [--storage=file|memory]\n", argv[0]);
      return 2;
    }
  }
  channel::testing::NatsTestServer server;
  if (!server.Start()) return fprintf(stderr, "nats-server: %s\n", server.log().c_str()), 1;
  const std::string base = absl::StrCat("nats://", server.address());
  const std::string query = memory ? "?storage=memory" : "";
  std::map<std::string, std::vector<double>> results;
  {
    Raw raw(base, memory);
    for (int rep = 0; rep < reps; ++rep) {
      results["raw_sync"].push_back(raw.Sync(messages));
      results["raw_async"].push_back(raw.Async(messages));
      results["tc_S1"].push_back(TypedS1(base, query, rep, messages));
      results["tc_S4"].push_back(TypedS4(base, query, rep, messages));
      const auto [put, get] = TypedSides(base, query, rep, messages);
      results["tc_put_only"].push_back(put);
      results["tc_get_only"].push_back(get);
      fprintf(stderr, "rep %d: raw_sync %.0f raw_async %.0f tc_S1 %.0f tc_S4 %.0f msg/s\n", rep,
              results["raw_sync"].back(), results["raw_async"].back(), results["tc_S1"].back(),
              results["tc_S4"].back());
    }
  }
  printf("NATS JetStream on loopback, %s storage, %lld messages, %d repetitions (msg/s)\n",
         memory ? "memory" : "file", static_cast<long long>(messages), reps);
  for (const auto& [name, v] : results) {
    printf("  %-10s median %10.0f   worst %10.0f\n", name.c_str(), Median(v),
           *std::min_element(v.begin(), v.end()));
  }
  printf("  tc_S1 / raw_sync  = %.2f (target >= 0.5)\n",
         Median(results["tc_S1"]) / Median(results["raw_sync"]));
  printf("  tc_S4 / raw_async = %.2f (target >= 0.7 with a pipelining feeder)\n",
         Median(results["tc_S4"]) / Median(results["raw_async"]));
  return 0;
}
