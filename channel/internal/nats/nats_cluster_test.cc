// A three-server JetStream cluster on loopback, one R3 queue, two producer and two consumer
// programs; the server leading the queue's stream is SIGKILLed while they run. No acknowledged
// Put may be lost, and no item may be processed again after its TaskDone returned OK.
#include <nats/nats.h>
#include <signal.h>
#include <unistd.h>

#include <map>
#include <memory>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/time/clock.h"
#include "channel/channel.h"
#include "channel/internal/nats/nats_test_server.h"
#include "gtest/gtest.h"
#include "schema/demo.capnp.h"
#include "tests/test_util.h"

namespace channel {
namespace {

using Jobs = JoinableQueue<demo::Job>;
using testing::NatsServerOptions;
using testing::NatsTestServer;

// The name of the server leading `stream`, or "" if it cannot be read now.
std::string StreamLeader(const std::string& servers, const std::string& stream) {
  natsConnection* nc = nullptr;
  if (natsConnection_ConnectTo(&nc, servers.c_str()) != NATS_OK) return "";
  jsCtx* js = nullptr;
  std::string leader;
  jsStreamInfo* si = nullptr;
  if (natsConnection_JetStream(&js, nc, nullptr) == NATS_OK &&
      js_GetStreamInfo(&si, js, stream.c_str(), nullptr, nullptr) == NATS_OK) {
    if (si->Cluster != nullptr && si->Cluster->Leader != nullptr) leader = si->Cluster->Leader;
    jsStreamInfo_Destroy(si);
  }
  jsCtx_Destroy(js);
  natsConnection_Destroy(nc);
  return leader;
}

// Counts "<word> ID" lines.
void CountLines(const std::string& text, const std::string& word, std::map<int, int>* counts) {
  const std::string marker = word + " ";
  for (size_t at = text.find(marker); at != std::string::npos; at = text.find(marker, at + 1)) {
    if (at > 0 && text[at - 1] != '\n') continue;
    ++(*counts)[std::stoi(text.substr(at + marker.size()))];
  }
}

TEST(NatsClusterTest, KillingTheStreamLeaderLosesNoAcknowledgedItemAndRepeatsNoDoneOne) {
  std::vector<int> route_ports;
  for (int i = 0; i < 3; ++i) route_ports.push_back(testing::FreeLoopbackPort());
  std::vector<std::unique_ptr<NatsTestServer>> servers;
  for (int i = 0; i < 3; ++i) {
    NatsServerOptions o;
    o.name = absl::StrCat("n", i);
    o.cluster_name = "tc";
    o.cluster_port = route_ports[i];
    for (int j = 0; j < 3; ++j) {
      if (j != i) o.route_ports.push_back(route_ports[j]);
    }
    servers.push_back(std::make_unique<NatsTestServer>(o));
  }
  std::vector<std::string> addresses;
  for (auto& s : servers) {
    ASSERT_TRUE(s->Start()) << s->log();
    addresses.push_back(s->address());
  }
  const std::string url =
      absl::StrCat("nats://", absl::StrJoin(addresses, ","), "/work?replicas=3&ack_wait_ms=5000");
  // The cluster elects its JetStream meta leader some time after the servers are ready; nothing
  // announces it to a client, so creating the queue is retried (bounded).
  absl::StatusOr<Jobs> q = absl::UnavailableError("not yet");
  ASSERT_TRUE(channel_test::Eventually(
      [&] {
        q = Jobs::CreateNamed(url);
        if (absl::IsAlreadyExists(q.status())) q = Jobs::Open(url);
        return q.ok();
      },
      absl::Seconds(60)))
      << q.status();

  const std::string peer = channel_test::Runfile("channel/internal/nats/queue_peer");
  constexpr int kPerProducer = 1500;
  int out[4];
  std::vector<pid_t> pids;
  pids.push_back(channel_test::Spawn({peer, url, "consume"}, &out[0]));
  pids.push_back(channel_test::Spawn({peer, url, "consume"}, &out[1]));
  pids.push_back(channel_test::Spawn({peer, url, "produce", absl::StrCat(kPerProducer), "0"},
                                     &out[2]));
  pids.push_back(channel_test::Spawn(
      {peer, url, "produce", absl::StrCat(kPerProducer), "100000"}, &out[3]));

  // Once items flow, kill the server leading the stream (where the Puts and acks land).
  const std::string first_line = testing::ReadLine(out[0]);
  ASSERT_NE(first_line, "");
  const std::string leader =
      StreamLeader(absl::StrCat("nats://", absl::StrJoin(addresses, ",nats://")), "TC_work");
  int killed = 0;
  for (int i = 0; i < 3; ++i) {
    if (absl::StrCat("n", i) == leader) killed = i;
  }
  servers[killed]->Kill();

  const std::string p1 = channel_test::ReadAll(out[2], absl::Seconds(120));
  const std::string p2 = channel_test::ReadAll(out[3], absl::Seconds(120));
  EXPECT_EQ(channel_test::WaitChild(pids[2]), 0) << p1;
  EXPECT_EQ(channel_test::WaitChild(pids[3]), 0) << p2;
  EXPECT_EQ(p1, absl::StrCat("put ", kPerProducer, "\n"));
  EXPECT_EQ(p2, absl::StrCat("put ", kPerProducer, "\n"));
  absl::Status joined = q->Join(absl::Seconds(120));
  EXPECT_TRUE(joined.ok()) << joined;
  for (int i = 0; i < 2; ++i) {
    capnp::MallocMessageBuilder end;
    end.initRoot<demo::Job>().setEndOfStream();
    ASSERT_TRUE(q->Put(end, absl::Seconds(60)).ok());
  }
  std::map<int, int> done, undone;
  for (int i = 0; i < 2; ++i) {
    const std::string text =
        (i == 0 ? first_line : "") + channel_test::ReadAll(out[i], absl::Seconds(120));
    EXPECT_EQ(channel_test::WaitChild(pids[i]), 0);
    CountLines(text, "done", &done);
    CountLines(text, "undone", &undone);
  }
  // Every acknowledged Put was delivered (each producer exited 0: all its Puts were
  // acknowledged); none was processed twice after a successful TaskDone.
  for (int base : {0, 100000}) {
    for (int id = base; id < base + kPerProducer; ++id) {
      EXPECT_TRUE(done.count(id) + undone.count(id) > 0) << "item " << id << " lost";
      EXPECT_LE(done[id], 1) << "item " << id << " done twice";
    }
  }
  RecordProperty("failed_task_dones", static_cast<int>(undone.size()));
}

}  // namespace
}  // namespace channel
