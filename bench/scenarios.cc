// The scenario list and the drivers shared by every C++ system. Each driver forks the processes
// a scenario needs (consumers or servers first, so that a system needing a bound endpoint finds
// it), waits until all are set up, starts them together, and verifies what arrived: S1/S2/S5
// check that ids arrive complete and in order, S3 that each reply carries its request's id, S4
// that every id was received exactly once, and with fresh messages every payload's checksum.
// Any mismatch fails the repetition.
//
// CPU time: each child reads its own CPU time (all its threads: ZeroMQ's I/O thread and the
// like count) when the start signal comes and again when its measured work is over (after the
// last message, or for senders once the receivers have everything), and adds the difference to
// Control::cpu_ns; the coordinator adds its own over the run.
//
// Senders stay connected until the receivers have everything: a producer that has sent its
// share waits for Control::Stop() before Finish(). (ZeroMQ loses messages still queued towards
// a PULL socket at its receive HWM when their PUSH peer disconnects; S4 showed it.) The clock
// stops when the last message is received (S1, S2, S5) or when Join returns (S4), so this wait
// is not measured.
#include "bench/scenarios.h"

#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <functional>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "bench/harness.h"
#include "bench/payload.h"

namespace bench {
namespace {

constexpr int kPoll = 50;  // ms: how often S4 consumers look at the stop flag when idle

double Mib(int64_t kb) { return static_cast<double>(kb) / 1024.0; }

std::string DescribeMemory(const MemorySnapshot& m) {
  return absl::StrFormat("%.1f (anon %.1f, file %.1f, shmem %.1f)", Mib(m.rss_kb), Mib(m.anon_kb),
                         Mib(m.file_kb), Mib(m.shmem_kb));
}

std::string DescribeMemory(const ChildMemory& m, int64_t peak_kb) {
  return absl::StrCat("MiB: set up ", DescribeMemory(m.setup), "; warm ", DescribeMemory(m.warm),
                      "; end ", DescribeMemory(m.end), "; peak ",
                      absl::StrFormat("%.1f", Mib(peak_kb)));
}

std::string UniqueTag() {
  static int counter = 0;
  return absl::StrCat(getpid(), "_", counter++);
}

// The body of a child: runs `body` and turns its error into the run's error.
int RunChild(Control& control, const std::function<absl::Status()>& body) {
  absl::Status s = body();
  if (s.ok()) return 0;
  control.Fail(s.ToString());
  return 1;
}

absl::Status EndpointError(const char* what, const Endpoint& ep) {
  return absl::InternalError(absl::StrCat(what, ": ", ep.error()));
}

absl::Status Receive(Endpoint& ep, int timeout_ms, uint64_t* id, const ChannelSpec& spec,
                     bool* timed_out = nullptr) {
  Received got;
  const RecvResult r = ep.Recv(timeout_ms, &got);
  if (timed_out != nullptr) *timed_out = r == RecvResult::kTimeout;
  if (r == RecvResult::kTimeout && timed_out != nullptr) return absl::OkStatus();
  if (r == RecvResult::kTimeout) return absl::DeadlineExceededError("receive timed out");
  if (r != RecvResult::kOk) return EndpointError("receive", ep);
  *id = got.id;
  if (got.data_bytes != spec.payload_bytes) {
    return absl::DataLossError(absl::StrCat("message ", got.id, " has ", got.data_bytes,
                                            " data bytes, expected ", spec.payload_bytes));
  }
  if (spec.fresh_messages && got.checksum != ExpectedChecksum(got.id, got.data_bytes)) {
    return absl::DataLossError(absl::StrCat("message ", got.id, ": payload checksum mismatch"));
  }
  return absl::OkStatus();
}

// CPU time of every process of a run (Control::cpu_ns plus the coordinator's own since
// `coordinator_start_ns`), in us per operation.
double CpuMicrosPer(const Control& control, int64_t coordinator_start_ns, int64_t operations) {
  const int64_t ns = control.cpu_ns.load() + (CpuNanos() - coordinator_start_ns);
  return static_cast<double>(ns) / 1e3 / static_cast<double>(operations);
}

absl::Status Finish(Endpoint& ep) {
  return ep.Finish() ? absl::OkStatus() : EndpointError("finish", ep);
}

// Joins a run's children and explains a failure with the first error a child reported.
absl::Status Collect(Fleet& fleet, Control& control, absl::Time deadline) {
  absl::Status s = fleet.Wait(deadline);
  if (s.ok()) return s;
  const std::string child_error = control.error_text();
  if (absl::IsDeadlineExceeded(s)) {
    return absl::DeadlineExceededError(absl::StrCat("did not finish within the time limit",
                                                    child_error.empty() ? "" : ": ", child_error));
  }
  return child_error.empty() ? s : absl::InternalError(child_error);
}

// ---- S1, S2, S5: one producer, one consumer ------------------------------------------------

struct OneToOne {
  double seconds = 0;
  double cpu_us = 0;  // per message
  int64_t producer_sampled_peak_kb = 0;  // S5: VmRSS sampled by the coordinator
  int64_t consumer_sampled_peak_kb = 0;
  ChildMemory producer{};  // S5: the children's own readings
  ChildMemory consumer{};
};

// Sends `n` messages. With `s5`, the consumer pauses 1 ms every params.s5_pause_every messages,
// both children read their memory once set up, after params.s5_warmup messages and at the end,
// and the coordinator samples both processes' VmRSS every 20 ms.
absl::StatusOr<OneToOne> RunOneToOne(System& system, const ChannelSpec& spec, int64_t n, bool s5,
                                     const Params& params) {
  SharedArray<Control> control;
  absl::StatusOr<std::unique_ptr<Channel>> channel = system.MakeChannel(spec);
  if (!channel.ok()) return channel.status();
  Channel& ch = **channel;
  const absl::Time deadline = absl::Now() + params.run_timeout;
  const int64_t warm_at = s5 ? std::min(params.s5_warmup, n) - 1 : -1;
  ChildMemory& producer_memory = control->producer_memory;
  ChildMemory& consumer_memory = control->consumer_memory;
  Fleet fleet;

  absl::StatusOr<pid_t> consumer = fleet.Spawn([&] {
    return RunChild(*control, [&]() -> absl::Status {
      absl::StatusOr<std::unique_ptr<Endpoint>> ep = ch.OpenConsumer(0);
      if (!ep.ok()) return ep.status();
      if (s5) consumer_memory.setup = ReadMemory();
      control->ReadyThenWaitForGo();
      const int64_t cpu_start = CpuNanos();
      for (int64_t i = 0; i < n; ++i) {
        uint64_t id = 0;
        absl::Status s = Receive(**ep, -1, &id, spec);
        if (!s.ok()) return s;
        if (id != static_cast<uint64_t>(i)) {
          return absl::DataLossError(absl::StrCat("expected message ", i, ", got ", id));
        }
        if (i == warm_at) consumer_memory.warm = ReadMemory();
        if (s5 && (i + 1) % params.s5_pause_every == 0) usleep(1000);
      }
      control->end_ns.store(NowNanos());
      control->AddCpu(cpu_start);
      control->Stop();
      absl::Status s = Finish(**ep);
      if (s5) consumer_memory.end = ReadMemory();
      return s;
    });
  });
  if (!consumer.ok()) return consumer.status();
  absl::Status ready = control->WaitReady(1, fleet, deadline);
  if (!ready.ok()) return ready;

  absl::StatusOr<pid_t> producer = fleet.Spawn([&] {
    return RunChild(*control, [&]() -> absl::Status {
      absl::StatusOr<std::unique_ptr<Endpoint>> ep = ch.OpenProducer(0);
      if (!ep.ok()) return ep.status();
      if (s5) producer_memory.setup = ReadMemory();
      control->ReadyThenWaitForGo();
      const int64_t cpu_start = CpuNanos();
      for (int64_t i = 0; i < n; ++i) {
        if (!(*ep)->Send(static_cast<uint64_t>(i))) return EndpointError("send", **ep);
        if (i == warm_at) producer_memory.warm = ReadMemory();
      }
      if (!(*ep)->Flush()) return EndpointError("flush", **ep);
      control->WaitForStop();
      control->AddCpu(cpu_start);
      absl::Status s = Finish(**ep);
      if (s5) producer_memory.end = ReadMemory();
      return s;
    });
  });
  if (!producer.ok()) return producer.status();
  ready = control->WaitReady(2, fleet, deadline);
  if (!ready.ok()) return ready;

  OneToOne result;
  const int64_t coordinator_cpu = CpuNanos();
  const int64_t start = control->Go();
  for (;;) {
    const absl::Time until =
        s5 ? std::min(deadline, absl::Now() + absl::Milliseconds(20)) : deadline;
    absl::Status s = Collect(fleet, *control, until);
    if (s.ok()) break;
    if (!absl::IsDeadlineExceeded(s) || absl::Now() >= deadline) return s;
    result.producer_sampled_peak_kb =
        std::max(result.producer_sampled_peak_kb, ProcStatusKb(*producer, "VmRSS"));
    result.consumer_sampled_peak_kb =
        std::max(result.consumer_sampled_peak_kb, ProcStatusKb(*consumer, "VmRSS"));
  }
  result.seconds = static_cast<double>(control->end_ns.load() - start) / 1e9;
  result.cpu_us = CpuMicrosPer(*control, coordinator_cpu, n);
  result.producer = producer_memory;
  result.consumer = consumer_memory;
  return result;
}

// ---- S3: ping-pong ------------------------------------------------------------------------

absl::StatusOr<Sample> RunPingPong(System& system, const ChannelSpec& spec, int64_t roundtrips,
                                   const Params& params) {
  SharedArray<Control> control;
  absl::StatusOr<std::unique_ptr<Link>> link = system.MakeLink(spec);
  if (!link.ok()) return link.status();
  Link& ln = **link;
  const int64_t total = params.s3_warmup + roundtrips;
  const absl::Time deadline = absl::Now() + params.run_timeout;
  Fleet fleet;

  absl::StatusOr<pid_t> server = fleet.Spawn([&] {
    return RunChild(*control, [&]() -> absl::Status {
      absl::Status pinned = PinToCpu(params.s3_server_cpu);
      if (!pinned.ok()) return pinned;
      absl::StatusOr<std::unique_ptr<Endpoint>> ep = ln.OpenServer();
      if (!ep.ok()) return ep.status();
      control->ReadyThenWaitForGo();
      const int64_t cpu_start = CpuNanos();
      for (int64_t i = 0; i < total; ++i) {
        uint64_t id = 0;
        absl::Status s = Receive(**ep, -1, &id, spec);
        if (!s.ok()) return s;
        if (!(*ep)->Send(id)) return EndpointError("send", **ep);
        if (!(*ep)->Flush()) return EndpointError("flush", **ep);
      }
      control->WaitForStop();
      control->AddCpu(cpu_start);
      return Finish(**ep);
    });
  });
  if (!server.ok()) return server.status();
  absl::Status ready = control->WaitReady(1, fleet, deadline);
  if (!ready.ok()) return ready;

  absl::StatusOr<pid_t> client = fleet.Spawn([&] {
    return RunChild(*control, [&]() -> absl::Status {
      absl::Status pinned = PinToCpu(params.s3_client_cpu);
      if (!pinned.ok()) return pinned;
      absl::StatusOr<std::unique_ptr<Endpoint>> ep = ln.OpenClient();
      if (!ep.ok()) return ep.status();
      std::vector<double> rtt_us;
      rtt_us.reserve(static_cast<size_t>(roundtrips));
      control->ReadyThenWaitForGo();
      const int64_t cpu_start = CpuNanos();
      for (int64_t i = 0; i < total; ++i) {
        const int64_t t0 = NowNanos();
        if (!(*ep)->Send(static_cast<uint64_t>(i)) || !(*ep)->Flush()) {
          return EndpointError("send", **ep);
        }
        uint64_t id = 0;
        absl::Status s = Receive(**ep, -1, &id, spec);
        if (!s.ok()) return s;
        const int64_t t1 = NowNanos();
        if (id != static_cast<uint64_t>(i)) {
          return absl::DataLossError(absl::StrCat("reply to ", i, " carries id ", id));
        }
        if (i >= params.s3_warmup) rtt_us.push_back(static_cast<double>(t1 - t0) / 1e3);
      }
      control->AddCpu(cpu_start);
      control->Stop();
      control->p50_us = Percentile(rtt_us, 50);
      control->p99_us = Percentile(rtt_us, 99);
      return Finish(**ep);
    });
  });
  if (!client.ok()) return client.status();
  ready = control->WaitReady(2, fleet, deadline);
  if (!ready.ok()) return ready;
  const int64_t coordinator_cpu = CpuNanos();
  control->Go();
  absl::Status s = Collect(fleet, *control, deadline);
  if (!s.ok()) return s;
  Sample sample;
  sample.p50_us = control->p50_us;
  sample.p99_us = control->p99_us;
  // The warm-up round trips ran inside the CPU window too.
  sample.cpu_us = CpuMicrosPer(*control, coordinator_cpu, total);
  return sample;
}

// ---- S4: N producers -> M consumers, TaskDone per item, Join at the end ---------------------

absl::StatusOr<Sample> RunFanInOut(System& system, const ChannelSpec& spec, int64_t n,
                                   const Params& params) {
  SharedArray<Control> control;
  SharedArray<uint8_t> seen(static_cast<size_t>(n));  // deliveries per id
  absl::StatusOr<std::unique_ptr<Channel>> channel = system.MakeChannel(spec);
  if (!channel.ok()) return channel.status();
  Channel& ch = **channel;
  const bool native_join = ch.native_join();
  control->done_target = n;
  const absl::Time deadline = absl::Now() + params.run_timeout;
  Fleet fleet;

  for (int c = 0; c < spec.consumers; ++c) {
    absl::StatusOr<pid_t> pid = fleet.Spawn([&, c] {
      return RunChild(*control, [&]() -> absl::Status {
        absl::StatusOr<std::unique_ptr<Endpoint>> ep = ch.OpenConsumer(c);
        if (!ep.ok()) return ep.status();
        control->ReadyThenWaitForGo();
        const int64_t cpu_start = CpuNanos();
        while (control->stop.load(std::memory_order_relaxed) == 0) {
          uint64_t id = 0;
          bool timed_out = false;
          absl::Status s = Receive(**ep, kPoll, &id, spec, &timed_out);
          if (!s.ok()) return s;
          if (timed_out) continue;
          if (id >= static_cast<uint64_t>(n)) {
            return absl::DataLossError(absl::StrCat("unexpected id ", id));
          }
          __atomic_fetch_add(&seen[id], 1, __ATOMIC_RELAXED);
          if (native_join) {
            if (!(*ep)->TaskDone()) return EndpointError("task_done", **ep);
          } else if (control->done.fetch_add(1) + 1 == control->done_target) {
            // Emulated Join: the last TaskDone wakes the coordinator.
            control->all_done.store(1);
            FutexWakeAll(&control->all_done);
          }
        }
        control->AddCpu(cpu_start);
        return Finish(**ep);
      });
    });
    if (!pid.ok()) return pid.status();
  }
  absl::Status ready = control->WaitReady(static_cast<uint32_t>(spec.consumers), fleet, deadline);
  if (!ready.ok()) return ready;

  for (int p = 0; p < spec.producers; ++p) {
    const uint64_t first = static_cast<uint64_t>(n * p / spec.producers);
    const uint64_t end = static_cast<uint64_t>(n * (p + 1) / spec.producers);
    absl::StatusOr<pid_t> pid = fleet.Spawn([&, p, first, end] {
      return RunChild(*control, [&]() -> absl::Status {
        absl::StatusOr<std::unique_ptr<Endpoint>> ep = ch.OpenProducer(p);
        if (!ep.ok()) return ep.status();
        control->ReadyThenWaitForGo();
        const int64_t cpu_start = CpuNanos();
        for (uint64_t id = first; id < end; ++id) {
          if (!(*ep)->Send(id)) return EndpointError("send", **ep);
        }
        if (!(*ep)->Flush()) return EndpointError("flush", **ep);
        control->SenderDone();
        control->WaitForStop();
        control->AddCpu(cpu_start);
        return Finish(**ep);
      });
    });
    if (!pid.ok()) return pid.status();
  }
  ready =
      control->WaitReady(static_cast<uint32_t>(spec.consumers + spec.producers), fleet, deadline);
  if (!ready.ok()) return ready;

  const int64_t coordinator_cpu = CpuNanos();
  const int64_t start = control->Go();
  absl::Status s = control->WaitSendersDone(static_cast<uint32_t>(spec.producers), deadline);
  if (!s.ok()) return s;
  if (native_join) {
    s = ch.Join(deadline - absl::Now());
  } else {
    while (control->all_done.load() == 0) {
      if (!control->error_text().empty()) return absl::InternalError(control->error_text());
      if (absl::Now() >= deadline) {
        return absl::DeadlineExceededError(
            absl::StrCat("only ", control->done.load(), " of ", n, " items were done in time"));
      }
      FutexWait(&control->all_done, 0, 100 * 1000 * 1000);
    }
  }
  const int64_t end = NowNanos();
  if (!s.ok()) return s;
  control->Stop();
  s = Collect(fleet, *control, deadline);
  if (!s.ok()) return s;

  int64_t missing = 0;
  int64_t duplicated = 0;
  for (int64_t i = 0; i < n; ++i) {
    missing += seen[static_cast<size_t>(i)] == 0;
    duplicated += seen[static_cast<size_t>(i)] > 1;
  }
  if (missing != 0 || duplicated != 0) {
    return absl::DataLossError(
        absl::StrCat(missing, " ids never received, ", duplicated, " received more than once"));
  }
  Sample sample;
  sample.value = static_cast<double>(n) / (static_cast<double>(end - start) / 1e9);
  sample.cpu_us = CpuMicrosPer(*control, coordinator_cpu, n);
  return sample;
}

// ---- The runner ---------------------------------------------------------------------------

class NativeRunner final : public Runner {
 public:
  NativeRunner(std::unique_ptr<System> system, std::set<std::string> scenarios)
      : system_(std::move(system)), scenarios_(std::move(scenarios)) {}
  std::string name() const override { return system_->name(); }
  bool Supports(const ScenarioDef& s) const override { return scenarios_.count(s.name) != 0; }

