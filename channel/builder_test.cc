// Builder<T> and the Put overloads' type checks at run time: a Builder<T> goes through both queue
// kinds; the untyped Put(capnp::MessageBuilder&) refuses a root whose size is not T's (naming T),
// cannot tell a struct of T's exact size, and Put(T::Reader) lets another version of T through.
// That a Builder of another type does not compile: builder_compile_test.
#include "channel/builder.h"

#include <string>
#include <utility>

#include <capnp/message.h>
#include <gtest/gtest.h>

#include "channel/builder_test.capnp.h"
#include "channel/channel.h"

namespace channel {
namespace {

using buildertest::Result;
using buildertest::Task;
using buildertest::Twin;

TEST(BuilderTest, RootIsAnEmptyTAndMessageIsItsBuilder) {
  Builder<Task> task;
  EXPECT_EQ(task.root().getId(), 0u);
  task.root().setId(3);
  EXPECT_EQ(task.message().getRoot<Task>().getId(), 3u);
  Builder<Task> moved = std::move(task);
  EXPECT_EQ(moved.root().getId(), 3u);
}

template <typename Q>
void RoundTrip(Q& q) {
  Builder<Task> task;
  task.root().setId(1);
  task.root().setName("one");
  ASSERT_TRUE(q.Put(task).ok());
  task.root().setId(2);  // serialized at Put: reusable at once
  ASSERT_TRUE(q.PutNowait(task).ok());
  for (uint64_t id : {1u, 2u}) {
    auto got = q.Get(absl::Seconds(30));
    ASSERT_TRUE(got.ok()) << got.status();
    EXPECT_EQ((*got)->getId(), id);
    EXPECT_EQ(std::string((*got)->getName().cStr()), "one");
  }
}

TEST(BuilderTest, PutsIntoBothKinds) {
  auto q = Queue<Task>::Create();
  ASSERT_TRUE(q.ok()) << q.status();
  RoundTrip(*q);
  auto jq = JoinableQueue<Task>::Create();
  ASSERT_TRUE(jq.ok()) << jq.status();
  RoundTrip(*jq);
  EXPECT_EQ(jq->unfinished(), 2);
}

TEST(BuilderTest, UntypedPutRefusesARootOfAnotherSizeNamingTheType) {
  auto q = Queue<Task>::Create();
  ASSERT_TRUE(q.ok()) << q.status();
  capnp::MallocMessageBuilder wrong;
  wrong.initRoot<Result>().setId(9);
  for (const absl::Status& s : {q->Put(wrong), q->PutNowait(wrong)}) {
    EXPECT_TRUE(absl::IsInvalidArgument(s)) << s;
    EXPECT_NE(s.message().find("is not a channel/builder_test.capnp:Task"), std::string::npos)
        << s;
  }
  // Through a Builder's message(), the same check.
  Builder<Task> retyped;
  retyped.message().initRoot<Result>();
  EXPECT_TRUE(absl::IsInvalidArgument(q->Put(retyped)));
  // A JoinableQueue checks alike, and counts nothing it refused.
  auto jq = JoinableQueue<Task>::Create();
  ASSERT_TRUE(jq.ok()) << jq.status();
  EXPECT_TRUE(absl::IsInvalidArgument(jq->Put(wrong)));
  EXPECT_EQ(jq->unfinished(), 0);
  EXPECT_EQ(q->qsize(), 0);
}

TEST(BuilderTest, UntypedPutAcceptsAT) {
  auto q = Queue<Task>::Create();
  ASSERT_TRUE(q.ok()) << q.status();
  capnp::MallocMessageBuilder right;
  right.initRoot<Task>().setId(5);
  ASSERT_TRUE(q->Put(right).ok());
  auto got = q->Get(absl::Seconds(30));
  ASSERT_TRUE(got.ok()) << got.status();
  EXPECT_EQ((*got)->getId(), 5u);
}

TEST(BuilderTest, UntypedPutCannotTellAStructOfTheSameSize) {
  // Documented limit: Twin has Task's sizes, so it passes and is read as a Task.
  auto q = Queue<Task>::Create();
  ASSERT_TRUE(q.ok()) << q.status();
  capnp::MallocMessageBuilder twin;
  twin.initRoot<Twin>().setCount(42);
  ASSERT_TRUE(q->Put(twin).ok());
  auto got = q->Get(absl::Seconds(30));
  ASSERT_TRUE(got.ok()) << got.status();
  EXPECT_EQ((*got)->getId(), 42u);
}

TEST(BuilderTest, ReaderPutIsNotComparedSoOtherSchemaVersionsPass) {
  // A T from another version of its schema has other sizes; here a Result's bytes stand in for
  // a larger, newer Task. Put(T::Reader) takes it; the builder overload would refuse it.
  auto q = Queue<Task>::Create();
  ASSERT_TRUE(q.ok()) << q.status();
  capnp::MallocMessageBuilder newer;
  newer.initRoot<Result>().setId(8);
  const Task::Reader as_task = newer.getRoot<capnp::AnyPointer>().asReader().getAs<Task>();
  ASSERT_TRUE(q->Put(as_task).ok());
  auto got = q->Get(absl::Seconds(30));
  ASSERT_TRUE(got.ok()) << got.status();
  EXPECT_EQ((*got)->getId(), 8u);
}

}  // namespace
}  // namespace channel
