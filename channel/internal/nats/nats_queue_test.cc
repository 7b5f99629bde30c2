// NATS-only behaviours of the NATS transport, against real nats-server processes this test starts
// on loopback ports: failure statuses (bad URL, no server, wrong credentials, a stream that is not
// a queue, foreign messages), redelivery after a consumer is killed, a server restart.
#include <nats/nats.h>
#include <signal.h>
#include <unistd.h>

#include <map>
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
using testing::NatsTestServer;

capnp::MessageBuilder& B(JobMessage&& m) { return m.builder; }

std::string Url(const NatsTestServer& s, const std::string& name, const std::string& query = "") {
  return absl::StrCat("nats://", s.address(), "/", name, query);
}

std::string Peer() { return channel_test::Runfile("channel/internal/nats/queue_peer"); }

// Publishes raw bytes on a subject through a plain NATS connection (not typed_channel).
void PublishRaw(const NatsTestServer& s, const std::string& subject, const std::string& data) {
  natsConnection* nc = nullptr;
  ASSERT_EQ(natsConnection_ConnectTo(&nc, absl::StrCat("nats://", s.address()).c_str()), NATS_OK);
  jsCtx* js = nullptr;
  ASSERT_EQ(natsConnection_JetStream(&js, nc, nullptr), NATS_OK);
  jsPubAck* ack = nullptr;
  EXPECT_EQ(js_Publish(&ack, js, subject.c_str(), data.data(), static_cast<int>(data.size()),
                       nullptr, nullptr),
            NATS_OK);
  jsPubAck_Destroy(ack);
  jsCtx_Destroy(js);
  natsConnection_Destroy(nc);
}

class NatsQueueTest : public ::testing::Test {
 protected:
  void SetUp() override { ASSERT_TRUE(server_.Start()) << server_.log(); }
  NatsTestServer server_;
};

TEST(NatsUrlTest, BadUrlsAreInvalidArguments) {
  for (const char* url : {"nats://", "nats://127.0.0.1:4222", "nats://127.0.0.1:4222/",
                          "nats://127.0.0.1/q", "nats://127.0.0.1:99999/q",
                          "nats://127.0.0.1:4222/a.b", "nats://127.0.0.1:4222/q?replicas=9",
                          "nats://127.0.0.1:4222/q?bogus=1", "nats://u:@127.0.0.1:4222/q"}) {
    absl::Status s = Queue<demo::Job>::CreateNamed(url).status();
    EXPECT_TRUE(absl::IsInvalidArgument(s)) << url << ": " << s;
  }
}

TEST(NatsServerDownTest, OpenAndCreateFailWithinTheirBound) {
  const std::string url = absl::StrCat("nats://127.0.0.1:", testing::FreeLoopbackPort(), "/q");
  const absl::Time start = absl::Now();
  absl::Status s = Queue<demo::Job>::Open(url).status();
  EXPECT_TRUE(absl::IsUnavailable(s)) << s;
  EXPECT_TRUE(absl::IsUnavailable(Queue<demo::Job>::CreateNamed(url).status()));
  EXPECT_TRUE(absl::IsUnavailable(Queue<demo::Job>::Unlink(url)));
  EXPECT_LT(absl::Now() - start, absl::Seconds(15));
}

TEST(NatsCredentialsTest, WrongCredentialsAreRefusedWithoutEchoingThem) {
  testing::NatsServerOptions options;
  options.user = "alice";
  options.password = "right-secret";
  NatsTestServer server(options);
  ASSERT_TRUE(server.Start()) << server.log();
  const std::string wrong = absl::StrCat("nats://alice:wrong-secret@", server.address(), "/q");
  absl::Status s = Queue<demo::Job>::CreateNamed(wrong).status();
  EXPECT_TRUE(absl::IsPermissionDenied(s)) << s;
  EXPECT_EQ(s.message().find("wrong-secret"), std::string::npos) << s;
  const std::string none = Url(server, "q");
  EXPECT_TRUE(absl::IsPermissionDenied(Queue<demo::Job>::CreateNamed(none).status()));
  const std::string right = absl::StrCat("nats://alice:right%2Dsecret@", server.address(), "/q");
  auto q = Queue<demo::Job>::CreateNamed(right);
  ASSERT_TRUE(q.ok()) << q.status();
  ASSERT_TRUE(q->Put(B(JobMessage(1))).ok());
  auto m = q->Get(absl::Seconds(10));
  ASSERT_TRUE(m.ok()) << m.status();
  // A .creds file that does not exist: a clear error, not a hang (and not the URL's secret).
  setenv("TYPED_CHANNEL_NATS_CREDS", "/nonexistent/user.creds", 1);
  s = Queue<demo::Job>::Open(none).status();
  unsetenv("TYPED_CHANNEL_NATS_CREDS");
  EXPECT_FALSE(s.ok());
}

