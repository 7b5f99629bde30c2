// JoinableQueue<T>: a Queue<T> whose consumers report each item done, so producers can wait
// until everything they put has been processed (Python's multiprocessing.JoinableQueue).
//
//   auto q = channel::JoinableQueue<demo::Job>::Create();
//   // consumer:  auto job = q->Get(); Process(**job); q->TaskDone();
//   // producer:  ... q->Put(job) ...; q->Join(absl::Minutes(1));
//
// The unfinished count lives in the queue's shared memory: Put adds one, TaskDone (from any
// process) removes one, and Join waits for zero. Items lost to a dead process before delivery are
// removed from the count automatically. An item delivered to a consumer that then died before
// TaskDone stays unfinished (nobody can know whether it was processed): Join waits for it, and
// Join's timeout is how a caller finds out.
//
// Everything else is Queue<T>'s: the same methods with the same contracts (queue.h: blocking,
// timeouts, status codes, thread safety, moved-from handles, destruction, failure behaviour),
// declared again below so that this header lists the whole surface. A JoinableQueue's name
// cannot be opened as a Queue, nor the reverse (kFailedPrecondition naming both kinds); queues
// of every kind and type share one namespace of names.
#ifndef CHANNEL_JOINABLE_QUEUE_H_
#define CHANNEL_JOINABLE_QUEUE_H_

#include <capnp/message.h>

#include <cstddef>
#include <cstdint>
#include <type_traits>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "absl/types/span.h"
#include "channel/builder.h"
#include "channel/internal/core/queue_core.h"
#include "channel/message.h"
#include "channel/options.h"
#include "channel/stats.h"
#include "channel/status.h"

namespace channel {

template <typename T>
class JoinableQueue {
 public:
  // ---- What only a JoinableQueue has ----

  // Marks one item done; lock-free, never blocks. kOutOfRange ("task_done() called too many
  // times"): more calls than items ever put. One such extra call racing with the queue counting
  // undelivered items lost (after a producer or consumer died) may pass instead, leaving
  // unfinished() at -1 (Join then returns at once); calls matching Gets are never refused.
  // kFailedPrecondition: the handle was moved from. Works after Close().
  absl::Status TaskDone() { return core_.TaskDone(); }

  // Waits until every item put has been marked done, by any process, up to `timeout`; sleeps,
  // never busy-waits. OK at once if nothing is unfinished. kDeadlineExceeded: items remain at
  // the timeout (the message says how many). kFailedPrecondition: the handle was moved from.
  // Works after Close(). After Shutdown(immediate = true) the dropped items count as done: Join
  // then waits only for the items Get already returned.
  absl::Status Join(absl::Duration timeout = absl::InfiniteDuration()) {
    return core_.Join(timeout);
  }

  // Items put and not yet marked done, across all processes (an addition to CPython's API, for
  // monitoring: Join waits for this to reach zero). 0 if moved from. May run the reaper, as
  // qsize() does.
  int64_t unfinished() const { return core_.unfinished(); }

  // ---- As Queue<T> (queue.h) ----

  // Anonymous queue; forked children share it. kInvalidArgument for bad options.
  static absl::StatusOr<JoinableQueue> Create(QueueOptions options = {}) {
    return Wrap(internal::QueueCore::Create(kKind, internal::MessageTypeOf<T>(), options));
  }
  // kAlreadyExists, kInvalidArgument, and the directory's statuses: as Queue<T>.
  static absl::StatusOr<JoinableQueue> CreateNamed(absl::string_view name,
                                                   QueueOptions options = {}) {
    return Wrap(
        internal::QueueCore::CreateNamed(name, kKind, internal::MessageTypeOf<T>(), options));
  }
  // kNotFound; kFailedPrecondition for a Queue or another type under that name; kDataLoss.
  static absl::StatusOr<JoinableQueue> Open(absl::string_view name) {
    return Wrap(internal::QueueCore::Open(name, kKind, internal::MessageTypeOf<T>()));
  }
  // Removes whatever queue has the name. kNotFound; kInvalidArgument.
  static absl::Status Unlink(absl::string_view name) { return internal::QueueCore::Unlink(name); }

