// consumer QUEUE COUNT: opens the named queue QUEUE, takes orders until the last one, checks
// there were COUNT of them in order, and removes the queue.
#include <cstdio>
#include <cstdlib>
#include <string>

#include "channel/channel.h"
#include "orders/order.capnp.h"

int main(int argc, char** argv) {
  if (argc != 3) {
    std::fprintf(stderr, "usage: consumer QUEUE COUNT\n");
    return 2;
  }
  const std::string name = argv[1];
  const long count = std::atol(argv[2]);
  auto queue = channel::Queue<shop::Order>::Open(name);
  if (!queue.ok()) {
    std::fprintf(stderr, "consumer: %s\n", queue.status().ToString().c_str());
    return 1;
  }
  long got = 0;
  long long cents = 0;
  for (;;) {
    auto order = queue->Get(absl::Seconds(60));
    if (!order.ok()) {
      std::fprintf(stderr, "consumer: after %ld orders: %s\n", got,
                   order.status().ToString().c_str());
      return 1;
    }
    ++got;
    if ((*order)->getId() != static_cast<uint64_t>(got)) {
      std::fprintf(stderr, "consumer: order %ld has id %llu\n", got,
                   static_cast<unsigned long long>((*order)->getId()));
      return 1;
    }
    cents += (*order)->getCents();
    if ((*order)->getLast()) break;
  }
  if (absl::Status s = channel::Queue<shop::Order>::Unlink(name); !s.ok()) {
    std::fprintf(stderr, "consumer: %s\n", s.ToString().c_str());
    return 1;
  }
  std::printf("consumer: got %ld orders from queue \"%s\", %lld cents in all\n", got,
              name.c_str(), cents);
  return got == count ? 0 : 1;
}
