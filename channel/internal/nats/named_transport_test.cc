// The behaviour suite of named queues, run against every transport a name can select: the local
// pipe transport (a plain name) and NATS JetStream (nats://..., against a real nats-server -js
// this test starts on a loopback port). Behaviours the transports do not share (fork inheritance,
// crash accounting of the pipe; redelivery, clusters of NATS) have their own tests.
#include <stdlib.h>
#include <unistd.h>

#include <map>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "channel/channel.h"
#include "channel/internal/nats/nats_test_server.h"
#include "gtest/gtest.h"
#include "schema/demo.capnp.h"
#include "tests/test_util.h"

namespace channel {
namespace {

using channel_test::JobMessage;
using Jobs = JoinableQueue<demo::Job>;

// The builder of a temporary message, alive until the end of the full expression.
capnp::MessageBuilder& B(JobMessage&& m) { return m.builder; }

testing::NatsTestServer* server = nullptr;

enum class Transport { kPipe, kNats };

class NamedTransportTest : public ::testing::TestWithParam<Transport> {
 protected:
  static void SetUpTestSuite() {
    static std::string dir = absl::StrCat(getenv("TEST_TMPDIR") ? getenv("TEST_TMPDIR") : "/tmp",
                                          "/queues_", getpid());
    mkdir(dir.c_str(), 0700);
    setenv("TYPED_CHANNEL_DIR", dir.c_str(), 1);
    server = new testing::NatsTestServer();
    ASSERT_TRUE(server->Start()) << server->log();
  }
  static void TearDownTestSuite() {
    delete server;
    server = nullptr;
  }

