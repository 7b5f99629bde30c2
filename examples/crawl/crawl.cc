// examples/crawl/crawl.cc
#include <unistd.h>

#include <cstdio>
#include <string>

#include "channel/channel.h"
#include "examples/crawl/jobs.capnp.h"  // generated: the .capnp's path from the workspace root

// Your work goes here; this one says what it got, now and then.
void Fetch(uint64_t id, capnp::Text::Reader url) {
  if (id % 250 != 0) return;
  printf("worker %d: fetched %s\n", getpid(), url.cStr());
  fflush(stdout);  // the daemon worker ends by SIGTERM, which flushes nothing
}

// Every call says what went wrong in its status.
int Fail(const absl::Status& status) {
  fprintf(stderr, "%s\n", status.ToString().c_str());
  return 1;
}

int main() {
  channel::QueueOptions options;
  options.maxsize = 100;                            // Put waits while 100 jobs are queued
  auto jobs = channel::JoinableQueue<app::Job>::Create(options);
  if (!jobs.ok()) return Fail(jobs.status());

  channel::Process worker([&jobs] {                 // a forked child: it shares the queue
    for (;;) {
      auto job = jobs->Get();                       // blocks; Get(absl::Seconds(5)) to bound it
      if (!job.ok()) return Fail(job.status());
      Fetch((*job)->getId(), (*job)->getUrl());
      if (absl::Status s = jobs->TaskDone(); !s.ok()) return Fail(s);
    }
  });
  worker.set_daemon(true);                          // stopped when main returns
  if (absl::Status s = worker.Start(); !s.ok()) return Fail(s);

  channel::Builder<app::Job> job;                   // a message whose root is an app::Job
  for (uint64_t i = 0; i < 1000; ++i) {
    job.root().setId(i);
    job.root().setUrl("https://example.com/" + std::to_string(i));
    if (absl::Status s = jobs->Put(job); !s.ok()) return Fail(s);  // serialized now: reusable
  }
  if (absl::Status s = jobs->Join(absl::Minutes(5)); !s.ok()) return Fail(s);
  printf("main: put 1000 jobs; the worker marked every one done\n");
  return 0;
}
