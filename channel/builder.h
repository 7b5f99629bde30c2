// Builder<T>: a Cap'n Proto message whose root is a T, built on the heap; the typed way to Put.
//
//   channel::Builder<demo::Job> job;
//   job.root().setId(7);
//   job.root().setPayload("hello");
//   absl::Status s = queue.Put(job);    // Queue<demo::Job>: serialized now, `job` reusable at once
//
// Putting a Builder<U> into a Queue<T> or JoinableQueue<T> with U != T does not compile (the
// queue's Put and PutNowait take only a Builder<T>). A Builder replaces the
// `capnp::MallocMessageBuilder` + `initRoot<T>()` pair, whose Put(capnp::MessageBuilder&) the
// compiler cannot check (queue.h says what that overload can and cannot catch at run time).
//
// message() gives the underlying builder, for orphans, capacity hints and the like. Changing its
// root through it (initRoot<Other>(), setRoot of another struct) defeats the typing; the queue
// then checks what Put(capnp::MessageBuilder&) checks.
//
// Movable, not copyable. A moved-from Builder has no message: only assign to it or destroy it.
// Not thread-safe: one thread builds at a time (Cap'n Proto builders are not synchronised).
#ifndef CHANNEL_BUILDER_H_
#define CHANNEL_BUILDER_H_

#include <memory>

#include <capnp/message.h>

namespace channel {

template <typename T>
class Builder {
 public:
  // A fresh message whose root is an empty T (every field at its default). Allocates.
  Builder() : message_(std::make_unique<capnp::MallocMessageBuilder>()) { message_->initRoot<T>(); }

  Builder(Builder&&) noexcept = default;
  Builder& operator=(Builder&&) noexcept = default;
  Builder(const Builder&) = delete;
  Builder& operator=(const Builder&) = delete;

  // The root struct, to set fields on.
  typename T::Builder root() { return message_->getRoot<T>(); }
  // The underlying message (see above).
  capnp::MessageBuilder& message() { return *message_; }

 private:
  // On the heap: capnp's builders cannot move, and a Builder must.
  std::unique_ptr<capnp::MallocMessageBuilder> message_;
};

}  // namespace channel

#endif  // CHANNEL_BUILDER_H_
