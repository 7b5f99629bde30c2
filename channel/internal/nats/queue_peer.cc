// queue_peer: a separate program the transport tests exec as producer or consumer of a named
// queue (any transport: the name selects it). A fresh process rather than a fork, because a
// fork of a process that already runs the NATS client's threads may inherit its locks held.
//
//   queue_peer NAME produce COUNT FIRST_ID       JoinableQueue: Put COUNT jobs, print "put N"
//   queue_peer NAME consume                       JoinableQueue: Get + TaskDone until an
//                                                 end-of-stream job; prints "done ID" per job
//                                                 (or "undone ID" if its TaskDone failed)
//   queue_peer NAME take_and_hang                 JoinableQueue: Get one, print "got ID", then
//                                                 wait (to be SIGKILLed before TaskDone)
//   queue_peer NAME put_plain COUNT               Queue: Put COUNT jobs
// Exit code 0 on success; statuses go to stderr.
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <string>

#include <capnp/message.h>

#include "absl/time/clock.h"
#include "channel/channel.h"
#include "schema/demo.capnp.h"

namespace {

using Jobs = channel::JoinableQueue<demo::Job>;

int Fail(const char* what, const absl::Status& s) {
  fprintf(stderr, "queue_peer %d: %s: %s\n", getpid(), what, s.ToString().c_str());
  return 1;
}

template <typename Q>
absl::Status PutJob(Q& q, uint64_t id) {
  capnp::MallocMessageBuilder m;
  auto job = m.initRoot<demo::Job>();
  job.setId(id);
  job.setPayload("job");
  return q.Put(m, absl::Seconds(60));
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 3) {
    fprintf(stderr, "usage: %s NAME MODE ARGS...\n", argv[0]);
    return 2;
  }
  const std::string name = argv[1], mode = argv[2];
  setvbuf(stdout, nullptr, _IOLBF, 0);
  if (mode == "put_plain") {
    auto q = channel::Queue<demo::Job>::Open(name);
    if (!q.ok()) return Fail("open", q.status());
    for (long i = 0; i < atol(argv[3]); ++i) {
      if (absl::Status s = PutJob(*q, i); !s.ok()) return Fail("put", s);
    }
    return 0;
  }
  auto q = Jobs::Open(name);
  if (!q.ok()) return Fail("open", q.status());
  if (mode == "produce") {
    const long count = atol(argv[3]), first = atol(argv[4]);
    for (long i = 0; i < count; ++i) {
      if (absl::Status s = PutJob(*q, first + i); !s.ok()) return Fail("put", s);
    }
    printf("put %ld\n", count);
    return 0;
  }
  if (mode == "consume") {
    // Rides out transient failures (a server of a cluster dying): gives up only after a minute
    // without an item. An item whose TaskDone failed is reported as "undone ID" (it may come
    // again); "done ID" only after TaskDone succeeded.
    absl::Time last_item = absl::Now();
    for (;;) {
      auto job = q->Get(absl::Seconds(10));
      if (!job.ok()) {
        if (channel::IsClosed(job.status()) || absl::Now() - last_item > absl::Minutes(1)) {
          return Fail("get", job.status());
        }
        if (!channel::IsEmpty(job.status())) fprintf(stderr, "get: %s\n", job.status().ToString().c_str());
        continue;
      }
      last_item = absl::Now();
      const bool end = (*job)->isEndOfStream();
      const unsigned long long id = (*job)->getId();
      if (absl::Status s = q->TaskDone(); !s.ok()) {
        fprintf(stderr, "task_done: %s\n", s.ToString().c_str());
        printf("undone %llu\n", id);
        continue;
      }
      if (end) return 0;
      printf("done %llu\n", id);
    }
  }
  if (mode == "take_and_hang") {
    auto job = q->Get(absl::Seconds(60));
    if (!job.ok()) return Fail("get", job.status());
    printf("got %llu\n", static_cast<unsigned long long>((*job)->getId()));
    pause();
    return 0;
  }
  fprintf(stderr, "unknown mode %s\n", mode.c_str());
  return 2;
}
