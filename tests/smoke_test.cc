#include <gtest/gtest.h>
#include <capnp/message.h>
#include "channel/channel.h"
#include "schema/demo.capnp.h"

TEST(Smoke, PutGet) {
  auto q = channel::Queue<demo::Job>::Create();
  ASSERT_TRUE(q.ok()) << q.status();
  capnp::MallocMessageBuilder b;
  auto job = b.initRoot<demo::Job>();
  job.setId(7);
  job.setPayload("hello");
  ASSERT_TRUE(q->Put(b).ok());
  auto m = q->Get(absl::Seconds(5));
  ASSERT_TRUE(m.ok()) << m.status();
  EXPECT_EQ((*m)->getId(), 7u);
  EXPECT_EQ(std::string((*m)->getPayload().cStr()), "hello");
  EXPECT_EQ(q->qsize(), 0);
  channel::Process p([&] {
    capnp::MallocMessageBuilder b2;
    b2.initRoot<demo::Job>().setId(42);
    return q->Put(b2).ok() ? 0 : 3;
  });
  ASSERT_TRUE(p.Start().ok());
  auto m2 = q->Get(absl::Seconds(5));
  ASSERT_TRUE(m2.ok()) << m2.status();
  EXPECT_EQ((*m2)->getId(), 42u);
  EXPECT_EQ(*p.Join(absl::Seconds(5)), 0);
}
