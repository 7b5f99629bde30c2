// Compiled by builder_compile_test (see internal/testing/compile_test.bzl): as is it must
// compile; with any one WRONG_* macro defined it must not, because a Builder of another message
// type cannot be put into a queue.
#include "channel/builder_test.capnp.h"
#include "channel/channel.h"

using buildertest::Result;
using buildertest::Task;

void PutBuilders(channel::Queue<Task>& q, channel::JoinableQueue<Task>& jq) {
  channel::Builder<Task> task;
  (void)q.Put(task);
  (void)q.PutNowait(task);
  (void)jq.Put(task, absl::Seconds(1));
  (void)jq.PutNowait(task);

  channel::Builder<Result> result;
  (void)result;
#ifdef WRONG_PUT
  (void)q.Put(result);
#endif
#ifdef WRONG_PUT_NOWAIT
  (void)q.PutNowait(result);
#endif
#ifdef WRONG_JOINABLE_PUT
  (void)jq.Put(result, absl::Seconds(1));
#endif
#ifdef WRONG_JOINABLE_PUT_NOWAIT
  (void)jq.PutNowait(result);
#endif
}
