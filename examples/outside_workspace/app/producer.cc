// producer QUEUE COUNT: creates the named queue QUEUE and puts COUNT orders into it, the last one
// marked. The orders stay in the queue after this program exits, until a consumer takes them.
#include <cstdio>
#include <cstdlib>
#include <string>

#include "channel/channel.h"
#include "orders/order.capnp.h"

int main(int argc, char** argv) {
  if (argc != 3) {
    std::fprintf(stderr, "usage: producer QUEUE COUNT\n");
    return 2;
  }
  const std::string name = argv[1];
  const long count = std::atol(argv[2]);
  auto queue = channel::Queue<shop::Order>::CreateNamed(name);
  if (!queue.ok()) {
    std::fprintf(stderr, "producer: %s\n", queue.status().ToString().c_str());
    return 1;
  }
  channel::Builder<shop::Order> order;
  for (long i = 1; i <= count; ++i) {
    order.root().setId(i);
    order.root().setItem("item-" + std::to_string(i));
    order.root().setCents(100 * i);
    order.root().setLast(i == count);
    if (absl::Status s = queue->Put(order); !s.ok()) {
      std::fprintf(stderr, "producer: %s\n", s.ToString().c_str());
      return 1;
    }
  }
  std::printf("producer: put %ld orders into queue \"%s\"\n", count, name.c_str());
  return 0;  // destroying the handle flushes the orders into the queue first
}
