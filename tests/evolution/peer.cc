// One program, built twice: against v1/job.capnp (peer_v1) and v2/job.capnp (peer_v2), where v2
// adds fields. The two binaries share a named queue in either direction.
//
//   peer_vN produce NAME COUNT   creates queue NAME and puts COUNT orders, then exits
//   peer_vN consume NAME COUNT   opens NAME, takes COUNT orders and checks every field it knows
//
// Exit code 0 when everything matched.
#include <cstdio>
#include <cstdlib>
#include <string>

#include <capnp/message.h>

#include "channel/channel.h"
#include JOB_HEADER

using Orders = channel::Queue<evolution::Order>;

int main(int argc, char** argv) {
  if (argc != 4) return 2;
  const std::string mode = argv[1];
  const char* name = argv[2];
  const int count = atoi(argv[3]);
  if (mode == "produce") {
    auto q = Orders::CreateNamed(name);
    if (!q.ok()) return fprintf(stderr, "%s\n", q.status().ToString().c_str()), 1;
    for (int i = 0; i < count; ++i) {
      capnp::MallocMessageBuilder m;
      auto order = m.initRoot<evolution::Order>();
      order.setId(i);
      order.setItem("item " + std::to_string(i));
#if SCHEMA_VERSION >= 2
      order.setQuantity(i + 10);
      order.initNotes(1).set(0, "fragile");
#endif
      if (!q->Put(m).ok()) return 1;
    }
    return 0;
  }
  auto q = Orders::Open(name);
  if (!q.ok()) return fprintf(stderr, "%s\n", q.status().ToString().c_str()), 1;
  for (int i = 0; i < count; ++i) {
    auto m = q->Get(absl::Seconds(30));
    if (!m.ok()) return fprintf(stderr, "%s\n", m.status().ToString().c_str()), 1;
    evolution::Order::Reader order = m->reader();
    if (order.getId() != static_cast<uint64_t>(i) ||
        std::string(order.getItem().cStr()) != "item " + std::to_string(i)) {
      return fprintf(stderr, "order %d: wrong id or item\n", i), 3;
    }
#if SCHEMA_VERSION >= 2
    // From a v1 producer the new fields read as their defaults; from v2, as written.
    const bool from_v2 = order.getNotes().size() == 1;
    if (from_v2 ? order.getQuantity() != static_cast<uint32_t>(i + 10) ||
                      std::string(order.getNotes()[0].cStr()) != "fragile"
                : order.getQuantity() != 1) {
      return fprintf(stderr, "order %d: wrong quantity or notes\n", i), 4;
    }
    printf("order %d from a v%d producer\n", i, from_v2 ? 2 : 1);
#endif
  }
  return 0;
}
