// A consumer binary for the named JoinableQueue of producer.cc: takes jobs, "processes" them
// (prints one line each), marks each done, and stops at an end-of-stream job. It waits up to
// ten seconds for the queue to be created, so the binaries can be started in any order.
#include <unistd.h>

#include <cstdio>
#include <string>

#include "absl/time/clock.h"
#include "absl/strings/strip.h"
#include "channel/channel.h"
#include "schema/demo.capnp.h"

using Orders = channel::JoinableQueue<demo::Job>;


int main(int argc, char** argv) {
  if (argc != 2) {
    fprintf(stderr, "usage: %s [--queue=]QUEUE_NAME\n", argv[0]);
    return 2;
  }
  const absl::Time give_up = absl::Now() + absl::Seconds(10);
  const std::string name(absl::StripPrefix(argv[1], "--queue="));
  absl::StatusOr<Orders> queue = Orders::Open(name);
  while (absl::IsNotFound(queue.status()) && absl::Now() < give_up) {
    absl::SleepFor(absl::Milliseconds(50));  // nothing to wait on until the name exists
    queue = Orders::Open(name);
  }
  if (!queue.ok()) {
    fprintf(stderr, "consumer: %s\n", queue.status().ToString().c_str());
    return 1;
  }
  long processed = 0;
  for (;;) {
    absl::StatusOr<channel::Message<demo::Job>> job = queue->Get(absl::Seconds(60));
    if (!job.ok()) {
      fprintf(stderr, "consumer: get: %s\n", job.status().ToString().c_str());
      return 1;
    }
    const bool end = (*job)->isEndOfStream();
    if (!end) {
      printf("consumer %d: processed job %llu from %s\n", getpid(),
             static_cast<unsigned long long>((*job)->getId()), (*job)->getProducer().cStr());
      ++processed;
    }
    if (absl::Status s = queue->TaskDone(); !s.ok()) {
      fprintf(stderr, "consumer: task_done: %s\n", s.ToString().c_str());
      return 1;
    }
    if (end) break;
  }
  printf("consumer %d: done after %ld jobs\n", getpid(), processed);
  return 0;
}
