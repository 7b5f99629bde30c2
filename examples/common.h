// Helpers shared by the tutorial examples (docs/tutorial.md): the --sleep_scale flag, Python-like
// sleep/print, exit-code plumbing for channel::Process, and the tutorial's producer/consumer
// building blocks over demo::Job.
#ifndef EXAMPLES_COMMON_H_
#define EXAMPLES_COMMON_H_

#include <unistd.h>

#include <initializer_list>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "channel/channel.h"
#include "schema/demo.capnp.h"

namespace examples {

// Parses the command line. --sleep_scale=F multiplies every sleep of the tutorial (default 1.0,
// the tutorial's real seconds; the tests pass 0.01).
void InitExample(int argc, char** argv);

// `duration` multiplied by --sleep_scale.
absl::Duration Scaled(absl::Duration duration);
// time.sleep(seconds), scaled.
void Sleep(absl::Duration duration);
// time.sleep(random.randint(low, high)), scaled. Each process draws its own numbers (a forked
// child does not replay its parent's random sequence).
void SleepRandomSeconds(int low, int high);

// print(line): the line and its newline in one write, flushed at once, so lines of concurrent
// processes never interleave and a daemon child killed later has lost nothing it printed.
void Print(absl::string_view line);

// time.asctime(): "Thu Nov 26 18:12:25 2026" (local time).
std::string AscTime();

// Reports "<pid> <what>: <status>" on stderr and returns 1, the exit code of a failed process
// (main or a channel::Process target): `if (!s.ok()) return Fail("put", s);`.
int Fail(absl::string_view what, const absl::Status& status);

// p.start() for each process, in order; the first error stops.
absl::Status StartAll(std::initializer_list<channel::Process*> processes);
// p.join() for each process, in order (without a bound, like Python's). A child that did not
// exit 0 is reported on stderr. Returns an exit code for main: 0 if every child exited 0, else 1.
int JoinAll(std::initializer_list<channel::Process*> processes);
int JoinAll(std::vector<channel::Process>& processes);

// A demo::Job message for Put (which serializes it before returning):
//   auto job = MakeJob("包子0");  q.Put(job);      is the tutorial's  q.put('包子0')
//   auto end = MakeEndOfStream();  q.Put(end);    is the tutorial's  q.put(None)
// The end signal is a variant of Job's union, so the consumer tests job.isEndOfStream().
channel::Builder<demo::Job> MakeJob(absl::string_view payload);
channel::Builder<demo::Job> MakeEndOfStream();

// The tutorial's producer loop, on a Queue or a JoinableQueue of demo::Job:
//   for i in range(count):
//     time.sleep(random.randint(1,3)); res='%s%s' %(name,i); q.put(res)
//     print('%s 生产了 %s' %(os.getpid(),res))
template <typename Queue>
absl::Status Produce(Queue& q, absl::string_view name, int count) {
  for (int i = 0; i < count; ++i) {
    SleepRandomSeconds(1, 3);
    const std::string res = absl::StrCat(name, i);
    channel::Builder<demo::Job> job = MakeJob(res);
    if (absl::Status s = q.Put(job); !s.ok()) return s;
    Print(absl::StrFormat("%d 生产了 %s", getpid(), res));
  }
  return absl::OkStatus();
}

// The tutorial's consumer body: time.sleep(random.randint(1,3)); print('%s 吃 %s' %(pid,res)).
void Eat(const demo::Job::Reader& job);

// The consumer of the end-signal programs (producer_end_signal, main_end_signal,
// many_producers):
//   while True:
//     res=q.get()
//     if res is None:break  # 收到结束信号则结束 (the end signal: stop)
//     time.sleep(random.randint(1,3)); print('%s 吃 %s' %(os.getpid(),res))
// Returns the process's exit code.
int ConsumeUntilEndOfStream(channel::Queue<demo::Job>& q);

}  // namespace examples

#endif  // EXAMPLES_COMMON_H_