  // Adds one to unfinished() with the item. IsFull, IsShutDown, kInvalidArgument, IsClosed: as
  // Queue<T>.
  absl::Status Put(typename T::Reader message, absl::Duration timeout = absl::InfiniteDuration()) {
    return core_.Put(capnp::AnyStruct::Reader(message), timeout);
  }
  // A Builder<U> of another type U does not compile (queue.h).
  absl::Status Put(Builder<T>& message, absl::Duration timeout = absl::InfiniteDuration()) {
    return core_.Put(message.message(), timeout);
  }
  template <typename U>
  absl::Status Put(Builder<U>& message, absl::Duration timeout = absl::InfiniteDuration()) {
    static_assert(std::is_same<U, T>::value,
                  "a channel::Builder<U> cannot be put into a queue of another type T");
    return core_.Put(message.message(), timeout);
  }
  // Refuses a root whose size differs from T's, and only that (queue.h says what that catches).
  absl::Status Put(capnp::MessageBuilder& message,
                   absl::Duration timeout = absl::InfiniteDuration()) {
    return core_.Put(message, timeout);
  }
  absl::Status PutNowait(typename T::Reader message) { return Put(message, absl::ZeroDuration()); }
  absl::Status PutNowait(Builder<T>& message) { return Put(message, absl::ZeroDuration()); }
  template <typename U>
  absl::Status PutNowait(Builder<U>& message) {
    return Put(message, absl::ZeroDuration());  // does not compile for U != T, as Put
  }
  absl::Status PutNowait(capnp::MessageBuilder& message) {
    return Put(message, absl::ZeroDuration());
  }

  // IsEmpty, IsClosed, IsShutDown, kDataLoss: as Queue<T>. Call TaskDone() when the item is
  // processed.
  absl::StatusOr<Message<T>> Get(absl::Duration timeout = absl::InfiniteDuration()) {
    return internal::ToMessage<T>(core_.Get(timeout));
  }
  absl::StatusOr<Message<T>> GetNowait() { return Get(absl::ZeroDuration()); }

  // Each item put adds one to unfinished(). As Queue<T>::PutMany.
  absl::Status PutMany(absl::Span<const typename T::Reader> messages,
                       absl::Duration timeout = absl::InfiniteDuration(), size_t* put = nullptr) {
    return core_.PutMany(
        messages.size(), [&](size_t i) { return capnp::AnyStruct::Reader(messages[i]); }, timeout,
        put);
  }
  // As Queue<T>::GetMany; TaskDone() once per message.
  absl::StatusOr<std::vector<Message<T>>> GetMany(
      size_t max_items, absl::Duration timeout = absl::InfiniteDuration()) {
    return internal::ToMessages<T>(core_.GetMany(max_items, timeout));
  }
  // As Queue<T>::ReadableFd.
  absl::StatusOr<int> ReadableFd() { return core_.ReadableFd(); }

  int64_t qsize() const { return core_.qsize(); }
  bool empty() const { return qsize() == 0; }
  bool full() const { return maxsize() > 0 && qsize() >= maxsize(); }
  int64_t maxsize() const { return core_.maxsize(); }
  size_t max_message_bytes() const { return core_.max_message_bytes(); }
  QueueStats stats() const { return core_.stats(); }

  // As Queue<T>::Shutdown; the items it drops count as done.
  absl::Status Shutdown(bool immediate = false) { return core_.Shutdown(immediate); }
  // Close() stops Put and Get on this handle only: TaskDone() and Join() keep working.
  void Close() { core_.Close(); }
  absl::Status JoinThread() { return core_.JoinThread(); }
  void CancelJoinThread() { core_.CancelJoinThread(); }

  JoinableQueue(JoinableQueue&&) noexcept = default;
  JoinableQueue& operator=(JoinableQueue&&) noexcept = default;

 private:
  explicit JoinableQueue(internal::QueueCore core) : core_(std::move(core)) {}
  static absl::StatusOr<JoinableQueue> Wrap(absl::StatusOr<internal::QueueCore> core) {
    if (!core.ok()) return core.status();
    return JoinableQueue(*std::move(core));
  }

  static constexpr internal::QueueKind kKind = internal::QueueKind::kJoinableQueue;
  internal::QueueCore core_;
};

}  // namespace channel

#endif  // CHANNEL_JOINABLE_QUEUE_H_