TEST_F(NatsQueueTest, AStreamThatIsNotAQueueIsRefusedOnOpen) {
  natsConnection* nc = nullptr;
  ASSERT_EQ(natsConnection_ConnectTo(&nc, absl::StrCat("nats://", server_.address()).c_str()),
            NATS_OK);
  jsCtx* js = nullptr;
  ASSERT_EQ(natsConnection_JetStream(&js, nc, nullptr), NATS_OK);
  jsStreamConfig cfg;
  jsStreamConfig_Init(&cfg);
  cfg.Name = "TC_other";
  const char* subjects[] = {"orders.>"};
  cfg.Subjects = subjects;
  cfg.SubjectsLen = 1;
  ASSERT_EQ(js_AddStream(nullptr, js, &cfg, nullptr, nullptr), NATS_OK);
  jsCtx_Destroy(js);
  natsConnection_Destroy(nc);
  absl::Status s = Queue<demo::Job>::Open(Url(server_, "other")).status();
  EXPECT_TRUE(absl::IsFailedPrecondition(s)) << s;
  EXPECT_NE(s.message().find("not created by typed_channel"), std::string::npos) << s;
}

TEST_F(NatsQueueTest, ForeignMessagesAreDroppedAsDataLossAndCounted) {
  auto q = Queue<demo::Job>::CreateNamed(Url(server_, "mixed"));
  ASSERT_TRUE(q.ok()) << q.status();
  PublishRaw(server_, "typed_channel.mixed", "hello, not a frame");
  PublishRaw(server_, "typed_channel.mixed", std::string(64, '\0'));
  ASSERT_TRUE(q->Put(B(JobMessage(5))).ok());
  for (int i = 0; i < 2; ++i) {
    absl::Status s = q->Get(absl::Seconds(10)).status();
    EXPECT_TRUE(absl::IsDataLoss(s)) << s;
  }
  auto m = q->Get(absl::Seconds(10));
  ASSERT_TRUE(m.ok()) << m.status();
  EXPECT_EQ((*m)->getId(), 5u);
  EXPECT_EQ(q->stats().resyncs, 2u);
  EXPECT_TRUE(channel_test::Eventually([&] { return q->qsize() == 0; }));
}

TEST_F(NatsQueueTest, AnItemWhoseConsumerWasKilledIsDeliveredAgainAndJoinReturns) {
  const std::string url = Url(server_, "redeliver", "?ack_wait_ms=1000");
  auto q = Jobs::CreateNamed(url);
  ASSERT_TRUE(q.ok()) << q.status();
  ASSERT_TRUE(q->Put(B(JobMessage(42))).ok());
  int hang_out = -1;
  const pid_t hanger = channel_test::Spawn({Peer(), url, "take_and_hang"}, &hang_out);
  EXPECT_EQ(testing::ReadLine(hang_out), "got 42\n");
  kill(hanger, SIGKILL);
  EXPECT_EQ(channel_test::WaitChild(hanger), -SIGKILL);
  close(hang_out);
  EXPECT_EQ(q->unfinished(), 1);
  int out = -1;
  const pid_t consumer = channel_test::Spawn({Peer(), url, "consume"}, &out);
  EXPECT_EQ(testing::ReadLine(out), "done 42\n");
  EXPECT_TRUE(q->Join(absl::Seconds(30)).ok());
  capnp::MallocMessageBuilder end;
  end.initRoot<demo::Job>().setEndOfStream();
  ASSERT_TRUE(q->Put(end).ok());
  EXPECT_EQ(channel_test::ReadAll(out), "");
  EXPECT_EQ(channel_test::WaitChild(consumer), 0);
  EXPECT_TRUE(q->Join(absl::Seconds(30)).ok());
}

