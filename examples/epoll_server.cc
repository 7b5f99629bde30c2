// One plain epoll loop serving two queues and a timer: the use ReadableFd() exists for.
//
// Two producer processes put jobs into two queues ("orders" and "refunds", each their own
// Queue<demo::Job>); the server, in the main process, waits in epoll_wait on both queues'
// ReadableFd() and on a timerfd, with no thread of its own and no polling:
//   - a queue's descriptor is readable: drain it with GetNowait until IsEmpty (level-triggered:
//     what is left keeps it readable), and serve each job;
//   - the timer fires: print a tick (the server's periodic work);
//   - a queue is shut down and empty (GetNowait reports IsShutDown): stop watching it.
// The server runs in its own process; main shuts both queues down once the producers are done,
// and the server drains what is left and exits when neither queue is watched.
#include <sys/epoll.h>
#include <sys/timerfd.h>
#include <unistd.h>

#include <cstdint>
#include <string>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "channel/channel.h"
#include "examples/common.h"
#include "schema/demo.capnp.h"

using examples::Fail;
using JobQueue = channel::Queue<demo::Job>;

namespace {

struct Watched {
  const char* name;
  JobQueue* queue;
  int fd = -1;
  int served = 0;
  bool open = true;
};

// Serves everything `w` has now; stops watching it once it is shut down and empty.
absl::Status Drain(Watched& w, int epoll_fd) {
  for (;;) {
    absl::StatusOr<channel::Message<demo::Job>> job = w.queue->GetNowait();
    if (channel::IsEmpty(job.status())) return absl::OkStatus();  // back to epoll_wait
    if (channel::IsShutDown(job.status())) {
      w.open = false;
      epoll_ctl(epoll_fd, EPOLL_CTL_DEL, w.fd, nullptr);
      examples::Print(absl::StrFormat("server: closed %s after %d jobs", w.name, w.served));
      return absl::OkStatus();
    }
    if (!job.ok()) return job.status();
    ++w.served;
    examples::Print(absl::StrFormat("server: %s %s", w.name, (*job)->getPayload().cStr()));
  }
}

int Serve(Watched* queues, int count) {
  const int epoll_fd = epoll_create1(EPOLL_CLOEXEC);
  const int timer_fd = timerfd_create(CLOCK_MONOTONIC, TFD_CLOEXEC | TFD_NONBLOCK);
  if (epoll_fd < 0 || timer_fd < 0) return Fail("epoll/timerfd", absl::InternalError("create"));
  const int64_t tick_ns = absl::ToInt64Nanoseconds(examples::Scaled(absl::Milliseconds(500)));
  itimerspec every{};
  every.it_interval.tv_sec = tick_ns / 1000000000;
  every.it_interval.tv_nsec = tick_ns % 1000000000;
  every.it_value = every.it_interval;
  timerfd_settime(timer_fd, 0, &every, nullptr);
  epoll_event ev{};
  ev.events = EPOLLIN;
  ev.data.u32 = static_cast<uint32_t>(count);  // the timer
  epoll_ctl(epoll_fd, EPOLL_CTL_ADD, timer_fd, &ev);
  for (int i = 0; i < count; ++i) {
    absl::StatusOr<int> fd = queues[i].queue->ReadableFd();
    if (!fd.ok()) return Fail("ReadableFd", fd.status());
    queues[i].fd = *fd;
    ev.data.u32 = static_cast<uint32_t>(i);
    epoll_ctl(epoll_fd, EPOLL_CTL_ADD, *fd, &ev);
  }
  int open = count;
  uint64_t ticks = 0;
  while (open > 0) {
    epoll_event ready[4];
    const int n = epoll_wait(epoll_fd, ready, 4, /*timeout_ms=*/60 * 1000);
    if (n == 0) return Fail("epoll_wait", absl::DeadlineExceededError("nothing for 60 s"));
    for (int e = 0; e < n; ++e) {
      const uint32_t which = ready[e].data.u32;
      if (which == static_cast<uint32_t>(count)) {
        uint64_t expirations = 0;
        if (read(timer_fd, &expirations, sizeof expirations) == sizeof expirations) {
          ticks += expirations;
          examples::Print(absl::StrCat("server: tick ", ticks));
        }
        continue;
      }
      Watched& w = queues[which];
      if (!w.open) continue;
      if (absl::Status s = Drain(w, epoll_fd); !s.ok()) return Fail(w.name, s);
      if (!w.open) --open;
    }
  }
  close(timer_fd);
  close(epoll_fd);
  return 0;
}

int Producer(JobQueue& q, const char* what, int count) {
  for (int i = 0; i < count; ++i) {
    examples::Sleep(absl::Milliseconds(300 + 200 * (i % 3)));
    const std::string payload = absl::StrCat(what, i);
    channel::Builder<demo::Job> job = examples::MakeJob(payload);
    if (absl::Status s = q.Put(job); !s.ok()) return Fail("put", s);
  }
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  examples::InitExample(argc, argv);
  absl::StatusOr<JobQueue> orders = JobQueue::Create();
  absl::StatusOr<JobQueue> refunds = JobQueue::Create();
  if (!orders.ok()) return Fail("create", orders.status());
  if (!refunds.ok()) return Fail("create", refunds.status());
  channel::Process p1([&] { return Producer(*orders, "order", 6); });
  channel::Process p2([&] { return Producer(*refunds, "refund", 4); });
  channel::Process server([&] {
    Watched queues[] = {{"orders", &*orders}, {"refunds", &*refunds}};
    return Serve(queues, 2);
  });
  if (absl::Status s = examples::StartAll({&server, &p1, &p2}); !s.ok()) return Fail("start", s);
  if (int failed = examples::JoinAll({&p1, &p2}); failed != 0) return failed;
  // The producers are done (their items are in the queues): the server serves what is left,
  // then sees each queue shut down.
  if (absl::Status s = orders->Shutdown(); !s.ok()) return Fail("shutdown", s);
  if (absl::Status s = refunds->Shutdown(); !s.ok()) return Fail("shutdown", s);
  examples::Print("主 (main): both queues shut down");
  return examples::JoinAll({&server});
}
