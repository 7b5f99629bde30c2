// The queue core through the public templates: moved-from handles do exactly what queue.h says,
// and the transport factory refuses names of unknown transports without echoing them.
#include "channel/internal/core/queue_core.h"

#include <string>
#include <utility>

#include <capnp/message.h>
#include <gtest/gtest.h>

#include "channel/channel.h"
#include "schema/demo.capnp.h"

namespace channel {
namespace {

template <typename Q>
void ExpectMovedFrom(Q& q) {
  capnp::MallocMessageBuilder b;
  b.initRoot<demo::Job>().setId(1);
  for (const absl::Status& s :
       {q.Put(b), q.Put(b.getRoot<demo::Job>().asReader()), q.PutNowait(b),
        q.Get(absl::ZeroDuration()).status(), q.GetNowait().status(), q.JoinThread()}) {
    EXPECT_TRUE(absl::IsFailedPrecondition(s)) << s;
    EXPECT_NE(s.message().find("moved from"), absl::string_view::npos) << s;
  }
  EXPECT_EQ(q.qsize(), 0);
  EXPECT_TRUE(q.empty());
  EXPECT_FALSE(q.full());
  EXPECT_EQ(q.maxsize(), 0);
  EXPECT_EQ(q.max_message_bytes(), 0u);
  EXPECT_EQ(q.stats().items_lost, 0u);
  q.Close();  // no effect, no crash
  q.CancelJoinThread();
}

TEST(QueueCoreTest, MovedFromQueueAnswersAsDocumented) {
  QueueOptions options;
  options.maxsize = 4;
  auto created = Queue<demo::Job>::Create(options);
  ASSERT_TRUE(created.ok()) << created.status();
  Queue<demo::Job> q = *std::move(created);
  Queue<demo::Job> moved_to = std::move(q);
  ExpectMovedFrom(q);  // NOLINT(bugprone-use-after-move): the point of the test

  // The handle it moved into works, and the moved-from one can be given a new queue.
  capnp::MallocMessageBuilder b;
  b.initRoot<demo::Job>().setId(7);
  ASSERT_TRUE(moved_to.Put(b).ok());
  auto got = moved_to.Get(absl::Seconds(30));
  ASSERT_TRUE(got.ok()) << got.status();
  EXPECT_EQ((*got)->getId(), 7u);
  q = std::move(moved_to);
  EXPECT_EQ(q.maxsize(), 4);
  EXPECT_TRUE(q.PutNowait(b).ok());
}

TEST(QueueCoreTest, MovedFromJoinableQueueAnswersAsDocumented) {
  auto created = JoinableQueue<demo::Job>::Create();
  ASSERT_TRUE(created.ok()) << created.status();
  JoinableQueue<demo::Job> q = *std::move(created);
  JoinableQueue<demo::Job> moved_to = std::move(q);
  ExpectMovedFrom(q);
  EXPECT_TRUE(absl::IsFailedPrecondition(q.TaskDone()));
  EXPECT_TRUE(absl::IsFailedPrecondition(q.Join(absl::ZeroDuration())));
  EXPECT_EQ(q.unfinished(), 0);
  EXPECT_TRUE(moved_to.Join(absl::ZeroDuration()).ok());
}

TEST(QueueCoreTest, UnknownTransportSchemeIsInvalidArgumentWithoutEchoingTheName) {
  const std::string name = "carrier-pigeon://user:hunter2@loft:1/jobs";
  const absl::Status statuses[] = {
      Queue<demo::Job>::CreateNamed(name).status(),
      Queue<demo::Job>::Open(name).status(),
      Queue<demo::Job>::Unlink(name),
      JoinableQueue<demo::Job>::Open(name).status(),
  };
  for (const absl::Status& s : statuses) {
    EXPECT_TRUE(absl::IsInvalidArgument(s)) << s;
    EXPECT_NE(s.message().find("\"carrier-pigeon://\""), absl::string_view::npos) << s;
    EXPECT_EQ(s.message().find("hunter2"), absl::string_view::npos) << s;
  }
}

TEST(QueueCoreTest, PlainNamesReachTheLocalTransport) {
  // The pipe transport's own name check answers, not the factory.
  const absl::Status s = Queue<demo::Job>::Open(".hidden").status();
  EXPECT_TRUE(absl::IsInvalidArgument(s)) << s;
  EXPECT_EQ(s.message().find("transport"), absl::string_view::npos) << s;
}

}  // namespace
}  // namespace channel