TEST_F(NatsQueueTest, AcknowledgedItemsSurviveAServerRestartAndHandlesReconnect) {
  const std::string url = Url(server_, "durable");
  auto q = Queue<demo::Job>::CreateNamed(url);
  ASSERT_TRUE(q.ok()) << q.status();
  for (uint64_t i = 0; i < 50; ++i) ASSERT_TRUE(q->Put(B(JobMessage(i))).ok());
  server_.Kill();  // a crash: acknowledged items are in the store's files already
  // While the server is down, calls fail within their timeouts.
  const absl::Time start = absl::Now();
  absl::Status put = q->Put(B(JobMessage(99)), absl::Seconds(1));
  EXPECT_TRUE(absl::IsDeadlineExceeded(put)) << put;
  absl::Status get = q->Get(absl::Seconds(1)).status();
  EXPECT_TRUE(absl::IsDeadlineExceeded(get)) << get;
  EXPECT_LT(absl::Now() - start, absl::Seconds(6));
  ASSERT_TRUE(server_.Start()) << server_.log();
  // The open handle reconnects by itself; so does a new one.
  ASSERT_TRUE(q->Put(B(JobMessage(50)), absl::Seconds(30)).ok());
  std::vector<uint64_t> ids;
  while (ids.size() < 51) {
    auto m = q->Get(absl::Seconds(10));
    ASSERT_TRUE(m.ok()) << m.status();
    ids.push_back((*m)->getId());
  }
  for (uint64_t i = 0; i <= 50; ++i) EXPECT_EQ(ids[i], i);
  EXPECT_TRUE(IsEmpty(q->GetNowait().status()));
  auto reader = Queue<demo::Job>::Open(url);
  ASSERT_TRUE(reader.ok()) << reader.status();
  EXPECT_TRUE(IsEmpty(reader->GetNowait().status()));
}

TEST_F(NatsQueueTest, ServerKilledWhileAGetWaitsGivesAClearStatusInTime) {
  auto q = Queue<demo::Job>::CreateNamed(Url(server_, "dies", "?storage=memory"));
  ASSERT_TRUE(q.ok()) << q.status();
  absl::Status got;
  const absl::Time start = absl::Now();
  std::thread getter([&] { got = q->Get(absl::Seconds(3)).status(); });
  absl::SleepFor(absl::Milliseconds(200));
  server_.Kill();
  getter.join();
  EXPECT_TRUE(absl::IsDeadlineExceeded(got) || absl::IsUnavailable(got)) << got;
  EXPECT_LT(absl::Now() - start, absl::Seconds(6));
}

TEST_F(NatsQueueTest, TheExampleProgramsShareAQueueOverNats) {
  // examples/heterogeneous: two producer and two consumer programs, started with exec, meeting
  // on --queue=nats://...; every job is processed exactly once and both producers' Join returns.
  const std::string flag = "--queue=" + Url(server_, "orders");
  const std::string producer = channel_test::Runfile("examples/heterogeneous/producer");
  const std::string consumer = channel_test::Runfile("examples/heterogeneous/consumer");
  int out[4];
  std::vector<pid_t> pids;
  pids.push_back(channel_test::Spawn({consumer, flag}, &out[0]));
  pids.push_back(channel_test::Spawn({consumer, flag}, &out[1]));
  pids.push_back(channel_test::Spawn({producer, flag, "150", "0"}, &out[2]));
  pids.push_back(channel_test::Spawn({producer, flag, "150", "1000"}, &out[3]));
  const std::string p1 = channel_test::ReadAll(out[2]);
  const std::string p2 = channel_test::ReadAll(out[3]);
  EXPECT_EQ(channel_test::WaitChild(pids[2]), 0) << p1;
  EXPECT_EQ(channel_test::WaitChild(pids[3]), 0) << p2;
  EXPECT_NE(p1.find("all 150 jobs done"), std::string::npos) << p1;
  EXPECT_NE(p2.find("all 150 jobs done"), std::string::npos) << p2;
  auto q = Jobs::Open(Url(server_, "orders"));
  ASSERT_TRUE(q.ok()) << q.status();
  for (int i = 0; i < 2; ++i) {
    capnp::MallocMessageBuilder end;
    end.initRoot<demo::Job>().setEndOfStream();
    ASSERT_TRUE(q->Put(end).ok());
  }
  const std::string c1 = channel_test::ReadAll(out[0]);
  const std::string c2 = channel_test::ReadAll(out[1]);
  EXPECT_EQ(channel_test::WaitChild(pids[0]), 0) << c1;
  EXPECT_EQ(channel_test::WaitChild(pids[1]), 0) << c2;
  EXPECT_TRUE(q->Join(absl::Seconds(30)).ok());
  std::map<int, int> processed;
  const std::string marker = "processed job ";
  for (const std::string* text : {&c1, &c2}) {
    for (size_t at = text->find(marker); at != std::string::npos; at = text->find(marker, at + 1)) {
      ++processed[std::stoi(text->substr(at + marker.size()))];
    }
  }
  EXPECT_EQ(processed.size(), 300u);
  for (const auto& [id, n] : processed) EXPECT_EQ(n, 1) << id;
}

}  // namespace
}  // namespace channel