  // A fresh name for this test on the transport under test.
  std::string Name() {
    static int n = 0;
    const std::string base = absl::StrCat("behaviour_", getpid(), "_", ++n);
    if (GetParam() == Transport::kPipe) return base;
    return absl::StrCat("nats://", server->address(), "/", base, "?storage=memory");
  }
  static std::string Peer() { return channel_test::Runfile("channel/internal/nats/queue_peer"); }
};

TEST_P(NamedTransportTest, PutThenGetInOrder) {
  const std::string name = Name();
  auto q = Queue<demo::Job>::CreateNamed(name);
  ASSERT_TRUE(q.ok()) << q.status();
  for (uint64_t i = 0; i < 5; ++i) ASSERT_TRUE(q->Put(B(JobMessage(i, "x"))).ok());
  EXPECT_TRUE(channel_test::Eventually([&] { return q->qsize() == 5; }));
  for (uint64_t i = 0; i < 5; ++i) {
    auto m = q->Get(absl::Seconds(10));
    ASSERT_TRUE(m.ok()) << m.status();
    EXPECT_EQ((*m)->getId(), i);
    EXPECT_EQ(std::string((*m)->getPayload().cStr()), "x");
  }
  EXPECT_TRUE(IsEmpty(q->GetNowait().status()));
  EXPECT_TRUE(IsEmpty(q->Get(absl::Milliseconds(200)).status()));
  EXPECT_TRUE(channel_test::Eventually([&] { return q->empty(); }));
  EXPECT_TRUE(Queue<demo::Job>::Unlink(name).ok());
}

TEST_P(NamedTransportTest, LargeMessagesRoundTripAndOversizedOnesAreRefused) {
  const std::string name = Name();
  QueueOptions options;
  options.max_message_bytes = 64 << 10;
  auto q = Queue<demo::Job>::CreateNamed(name, options);
  ASSERT_TRUE(q.ok()) << q.status();
  ASSERT_TRUE(q->Put(B(JobMessage(7, "", 40 << 10))).ok());
  auto m = q->Get(absl::Seconds(10));
  ASSERT_TRUE(m.ok()) << m.status();
  EXPECT_TRUE(channel_test::DataMatches(7, (*m)->getData()));
  EXPECT_TRUE(absl::IsInvalidArgument(q->Put(B(JobMessage(8, "", 80 << 10)))));
  EXPECT_TRUE(Queue<demo::Job>::Unlink(name).ok());
}

TEST_P(NamedTransportTest, BoundedQueueIsFullAndABlockedPutWakesOnGet) {
  const std::string name = Name();
  QueueOptions options;
  options.maxsize = 2;
  auto q = Queue<demo::Job>::CreateNamed(name, options);
  ASSERT_TRUE(q.ok()) << q.status();
  EXPECT_EQ(q->maxsize(), 2);
  ASSERT_TRUE(q->Put(B(JobMessage(1))).ok());
  ASSERT_TRUE(q->Put(B(JobMessage(2))).ok());
  EXPECT_TRUE(IsFull(q->PutNowait(B(JobMessage(3)))));
  EXPECT_TRUE(IsFull(q->Put(B(JobMessage(3)), absl::Milliseconds(300))));
  EXPECT_TRUE(q->full());
  absl::Status blocked;
  std::thread putter([&] { blocked = q->Put(B(JobMessage(3)), absl::Seconds(30)); });
  auto other = Queue<demo::Job>::Open(name);
  ASSERT_TRUE(other.ok()) << other.status();
  auto first = other->Get(absl::Seconds(10));
  putter.join();
  ASSERT_TRUE(first.ok()) << first.status();
  EXPECT_EQ((*first)->getId(), 1u);
  EXPECT_TRUE(blocked.ok()) << blocked;
  for (uint64_t want : {2u, 3u}) {
    auto m = other->Get(absl::Seconds(10));
    ASSERT_TRUE(m.ok()) << m.status();
    EXPECT_EQ((*m)->getId(), want);
  }
  EXPECT_TRUE(Queue<demo::Job>::Unlink(name).ok());
}

TEST_P(NamedTransportTest, NamesExistOnceAndUnlinkRemovesThem) {
  const std::string name = Name();
  EXPECT_TRUE(absl::IsNotFound(Queue<demo::Job>::Open(name).status()));
  EXPECT_TRUE(absl::IsNotFound(Queue<demo::Job>::Unlink(name)));
  auto q = Queue<demo::Job>::CreateNamed(name);
  ASSERT_TRUE(q.ok()) << q.status();
  EXPECT_TRUE(absl::IsAlreadyExists(Queue<demo::Job>::CreateNamed(name).status()));
  ASSERT_TRUE(q->Put(B(JobMessage(1))).ok());
  auto again = Queue<demo::Job>::Open(name);
  ASSERT_TRUE(again.ok()) << again.status();
  auto m = again->Get(absl::Seconds(10));
  ASSERT_TRUE(m.ok()) << m.status();
  EXPECT_TRUE(Queue<demo::Job>::Unlink(name).ok());
  EXPECT_TRUE(absl::IsNotFound(Queue<demo::Job>::Open(name).status()));
}

TEST_P(NamedTransportTest, OpenAsAnotherTypeOrKindNamesBoth) {
  const std::string name = Name();
  auto q = Queue<demo::Job>::CreateNamed(name);
  ASSERT_TRUE(q.ok()) << q.status();
  absl::Status kind = Jobs::Open(name).status();
  EXPECT_TRUE(absl::IsFailedPrecondition(kind)) << kind;
  EXPECT_NE(kind.message().find("Queue<"), std::string::npos) << kind;
  EXPECT_NE(kind.message().find("JoinableQueue<"), std::string::npos) << kind;
  absl::Status type = Queue<demo::Greeting>::Open(name).status();
  EXPECT_TRUE(absl::IsFailedPrecondition(type)) << type;
  EXPECT_NE(type.message().find("Job"), std::string::npos) << type;
  EXPECT_NE(type.message().find("Greeting"), std::string::npos) << type;
  EXPECT_TRUE(Queue<demo::Job>::Unlink(name).ok());
}

TEST_P(NamedTransportTest, CloseWakesABlockedGetAndJoinThreadNeedsClose) {
  const std::string name = Name();
  auto q = Queue<demo::Job>::CreateNamed(name);
  ASSERT_TRUE(q.ok()) << q.status();
  EXPECT_TRUE(absl::IsFailedPrecondition(q->JoinThread()));
  absl::Status got;
  std::thread getter([&] { got = q->Get(absl::Seconds(30)).status(); });
  // Close from here while the Get waits (it may also not have started yet: either way IsClosed).
  absl::SleepFor(absl::Milliseconds(100));
  const absl::Time closed_at = absl::Now();
  q->Close();
  getter.join();
  EXPECT_TRUE(IsClosed(got)) << got;
  EXPECT_LT(absl::Now() - closed_at, absl::Seconds(5));
  EXPECT_TRUE(IsClosed(q->Put(B(JobMessage(1)))));
  EXPECT_TRUE(q->JoinThread().ok());
  EXPECT_TRUE(Queue<demo::Job>::Unlink(name).ok());
}

TEST_P(NamedTransportTest, ProgramsProduceAndConsumeExactlyOnceAndJoinReturns) {
  const std::string name = Name();
  auto q = Jobs::CreateNamed(name);
  ASSERT_TRUE(q.ok()) << q.status();
  int out[4];
  std::vector<pid_t> pids;
  pids.push_back(channel_test::Spawn({Peer(), name, "consume"}, &out[0]));
  pids.push_back(channel_test::Spawn({Peer(), name, "consume"}, &out[1]));
  pids.push_back(channel_test::Spawn({Peer(), name, "produce", "100", "0"}, &out[2]));
  pids.push_back(channel_test::Spawn({Peer(), name, "produce", "100", "1000"}, &out[3]));
  EXPECT_EQ(channel_test::ReadAll(out[2]), "put 100\n");
  EXPECT_EQ(channel_test::ReadAll(out[3]), "put 100\n");
  EXPECT_EQ(channel_test::WaitChild(pids[2]), 0);
  EXPECT_EQ(channel_test::WaitChild(pids[3]), 0);
  ASSERT_TRUE(q->Join(absl::Seconds(60)).ok());
  EXPECT_EQ(q->unfinished(), 0);
  for (int i = 0; i < 2; ++i) {
    capnp::MallocMessageBuilder end;
    end.initRoot<demo::Job>().setEndOfStream();
    ASSERT_TRUE(q->Put(end).ok());
  }
  std::map<int, int> done;
  for (int i = 0; i < 2; ++i) {
    const std::string text = channel_test::ReadAll(out[i]);
    EXPECT_EQ(channel_test::WaitChild(pids[i]), 0) << text;
    for (size_t at = text.find("done "); at != std::string::npos; at = text.find("done ", at + 1)) {
      ++done[std::stoi(text.substr(at + 5))];
    }
  }
  EXPECT_TRUE(q->Join(absl::Seconds(30)).ok());
  EXPECT_EQ(done.size(), 200u);
  for (const auto& [id, n] : done) EXPECT_EQ(n, 1) << id;
  EXPECT_TRUE(Jobs::Unlink(name).ok());
}

TEST_P(NamedTransportTest, TaskDoneTooManyTimesAndJoinTimesOut) {
  const std::string name = Name();
  auto q = Jobs::CreateNamed(name);
  ASSERT_TRUE(q.ok()) << q.status();
  EXPECT_TRUE(absl::IsOutOfRange(q->TaskDone()));
  ASSERT_TRUE(q->Put(B(JobMessage(1))).ok());
  EXPECT_TRUE(absl::IsDeadlineExceeded(q->Join(absl::Milliseconds(200))));
  auto m = q->Get(absl::Seconds(10));
  ASSERT_TRUE(m.ok()) << m.status();
  EXPECT_EQ(q->unfinished(), 1);
  EXPECT_TRUE(q->TaskDone().ok());
  EXPECT_TRUE(q->Join(absl::Seconds(10)).ok());
  EXPECT_TRUE(absl::IsOutOfRange(q->TaskDone()));
  EXPECT_TRUE(Jobs::Unlink(name).ok());
}

INSTANTIATE_TEST_SUITE_P(Transports, NamedTransportTest,
                         ::testing::Values(Transport::kPipe, Transport::kNats),
                         [](const ::testing::TestParamInfo<Transport>& info) {
                           return info.param == Transport::kPipe ? "Pipe" : "Nats";
                         });

}  // namespace
}  // namespace channel
