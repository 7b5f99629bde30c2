// Message<T>: one received item, owning its bytes.
//
//   absl::StatusOr<channel::Message<demo::Job>> m = queue.Get();
//   if (m.ok()) std::cout << (*m)->getId();   // or m->reader().getId()
//
// The payload was fully validated when it was received (every pointer, nesting depth, traversal
// amplification), so reading fields of reader() does not throw for malformed input. The reader
// stays valid while the Message lives, including after the Message is moved: it then reads the
// bytes the Message it was moved into owns, until that one is destroyed. Do not read a moved-from
// Message. Movable, not copyable; a const Message may be read from several threads.
#ifndef CHANNEL_MESSAGE_H_
#define CHANNEL_MESSAGE_H_

#include <capnp/serialize.h>

#include <cstddef>
#include <memory>
#include <utility>
#include <vector>

#include "absl/status/statusor.h"
#include "channel/internal/core/received.h"
#include "channel/internal/wire/payload.h"

namespace channel {

template <typename T>
class Message;

namespace internal {
// How the queues turn what the core received into a Message<T>.
template <typename T>
absl::StatusOr<Message<T>> ToMessage(absl::StatusOr<Received> received);
template <typename T>
absl::StatusOr<std::vector<Message<T>>> ToMessages(absl::StatusOr<std::vector<Received>> received);
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
  template <typename U>
  friend absl::StatusOr<Message<U>> internal::ToMessage(absl::StatusOr<internal::Received>);
  template <typename U>
  friend absl::StatusOr<std::vector<Message<U>>> internal::ToMessages(
      absl::StatusOr<std::vector<internal::Received>>);
  explicit Message(internal::Received received)
      : payload_(std::move(received.payload)),
        reader_(std::move(received.reader)),
        root_(received.root.as<T>()) {}

  internal::Payload payload_;
  std::unique_ptr<capnp::FlatArrayMessageReader> reader_;  // may be null
  typename T::Reader root_;
};

namespace internal {
template <typename T>
absl::StatusOr<Message<T>> ToMessage(absl::StatusOr<Received> received) {
  if (!received.ok()) return received.status();
  return Message<T>(*std::move(received));
}
template <typename T>
absl::StatusOr<std::vector<Message<T>>> ToMessages(absl::StatusOr<std::vector<Received>> received) {
  if (!received.ok()) return received.status();
  std::vector<Message<T>> messages;
  messages.reserve(received->size());
  for (Received& r : *received) messages.push_back(Message<T>(std::move(r)));
  return messages;
}
}  // namespace internal

}  // namespace channel

#endif  // CHANNEL_MESSAGE_H_
