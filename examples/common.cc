#include "examples/common.h"

#include <stdio.h>

#include <random>

#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "absl/flags/usage.h"

ABSL_FLAG(double, sleep_scale, 1.0,
          "Multiplies every sleep of the tutorial (1.0: its real seconds; tests use 0.01).");

namespace examples {

void InitExample(int argc, char** argv) {
  absl::SetProgramUsageMessage(
      "a typed_channel example (docs/tutorial.md). Flags: --sleep_scale=F multiplies every "
      "sleep (default 1.0).");
  absl::ParseCommandLine(argc, argv);
}

absl::Duration Scaled(absl::Duration duration) {
  return duration * absl::GetFlag(FLAGS_sleep_scale);
}

void Sleep(absl::Duration duration) { absl::SleepFor(Scaled(duration)); }

void SleepRandomSeconds(int low, int high) {
  // A fresh device per call: an engine seeded once would be copied into every forked child,
  // and all of them would sleep the same sequence.
  std::random_device device;
  Sleep(absl::Seconds(std::uniform_int_distribution<int>(low, high)(device)));
}

void Print(absl::string_view line) {
  const std::string text = absl::StrCat(line, "\n");
  fwrite(text.data(), 1, text.size(), stdout);
  fflush(stdout);
}

std::string AscTime() {
  return absl::FormatTime("%a %b %e %H:%M:%S %Y", absl::Now(), absl::LocalTimeZone());
}

int Fail(absl::string_view what, const absl::Status& status) {
  fprintf(stderr, "%d %s: %s\n", static_cast<int>(getpid()), std::string(what).c_str(),
          status.ToString().c_str());
  return 1;
}

absl::Status StartAll(std::initializer_list<channel::Process*> processes) {
  for (channel::Process* p : processes) {
    if (absl::Status s = p->Start(); !s.ok()) return s;
  }
  return absl::OkStatus();
}

namespace {

// Joins `p`; returns 0 if it exited 0, else reports it and returns 1.
int Join(channel::Process& p) {
  const pid_t pid = p.pid();
  absl::StatusOr<int> code = p.Join();
  if (!code.ok()) return Fail(absl::StrCat("join ", pid), code.status());
  if (*code == 0) return 0;
  fprintf(stderr, "child %d exited with code %d\n", static_cast<int>(pid), *code);
  return 1;
}

}  // namespace

int JoinAll(std::initializer_list<channel::Process*> processes) {
  int failed = 0;
  for (channel::Process* p : processes) failed |= Join(*p);
  return failed;
}

int JoinAll(std::vector<channel::Process>& processes) {
  int failed = 0;
  for (channel::Process& p : processes) failed |= Join(p);
  return failed;
}

channel::Builder<demo::Job> MakeJob(absl::string_view payload) {
  channel::Builder<demo::Job> job;
  job.root().setPayload(std::string(payload));
  return job;
}

channel::Builder<demo::Job> MakeEndOfStream() {
  channel::Builder<demo::Job> end;
  end.root().setEndOfStream();
  return end;
}

void Eat(const demo::Job::Reader& job) {
  SleepRandomSeconds(1, 3);
  Print(absl::StrFormat("%d 吃 %s", getpid(), job.getPayload().cStr()));
}

int ConsumeUntilEndOfStream(channel::Queue<demo::Job>& q) {
  for (;;) {
    absl::StatusOr<channel::Message<demo::Job>> res = q.Get();
    if (!res.ok()) return Fail("get", res.status());
    if (res->reader().isEndOfStream()) break;  // 收到结束信号则结束
    Eat(res->reader());
  }
  return 0;
}

}  // namespace examples
