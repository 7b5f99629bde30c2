// QueueIdentity and QueueShape: what a queue is declared as, and the size it is made with. Every
// transport receives them from the queue core (transport.h); a named queue records its identity
// so that an Open under another type or kind is refused.
#ifndef CHANNEL_INTERNAL_CORE_QUEUE_IDENTITY_H_
#define CHANNEL_INTERNAL_CORE_QUEUE_IDENTITY_H_

#include <cstdint>
#include <string>

namespace channel {
namespace internal {

enum class QueueKind : uint32_t { kQueue = 1, kJoinableQueue = 2 };
const char* QueueKindName(QueueKind kind);

// What a handle is declared as: compared with the header when a named queue is opened.
struct QueueIdentity {
  QueueKind kind = QueueKind::kQueue;
  uint64_t type_id = 0;
  std::string type_name;  // the schema's display name, e.g. "schema/demo.capnp:Job"
};

// "Queue<schema/demo.capnp:Job>"-style description, for error messages.
std::string DescribeIdentity(const QueueIdentity& identity);

struct QueueShape {
  int64_t maxsize = 0;
  uint64_t max_message_bytes = 0;
  // Named queues keep items while no process has them open, in staging: give it room to grow.
  bool persistent = false;
};

}  // namespace internal
}  // namespace channel

#endif  // CHANNEL_INTERNAL_CORE_QUEUE_IDENTITY_H_