  absl::StatusOr<Sample> Run(const ScenarioDef& def, const Params& p) override {
    ChannelSpec spec;
    spec.tag = UniqueTag();
    spec.payload_bytes = def.payload_bytes;
    spec.capacity = def.maxsize;
    spec.producers = def.producers;
    spec.consumers = def.consumers;
    spec.fresh_messages = def.fresh_messages;
    Sample sample;
    switch (def.driver) {
      case Driver::kOneToOne: {
        absl::StatusOr<OneToOne> r = RunOneToOne(*system_, spec, def.messages, false, p);
        if (!r.ok()) return r.status();
        const double n = static_cast<double>(def.messages);
        sample.value = def.metric == Metric::kGBPerSecond
                           ? n * static_cast<double>(spec.payload_bytes) / r->seconds / 1e9
                           : n / r->seconds;
        sample.cpu_us = r->cpu_us;
        return sample;
      }
      case Driver::kPingPong:
        return RunPingPong(*system_, spec, def.messages, p);
      case Driver::kFanInOut:
        spec.joinable = true;
        return RunFanInOut(*system_, spec, def.messages, p);
      case Driver::kMemory: {
        absl::StatusOr<OneToOne> r = RunOneToOne(*system_, spec, def.messages, true, p);
        if (!r.ok()) return r.status();
        sample.value = static_cast<double>(def.messages) / r->seconds;
        sample.cpu_us = r->cpu_us;
        const int64_t producer_peak = std::max(r->producer.end.hwm_kb, r->producer_sampled_peak_kb);
        const int64_t consumer_peak = std::max(r->consumer.end.hwm_kb, r->consumer_sampled_peak_kb);
        sample.producer_start_mib = Mib(r->producer.warm.rss_kb);
        sample.consumer_start_mib = Mib(r->consumer.warm.rss_kb);
        sample.producer_peak_mib = Mib(producer_peak);
        sample.consumer_peak_mib = Mib(consumer_peak);
        sample.detail = absl::StrCat("producer ", DescribeMemory(r->producer, producer_peak),
                                     "\n    consumer ", DescribeMemory(r->consumer, consumer_peak));
        return sample;
      }
    }
    return absl::InvalidArgumentError("unknown driver");
  }

