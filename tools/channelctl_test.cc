// channelctl driven as a user would: the binary, run with arguments, against queues that a test
// program (queue_maker, or this test for a type channelctl does not know) created, with its text
// and JSON output and its exit codes checked.
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <fstream>
#include <string>
#include <vector>

#include <capnp/message.h>
#include <gtest/gtest.h>

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "channel/channel.h"
#include "tests/test_util.h"
#include "tools/testdata/ledger.capnp.h"

namespace {

using channel_test::Runfile;

std::string RunfilePath(const std::string& path) { return Runfile(path); }

struct Ran {
  int exit_code = -1;
  std::string out, err;
};

// Runs `path` with `args` to completion (bounded), capturing stdout and stderr.
Ran RunProgram(const std::string& path, const std::vector<std::string>& args,
               absl::Duration timeout = absl::Seconds(60)) {
  int out[2], err[2];
  EXPECT_EQ(pipe2(out, O_CLOEXEC), 0);
  EXPECT_EQ(pipe2(err, O_CLOEXEC), 0);
  const pid_t pid = fork();
  if (pid == 0) {
    dup2(out[1], 1);
    dup2(err[1], 2);
    std::vector<char*> argv{const_cast<char*>(path.c_str())};
    for (const std::string& a : args) argv.push_back(const_cast<char*>(a.c_str()));
    argv.push_back(nullptr);
    execv(path.c_str(), argv.data());
    _exit(127);
  }
  close(out[1]);
  close(err[1]);
  Ran run;
  const absl::Time deadline = absl::Now() + timeout;
  pollfd fds[2] = {{out[0], POLLIN, 0}, {err[0], POLLIN, 0}};
  int open_fds = 2;
  while (open_fds > 0) {
    const int64_t ms = absl::ToInt64Milliseconds(deadline - absl::Now());
    if (ms <= 0 || poll(fds, 2, static_cast<int>(ms)) <= 0) break;
    for (int i = 0; i < 2; ++i) {
      if (fds[i].fd < 0 || fds[i].revents == 0) continue;
      char buf[4096];
      const ssize_t n = read(fds[i].fd, buf, sizeof buf);
      if (n <= 0) {
        close(fds[i].fd);
        fds[i].fd = -1;
        --open_fds;
        continue;
      }
      (i == 0 ? run.out : run.err).append(buf, static_cast<size_t>(n));
    }
  }
  for (pollfd& p : fds) {
    if (p.fd >= 0) close(p.fd);
  }
  run.exit_code = channel_test::WaitChild(pid, std::max(deadline - absl::Now(), absl::Seconds(1)));
  if (run.exit_code == -1000) {
    channel_test::KillAndReap(pid);
    ADD_FAILURE() << path << " did not finish within " << timeout;
  }
  return run;
}

// A process that runs in the background until it prints "ready".
struct Background {
  pid_t pid = -1;
  int out = -1;
};

class ChannelctlTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string tmpl = std::string(getenv("TEST_TMPDIR") ? getenv("TEST_TMPDIR") : "/tmp") +
                       "/queues.XXXXXX";
    ASSERT_NE(mkdtemp(tmpl.data()), nullptr);
    dir_ = tmpl;
    setenv("TYPED_CHANNEL_DIR", dir_.c_str(), 1);  // inherited by channelctl and queue_maker
  }
  void TearDown() override {
    for (const Background& b : background_) {
      if (b.pid > 0) channel_test::KillAndReap(b.pid);
      close(b.out);
    }
  }
  // SIGKILLs a process StartMaker started and reaps it (bounded).
  void Kill(pid_t pid) {
    for (Background& b : background_) {
      if (b.pid != pid) continue;
      ASSERT_EQ(kill(pid, SIGKILL), 0);
      ASSERT_EQ(channel_test::WaitChild(pid, absl::Seconds(30)), -SIGKILL);
      b.pid = -1;
    }
  }

  Ran Ctl(const std::vector<std::string>& args) {
    return RunProgram(RunfilePath("tools/channelctl"), args);
  }
  void Maker(const std::vector<std::string>& args) {
    Ran r = RunProgram(RunfilePath("tools/queue_maker"), args);
    ASSERT_EQ(r.exit_code, 0) << r.err;
  }
  // Starts queue_maker and waits (bounded) for its "ready" line.
  Background StartMaker(std::vector<std::string> args) {
    args.insert(args.begin(), RunfilePath("tools/queue_maker"));
    Background b;
    b.pid = channel_test::Spawn(args, &b.out);
    background_.push_back(b);
    std::string line;
    char c;
    while (line != "ready") {
      pollfd p{b.out, POLLIN, 0};
      if (poll(&p, 1, 30000) != 1 || read(b.out, &c, 1) != 1) {
        ADD_FAILURE() << "queue_maker did not get ready";
        break;
      }
      line = c == '\n' ? line : line + c;
    }
    return b;
  }
  // Stat field `field` of queue `name` from `stat --json` (-1 if absent).
  int64_t StatField(const std::string& name, const std::string& field) {
    Ran r = Ctl({"stat", name, "--json"});
    EXPECT_EQ(r.exit_code, 0) << r.err;
    return JsonNumber(r.out, field);
  }
  // The first number named `field` after `after` (a key that precedes it) in `json`.
  static int64_t JsonNumber(const std::string& json, const std::string& field,
                            const std::string& after = "") {
    const std::string key = absl::StrCat("\"", field, "\":");
    const size_t at = json.find(key, after.empty() ? 0 : json.find(after));
    if (at == std::string::npos) return -1;
    int64_t v = -1;
    const std::string rest = json.substr(at + key.size());
    (void)absl::SimpleAtoi(rest.substr(0, rest.find_first_of(",}")), &v);
    return v;
  }
  // Waits (bounded) until `field` of `name` reads `want`: the blocked counts change when the
  // other process enters its wait, which nothing else announces.
  bool WaitForStat(const std::string& name, const std::string& field, int64_t want) {
    return channel_test::Eventually([&] { return StatField(name, field) == want; });
  }

  std::string dir_;
  std::vector<Background> background_;
};

