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
#ifndef CHANNEL_JOINABLE_QUEUE_H_
#define CHANNEL_JOINABLE_QUEUE_H_

#include "channel/internal/core/queue_base.h"
#include "channel/message.h"
#include "channel/stats.h"
#include "channel/status.h"

namespace channel {

template <typename T>
class JoinableQueue : public internal::QueueBase<JoinableQueue<T>, T> {
 public:
  // Everything Queue<T> has (queue.h), with the same names and rules. A JoinableQueue's name
  // cannot be opened as a Queue, nor the reverse (kFailedPrecondition naming both kinds).
  static constexpr internal::QueueKind kKind = internal::QueueKind::kJoinableQueue;

  JoinableQueue(JoinableQueue&&) noexcept = default;
  JoinableQueue& operator=(JoinableQueue&&) noexcept = default;

  // Marks one item done; lock-free. More calls than items ever put: kOutOfRange
  // ("task_done() called too many times"). One such extra call racing with the queue counting
  // undelivered items lost (after a producer or consumer died) may pass instead, leaving
  // unfinished() at -1 (Join then returns at once); calls matching Gets are never refused.
  absl::Status TaskDone() {
    return this->backend() == nullptr ? internal::MovedFromError() : this->backend()->TaskDone();
  }
  // Items put and not yet marked done, across all processes (an addition to CPython's API, for
  // monitoring: Join waits for this to reach zero).
  int64_t unfinished() const {
    return this->backend() == nullptr ? 0 : this->backend()->unfinished();
  }
  // Waits until every item put has been marked done, by any process, or the timeout passes
  // (kDeadlineExceeded, saying how many remain). Never busy-waits. After
  // Shutdown(immediate = true) the dropped items count as done: Join then waits only for the
  // items Get already returned (Shutdown itself is described in queue.h).
  absl::Status Join(absl::Duration timeout = absl::InfiniteDuration()) {
    const internal::Deadline deadline = internal::Deadline::After(timeout);
    return this->backend() == nullptr ? internal::MovedFromError()
                                      : this->backend()->Join(deadline);
  }

 private:
  friend class internal::QueueBase<JoinableQueue<T>, T>;
  explicit JoinableQueue(internal::Handle handle)
      : internal::QueueBase<JoinableQueue<T>, T>(std::move(handle)) {}
};

}  // namespace channel

#endif  // CHANNEL_JOINABLE_QUEUE_H_
