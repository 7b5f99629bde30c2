// A producer binary that shares a named JoinableQueue with separately started consumer binaries
// (see consumer.cc): it opens the queue by name (creating it if this is the first process),
// puts jobs, and waits until consumers have marked every one done.
//
//   bazel-bin/examples/heterogeneous/producer orders 100 0 &
//   bazel-bin/examples/heterogeneous/consumer orders &
//
// The queue may live on NATS JetStream instead, for programs on different machines
// (docs/distributed.md): --queue=nats://nats1:4222,nats2:4222/orders
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <string>

#include "absl/strings/strip.h"
#include "channel/channel.h"
#include "schema/demo.capnp.h"

using Orders = channel::JoinableQueue<demo::Job>;


int main(int argc, char** argv) {
  if (argc != 4) {
    fprintf(stderr, "usage: %s [--queue=]QUEUE_NAME COUNT FIRST_ID\n", argv[0]);
    return 2;
  }
  const std::string name(absl::StripPrefix(argv[1], "--queue="));
  const long count = atol(argv[2]);
  const long first_id = atol(argv[3]);

  // Open-or-create. A queue left by an earlier run still holds that run's unconsumed jobs,
  // and consumers get them first; to start clean, Orders::Unlink(name).IgnoreError() before
  // CreateNamed, in the one process that starts first.
  absl::StatusOr<Orders> queue = Orders::CreateNamed(name);
  if (absl::IsAlreadyExists(queue.status())) queue = Orders::Open(name);
  if (!queue.ok()) {
    fprintf(stderr, "producer: %s\n", queue.status().ToString().c_str());
    return 1;
  }
  for (long i = 0; i < count; ++i) {
    channel::Builder<demo::Job> message;
    demo::Job::Builder job = message.root();
    job.setId(static_cast<uint64_t>(first_id + i));
    job.setProducer(std::to_string(getpid()));
    job.setPayload("order " + std::to_string(first_id + i));
    if (absl::Status s = queue->Put(message); !s.ok()) {
      fprintf(stderr, "producer: put: %s\n", s.ToString().c_str());
      return 1;
    }
  }
  printf("producer %d: put %ld jobs, waiting for them to be done\n", getpid(), count);
  fflush(stdout);
  if (absl::Status s = queue->Join(absl::Seconds(60)); !s.ok()) {
    fprintf(stderr, "producer: join: %s\n", s.ToString().c_str());
    return 1;
  }
  printf("producer %d: all %ld jobs done\n", getpid(), count);
  return 0;
}