TEST_F(ChannelctlTest, HelpOnEveryVerbAndUsageErrors) {
  for (const std::string verb : {"list", "stat", "peek", "unlink", "repair"}) {
    Ran r = Ctl({verb, "--help"});
    EXPECT_EQ(r.exit_code, 0) << verb;
    EXPECT_TRUE(absl::StartsWith(r.out, "usage: channelctl " + verb)) << r.out;
    Ran h = Ctl({"help", verb});
    EXPECT_EQ(h.out, r.out);
  }
  Ran main_help = Ctl({"--help"});
  EXPECT_EQ(main_help.exit_code, 0);
  EXPECT_TRUE(absl::StrContains(main_help.out, "exit codes:"));
  EXPECT_EQ(Ctl({}).exit_code, 2);
  EXPECT_EQ(Ctl({"frobnicate"}).exit_code, 2);
  EXPECT_EQ(Ctl({"stat"}).exit_code, 2);
  EXPECT_EQ(Ctl({"stat", "x", "--watch", "soon"}).exit_code, 2);
  EXPECT_EQ(Ctl({"peek", "x", "-n", "0"}).exit_code, 2);
  EXPECT_EQ(Ctl({"list", "--bogus"}).exit_code, 2);
  Ran missing = Ctl({"stat", "nosuch"});
  EXPECT_EQ(missing.exit_code, 3);
  EXPECT_TRUE(absl::StrContains(missing.err, "no queue named \"nosuch\"")) << missing.err;
}

