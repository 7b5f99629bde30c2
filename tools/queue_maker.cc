// queue_maker: the program channelctl_test runs to make named queues look like production ones.
//
//   queue_maker KIND ACTION NAME [COUNT]      KIND: queue | joinable; queues of demo::Job
//     create NAME MAXSIZE   creates the queue (0: unbounded) and exits
//     put NAME COUNT        puts COUNT jobs (id i, payload "job-i") and exits (flushed)
//     put_hang NAME COUNT   puts COUNT jobs, waits until they are written, prints "ready",
//                           then waits for ever (the test SIGKILLs it)
//     get NAME COUNT        gets COUNT jobs (TaskDone each for joinable) and exits
//     get_hang NAME         prints "ready", then blocks in Get for ever
//     put_block NAME        fills the bounded queue, prints "ready", then blocks in Put
// Exit: 0 done; 1 a call failed (the status on stderr); 2 usage.
#include <unistd.h>

#include <cstdio>
#include <iostream>
#include <string>

#include <capnp/message.h>

#include "absl/status/status.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "channel/channel.h"
#include "schema/demo.capnp.h"

namespace {

int Failed(const absl::Status& s) {
  std::cerr << "queue_maker: " << s << "\n";
  return 1;
}

void Ready() {
  std::cout << "ready" << std::endl;
}

template <typename Q>
int Run(const std::string& action, const std::string& name, int64_t count) {
  if (action == "create") {
    channel::QueueOptions options;
    options.maxsize = count;
    auto q = Q::CreateNamed(name, options);
    return q.ok() ? 0 : Failed(q.status());
  }
  auto q = Q::Open(name);
  if (!q.ok()) return Failed(q.status());
  auto put = [&](int64_t i, absl::Duration timeout) {
    capnp::MallocMessageBuilder message;  // a fresh one: a reused builder keeps old texts
    auto job = message.initRoot<demo::Job>();
    job.setProducer(std::to_string(getpid()));
    job.setId(static_cast<uint64_t>(i));
    job.setPayload(absl::StrCat("job-", i));
    return q->Put(message, timeout);
  };
  if (action == "put" || action == "put_hang") {
    for (int64_t i = 0; i < count; ++i) {
      if (absl::Status s = put(i, absl::Seconds(30)); !s.ok()) return Failed(s);
    }
    if (action == "put") return 0;
    q->Close();
    if (absl::Status s = q->JoinThread(); !s.ok()) return Failed(s);  // all written to the pipe
    Ready();
    for (;;) pause();
  }
  if (action == "get") {
    for (int64_t i = 0; i < count; ++i) {
      auto item = q->Get(absl::Seconds(30));
      if (!item.ok()) return Failed(item.status());
      if constexpr (std::is_same_v<Q, channel::JoinableQueue<demo::Job>>) {
        if (absl::Status s = q->TaskDone(); !s.ok()) return Failed(s);
      }
    }
    return 0;
  }
  if (action == "get_hang") {
    Ready();
    auto item = q->Get();
    return item.ok() ? 0 : Failed(item.status());
  }
  if (action == "put_block") {
    for (int64_t i = 0; q->maxsize() > 0 && i < q->maxsize(); ++i) {
      if (absl::Status s = put(i, absl::Seconds(30)); !s.ok()) return Failed(s);
    }
    Ready();
    absl::Status s = put(-1, absl::InfiniteDuration());
    return s.ok() ? 0 : Failed(s);
  }
  std::cerr << "queue_maker: unknown action " << action << "\n";
  return 2;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 4) {
    std::cerr << "usage: queue_maker queue|joinable ACTION NAME [COUNT]\n";
    return 2;
  }
  const std::string kind = argv[1];
  int64_t count = 0;
  if (argc > 4 && !absl::SimpleAtoi(argv[4], &count)) return 2;
  if (kind == "queue") return Run<channel::Queue<demo::Job>>(argv[2], argv[3], count);
  if (kind == "joinable") return Run<channel::JoinableQueue<demo::Job>>(argv[2], argv[3], count);
  return 2;
}
