// Message<T>: one received item, owning its bytes.
//
//   absl::StatusOr<channel::Message<demo::Job>> m = queue.Get();
//   if (m.ok()) std::cout << (*m)->getId();   // or m->reader().getId()
//
// The payload was fully validated when it was received (every pointer, nesting depth, traversal
// amplification), so reading fields of reader() does not throw for malformed input. The reader
// stays valid while the Message lives, including after the Message is moved. Movable, not
// copyable; a const Message may be read from several threads.
#ifndef CHANNEL_MESSAGE_H_
#define CHANNEL_MESSAGE_H_

#include <cstddef>
#include <memory>
#include <utility>

#include <capnp/serialize.h>

#include "channel/internal/wire/payload.h"

namespace channel {
namespace internal {
template <typename Derived, typename T>
class QueueBase;
}  // namespace internal

template <typename T>
class Message {
 public:
  Message(Message&&) noexcept = default;
  Message& operator=(Message&&) noexcept = default;
  Message(const Message&) = delete;
  Message& operator=(const Message&) = delete;

  // The decoded root; valid while this Message lives.
  typename T::Reader reader() const { return root_; }
  typename T::Reader operator*() const { return root_; }
  // Lets `message->getField()` read like a pointer to the struct.
  const typename T::Reader* operator->() const { return &root_; }
  // Serialized size (what QueueOptions::max_message_bytes limits).
  size_t size_bytes() const { return payload_.bytes; }

 private:
  template <typename Derived, typename U>
  friend class internal::QueueBase;
  // `root` reads `payload`, through `reader` unless that is null (internal::OpenedPayload).
  Message(internal::Payload payload, std::unique_ptr<capnp::FlatArrayMessageReader> reader,
          typename T::Reader root)
      : payload_(std::move(payload)), reader_(std::move(reader)), root_(root) {}

  internal::Payload payload_;
  std::unique_ptr<capnp::FlatArrayMessageReader> reader_;  // may be null
  typename T::Reader root_;
};

}  // namespace channel

#endif  // CHANNEL_MESSAGE_H_