 private:
  std::unique_ptr<System> system_;
  std::set<std::string> scenarios_;
};

}  // namespace

std::vector<ScenarioDef> ScenarioList(const Params& p) {
  std::vector<ScenarioDef> list;
  // Appends a scenario judged by `target` against `rivals`; the caller sets the rest.
  auto add = [&list](std::string name, std::string label, Driver driver, Metric metric,
                     size_t payload, int64_t messages, int64_t maxsize, Target target,
                     std::vector<std::string> rivals) -> ScenarioDef& {
    ScenarioDef s{std::move(name), std::move(label), driver, metric, payload, messages, maxsize};
    s.target = target;
    s.rivals = std::move(rivals);
    list.push_back(std::move(s));
    return list.back();
  };
  const char* made = p.prebuilt ? "pre-built" : "built per msg";
  add("S1",
      absl::StrCat("S1 small 1->1, ", p.s1_messages, " msgs, maxsize ", p.s1_maxsize, ", ", made),
      Driver::kOneToOne, Metric::kMsgPerSecond, p.small_payload, p.s1_messages, p.s1_maxsize,
      Target::kThroughput, {"boost", "zeromq"})
      .fresh_messages = !p.prebuilt;
  add("S2",
      absl::StrCat("S2 1 MiB 1->1, ", p.s2_messages, " msgs, maxsize ", p.s2_maxsize, ", ", made),
      Driver::kOneToOne, Metric::kGBPerSecond, p.large_payload, p.s2_messages, p.s2_maxsize,
      Target::kThroughput, {"boost"})
      .fresh_messages = !p.prebuilt;
  const std::string placement =
      p.s3_client_cpu < 0 ? std::string("unpinned")
                          : absl::StrCat("CPUs ", p.s3_client_cpu, "/", p.s3_server_cpu);
  add("S3", absl::StrCat("S3 ping-pong, ", p.s3_roundtrips, " round trips, ", placement),
      Driver::kPingPong, Metric::kRoundTripUs, p.small_payload, p.s3_roundtrips, p.s1_maxsize,
      Target::kLatency, {"bare_pipe", "boost"});
  for (int n : p.s4_scale) {
    // "S4" is 4 -> 4, the scenario's original shape; the others are named by their size.
    ScenarioDef& s4 =
        add(n == 4 ? std::string("S4") : absl::StrCat("S4x", n),
            absl::StrCat("S4 ", n, "->", n, " JoinableQueue, ", p.s4_messages, " msgs"),
            Driver::kFanInOut, Metric::kMsgPerSecond, p.small_payload, p.s4_messages,
            p.s4_maxsize, Target::kThroughput, {"boost", "zeromq"});
    s4.producers = n;
    s4.consumers = n;
  }
  add("S5", "S5 RSS start -> peak", Driver::kMemory, Metric::kRssMiB, p.small_payload,
      p.s5_messages, p.s5_maxsize, Target::kMemory, {});
  return list;
}

Params Params::Full() { return Params(); }

Params Params::Quick() {
  Params p;
  p.s1_messages = 100000;
  p.s2_messages = 200;
  p.s3_roundtrips = 2000;
  p.s3_warmup = 200;
  p.s4_messages = 40000;
  p.s5_messages = 300000;
  p.s5_pause_every = 1000;
  p.run_timeout = absl::Seconds(60);
  return p;
}

std::unique_ptr<Runner> MakeNativeRunner(std::unique_ptr<System> system,
                                         std::set<std::string> scenarios) {
  return std::make_unique<NativeRunner>(std::move(system), std::move(scenarios));
}

}  // namespace bench