TEST_F(ChannelctlTest, ListAndStatShowEveryField) {
  Maker({"joinable", "create", "jobs", "100"});
  Maker({"queue", "create", "logs", "0"});
  Maker({"joinable", "put", "jobs", "40"});
  Maker({"joinable", "get", "jobs", "15"});
  Maker({"queue", "put", "logs", "5"});

  Ran list = Ctl({"list"});
  ASSERT_EQ(list.exit_code, 0) << list.err;
  std::vector<std::string> lines = absl::StrSplit(list.out, '\n', absl::SkipEmpty());
  ASSERT_EQ(lines.size(), 3u) << list.out;
  EXPECT_EQ(std::vector<std::string>(absl::StrSplit(lines[0], ' ', absl::SkipEmpty())),
            (std::vector<std::string>{"NAME", "KIND", "TYPE", "MAXSIZE", "QSIZE", "UNFINISHED",
                                      "ATTACHED", "LOST", "STATE"}));
  EXPECT_EQ(std::vector<std::string>(absl::StrSplit(lines[1], ' ', absl::SkipEmpty())),
            (std::vector<std::string>{"jobs", "JoinableQueue", "schema/demo.capnp:Job", "100",
                                      "25", "25", "0", "0", "idle"}));
  EXPECT_EQ(std::vector<std::string>(absl::StrSplit(lines[2], ' ', absl::SkipEmpty())),
            (std::vector<std::string>{"logs", "Queue", "schema/demo.capnp:Job", "unbounded", "5",
                                      "-", "0", "0", "idle"}));
  // Aligned: every column starts at the same offset on every line.
  EXPECT_EQ(lines[0].find("KIND"), lines[1].find("JoinableQueue"));
  EXPECT_EQ(lines[0].find("STATE"), lines[2].find("idle"));

  Ran json = Ctl({"stat", "jobs", "--json"});
  ASSERT_EQ(json.exit_code, 0) << json.err;
  EXPECT_TRUE(absl::StartsWith(json.out, "{\"name\":\"jobs\",\"kind\":\"JoinableQueue\","
                                         "\"type\":\"schema/demo.capnp:Job\","))
      << json.out;
  EXPECT_EQ(JsonNumber(json.out, "items_put"), 40);
  EXPECT_EQ(JsonNumber(json.out, "items_got"), 15);
  EXPECT_EQ(JsonNumber(json.out, "depth"), 25);
  EXPECT_EQ(JsonNumber(json.out, "peak_depth"), 40);  // no Get ran while the Puts did
  EXPECT_EQ(JsonNumber(json.out, "unfinished"), 25);
  EXPECT_EQ(JsonNumber(json.out, "maxsize"), 100);
  EXPECT_GT(JsonNumber(json.out, "bytes_got"), 15 * 8);
  EXPECT_GT(JsonNumber(json.out, "bytes_put"), JsonNumber(json.out, "bytes_got"));
  for (const char* zero : {"items_lost", "resyncs", "torn_writes", "dead_processes",
                           "blocked_puts", "blocked_gets", "attached_processes",
                           "items_dropped_by_shutdown"}) {
    EXPECT_EQ(JsonNumber(json.out, zero), 0) << zero;
  }
  EXPECT_TRUE(absl::StrContains(json.out, "\"shut_down\":false"));
  EXPECT_TRUE(absl::StrContains(json.out, "\"state\":\"idle\""));

  Ran text = Ctl({"stat", "logs"});
  ASSERT_EQ(text.exit_code, 0);
  for (const char* row : {"items_put                  5\n", "unfinished                 0\n",
                          "maxsize                    unbounded\n"}) {
    EXPECT_TRUE(absl::StrContains(text.out, row)) << row << " in\n" << text.out;
  }
  Ran list_json = Ctl({"list", "--json"});
  EXPECT_TRUE(absl::StartsWith(list_json.out, "[{\"name\":\"jobs\"")) << list_json.out;
  EXPECT_TRUE(absl::StrContains(list_json.out, "},{\"name\":\"logs\""));
}

TEST_F(ChannelctlTest, SigkilledProducerShowsColdAndRepairAccountsTheLoss) {
  Maker({"queue", "create", "crashy", "0"});
  // Few enough to fit in the pipe however small the kernel makes it (one page, under load).
  Background producer = StartMaker({"queue", "put_hang", "crashy", "20"});
  Ran open = Ctl({"stat", "crashy", "--json"});
  EXPECT_TRUE(absl::StrContains(open.out, absl::StrCat("\"state\":\"open\",\"pids\":[",
                                                       producer.pid, "]")))
      << open.out;
  EXPECT_EQ(JsonNumber(open.out, "depth"), 20);
  EXPECT_EQ(Ctl({"repair", "crashy"}).exit_code, 5);  // in use: its processes repair it

  ASSERT_NO_FATAL_FAILURE(Kill(producer.pid));
  Ran cold = Ctl({"stat", "crashy", "--json"});
  EXPECT_TRUE(absl::StrContains(
      cold.out, absl::StrCat("\"state\":\"cold\",\"pids\":[],\"dead_pids\":[", producer.pid, "]")))
      << cold.out;
  EXPECT_EQ(JsonNumber(cold.out, "attached_processes"), 0);
  Ran list = Ctl({"list"});
  EXPECT_TRUE(absl::StrContains(list.out, " cold\n")) << list.out;

  Ran repair = Ctl({"repair", "crashy", "--json"});
  ASSERT_EQ(repair.exit_code, 0) << repair.err;
  EXPECT_EQ(JsonNumber(repair.out, "dead_processes_reaped"), 1) << repair.out;
  EXPECT_EQ(JsonNumber(repair.out, "deliverable"), 0) << repair.out;
  EXPECT_EQ(JsonNumber(repair.out, "items_lost", "\"deliverable\"") +
                JsonNumber(repair.out, "lost_still_to_count"),
            20)
      << repair.out;
  Ran after = Ctl({"stat", "crashy", "--json"});
  EXPECT_TRUE(absl::StrContains(after.out, "\"state\":\"idle\"")) << after.out;
  EXPECT_EQ(JsonNumber(after.out, "items_put"), 20);
  EXPECT_EQ(JsonNumber(after.out, "dead_processes"), 1);
  EXPECT_EQ(JsonNumber(after.out, "depth") + JsonNumber(after.out, "items_lost"), 20);
}

TEST_F(ChannelctlTest, BlockedCallsAndAttachedProcessesSurviveAKill) {
  Maker({"queue", "create", "full", "2"});
  Maker({"queue", "create", "empty", "0"});
  Background putter = StartMaker({"queue", "put_block", "full", "0"});
  StartMaker({"queue", "get_hang", "empty", "0"});
  EXPECT_TRUE(WaitForStat("full", "blocked_puts", 1));
  EXPECT_TRUE(WaitForStat("empty", "blocked_gets", 1));
  EXPECT_EQ(StatField("full", "attached_processes"), 1);
  EXPECT_EQ(StatField("full", "depth"), 2);
  // A process killed while blocked leaves no count behind.
  ASSERT_NO_FATAL_FAILURE(Kill(putter.pid));
  EXPECT_EQ(StatField("full", "blocked_puts"), 0);
  EXPECT_EQ(StatField("full", "attached_processes"), 0);
  EXPECT_EQ(StatField("empty", "blocked_gets"), 1);
}

TEST_F(ChannelctlTest, PeekShowsItemsWithoutConsumingThem) {
  Maker({"joinable", "create", "jobs", "0"});
  Maker({"joinable", "put", "jobs", "10"});
  Maker({"joinable", "get", "jobs", "4"});
  Ran peek = Ctl({"peek", "jobs", "-n", "3"});
  ASSERT_EQ(peek.exit_code, 0) << peek.err;
  std::vector<std::string> lines = absl::StrSplit(peek.out, '\n', absl::SkipEmpty());
  ASSERT_EQ(lines.size(), 7u) << peek.out;
  EXPECT_TRUE(absl::StartsWith(lines[0], "#1  seq 5  ")) << lines[0];
  EXPECT_TRUE(absl::StrContains(lines[1], "(id = 4, producer = \"")) << lines[1];
  EXPECT_TRUE(absl::EndsWith(lines[1], "payload = \"job-4\")")) << lines[1];
  EXPECT_TRUE(absl::EndsWith(lines[5], "payload = \"job-6\")")) << lines[5];
  EXPECT_EQ(lines[6], "(more bytes follow in staging)");
  Ran json = Ctl({"peek", "jobs", "--json"});
  EXPECT_TRUE(absl::StartsWith(json.out, "{\"items\":[{\"seq\":5,")) << json.out;
  EXPECT_TRUE(absl::StrContains(json.out, "\\\"job-9\\\")\"}],\"more\":false}")) << json.out;
  EXPECT_EQ(StatField("jobs", "depth"), 6);
  EXPECT_EQ(StatField("jobs", "items_got"), 4);
  Maker({"joinable", "get", "jobs", "6"});  // still all there, in order
}

TEST_F(ChannelctlTest, PeekDecodesOtherTypesOnlyWithTheirSchema) {
  {
    auto q = channel::Queue<ledger::Entry>::CreateNamed("ledger");
    ASSERT_TRUE(q.ok()) << q.status();
    capnp::MallocMessageBuilder b;
    auto e = b.initRoot<ledger::Entry>();
    e.setAccount("acme");
    e.setCents(-1250);
    ASSERT_TRUE(q->Put(b).ok());
  }  // released: flushed into the queue file
  Ran raw = Ctl({"peek", "ledger"});
  ASSERT_EQ(raw.exit_code, 0) << raw.err;
  EXPECT_TRUE(absl::StartsWith(raw.out, "(no schema for tools/testdata/ledger.capnp:Entry"))
      << raw.out;
  EXPECT_TRUE(absl::StrContains(raw.out, "(no schema: a struct with 8 data bytes and 1 pointers"))
      << raw.out;
  Ran decoded = Ctl({"peek", "ledger", "--schema", RunfilePath("tools/testdata/ledger.capnp")});
  ASSERT_EQ(decoded.exit_code, 0) << decoded.err;
  EXPECT_TRUE(absl::StrContains(decoded.out, "(account = \"acme\", cents = -1250)"))
      << decoded.out;
  Ran bad = Ctl({"peek", "ledger", "--schema", "/nonexistent.capnp"});
  EXPECT_EQ(bad.exit_code, 2);
  EXPECT_TRUE(absl::StrContains(bad.err, "cannot use schema /nonexistent.capnp")) << bad.err;
}

TEST_F(ChannelctlTest, WatchComputesRatesBetweenSamples) {
  Maker({"queue", "create", "w", "0"});
  Ran watch = Ctl({"stat", "w", "--json", "--watch", "0.05", "--count", "3"});
  ASSERT_EQ(watch.exit_code, 0) << watch.err;
  std::vector<std::string> samples = absl::StrSplit(watch.out, '\n', absl::SkipEmpty());
  ASSERT_EQ(samples.size(), 3u) << watch.out;
  EXPECT_FALSE(absl::StrContains(samples[0], "\"rates\""));
  EXPECT_TRUE(absl::StrContains(samples[2], "\"rates\":{\"items_put_per_s\":0.0,")) << samples[2];
  Ran text = Ctl({"stat", "w", "--watch", "0.05", "--count", "2"});
  EXPECT_TRUE(absl::StrContains(text.out, "items_put                  0  (0.0 items/s)"))
      << text.out;
}

TEST_F(ChannelctlTest, PrometheusExposition) {
  Maker({"joinable", "create", "jobs", "100"});
  Maker({"joinable", "put", "jobs", "7"});
  Ran prom = Ctl({"stat", "--all", "--format=prometheus"});
  ASSERT_EQ(prom.exit_code, 0) << prom.err;
  const std::string labels = "{queue=\"jobs\",kind=\"JoinableQueue\",type=\"schema/demo.capnp:Job\"}";
  for (const std::string& line : std::vector<std::string>{
           "# TYPE typed_channel_items_put_total counter",
           "typed_channel_items_put_total" + labels + " 7", "# TYPE typed_channel_depth gauge",
        "typed_channel_depth" + labels + " 7", "typed_channel_unfinished" + labels + " 7",
        "typed_channel_maxsize" + labels + " 100", "typed_channel_shut_down" + labels + " 0",
           "typed_channel_readable{queue=\"jobs\"} 1"}) {
    EXPECT_TRUE(absl::StrContains(prom.out, line + "\n")) << line << " in\n" << prom.out;
  }
}

TEST_F(ChannelctlTest, RefusesMalformedAndUnsafeQueueFiles) {
  Maker({"queue", "create", "good", "0"});
  {
    std::ofstream garbage(dir_ + "/garbage.queue");
    garbage << std::string(100000, 'x');
  }
  chmod((dir_ + "/garbage.queue").c_str(), 0600);
  Ran stat = Ctl({"stat", "garbage"});
  EXPECT_EQ(stat.exit_code, 4);
  EXPECT_TRUE(absl::StrContains(stat.err, "queue \"garbage\": not a typed_channel queue file"))
      << stat.err;
  Ran list = Ctl({"list"});
  EXPECT_EQ(list.exit_code, 4);  // the others are still listed
  EXPECT_TRUE(absl::StrContains(
      list.out, "refused: queue \"garbage\": not a typed_channel queue file\n"))
      << list.out;
  EXPECT_TRUE(absl::StrContains(list.out, "\ngood ")) << list.out;
  EXPECT_EQ(Ctl({"unlink", "garbage"}).exit_code, 4);  // not removed blindly either

  ASSERT_EQ(chmod((dir_ + "/good.queue").c_str(), 0644), 0);
  Ran open_mode = Ctl({"peek", "good"});
  EXPECT_EQ(open_mode.exit_code, 4);
  EXPECT_TRUE(absl::StrContains(open_mode.err, "group/other access is not allowed"))
      << open_mode.err;
  ASSERT_EQ(chmod((dir_ + "/good.queue").c_str(), 0600), 0);
  // Only root can give a file away (and not always inside a sandbox's user namespace).
  if (chown((dir_ + "/good.queue").c_str(), 4242, 4242) == 0) {
    Ran foreign = Ctl({"stat", "good"});
    EXPECT_EQ(foreign.exit_code, 4);
    EXPECT_TRUE(absl::StrContains(foreign.err, "is owned by uid 4242")) << foreign.err;
    ASSERT_EQ(chown((dir_ + "/good.queue").c_str(), 0, 0), 0);
  }
  ASSERT_EQ(symlink((dir_ + "/good.queue").c_str(), (dir_ + "/link.queue").c_str()), 0);
  Ran link = Ctl({"stat", "link"});
  EXPECT_EQ(link.exit_code, 4);
  EXPECT_TRUE(absl::StrContains(link.err, "is a symlink")) << link.err;

  Ran unlink = Ctl({"unlink", "good"});
  EXPECT_EQ(unlink.exit_code, 0) << unlink.err;
  EXPECT_EQ(Ctl({"stat", "good"}).exit_code, 3);
}

}  // namespace
