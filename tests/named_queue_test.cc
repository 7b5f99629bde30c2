// Named queues: rendezvous by name between unrelated processes and different binaries, the
// status of every call, type/kind checking, persistence of items while no process has the queue
// open, Unlink semantics, and hostile directory contents.
#include <fcntl.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include <fstream>
#include <map>
#include <string>

#include <gtest/gtest.h>

#include "channel/channel.h"
#include "tests/test_util.h"

namespace {

using channel::JoinableQueue;
using channel::Queue;
using channel_test::JobMessage;

class NamedQueueTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string tmpl = std::string(getenv("TEST_TMPDIR") ? getenv("TEST_TMPDIR") : "/tmp") +
                       "/queues.XXXXXX";
    ASSERT_NE(mkdtemp(tmpl.data()), nullptr);
    dir_ = tmpl;
    setenv("TYPED_CHANNEL_DIR", dir_.c_str(), 1);
  }
  std::string dir_;
};

TEST_F(NamedQueueTest, BadNamesAreInvalidArgument) {
  for (const std::string& bad :
       {std::string(""), std::string(201, 'a'), std::string(".hidden"), std::string("a/b"),
        std::string("../x"), std::string("sp ace"), std::string("nul\0x", 5)}) {
    EXPECT_TRUE(absl::IsInvalidArgument(Queue<demo::Job>::CreateNamed(bad).status())) << bad;
    EXPECT_TRUE(absl::IsInvalidArgument(Queue<demo::Job>::Open(bad).status())) << bad;
    EXPECT_TRUE(absl::IsInvalidArgument(Queue<demo::Job>::Unlink(bad))) << bad;
  }
  EXPECT_TRUE(Queue<demo::Job>::CreateNamed(std::string(200, 'a')).ok());
  EXPECT_TRUE(Queue<demo::Job>::CreateNamed("A-z_0.9").ok());
}

TEST_F(NamedQueueTest, ExistenceStatuses) {
  EXPECT_TRUE(absl::IsNotFound(Queue<demo::Job>::Open("jobs").status()));
  EXPECT_TRUE(absl::IsNotFound(Queue<demo::Job>::Unlink("jobs")));
  auto q = Queue<demo::Job>::CreateNamed("jobs");
  ASSERT_TRUE(q.ok()) << q.status();
  EXPECT_TRUE(absl::IsAlreadyExists(Queue<demo::Job>::CreateNamed("jobs").status()));
  EXPECT_TRUE(absl::IsAlreadyExists(JoinableQueue<demo::Small>::CreateNamed("jobs").status()));
  EXPECT_TRUE(Queue<demo::Job>::Open("jobs").ok());
  EXPECT_TRUE(Queue<demo::Job>::Unlink("jobs").ok());
  EXPECT_TRUE(absl::IsNotFound(Queue<demo::Job>::Open("jobs").status()));
}

TEST_F(NamedQueueTest, TypeAndKindMismatchNameBothSides) {
  ASSERT_TRUE(Queue<demo::Job>::CreateNamed("typed").ok());
  absl::Status s = Queue<demo::Small>::Open("typed").status();
  EXPECT_TRUE(absl::IsFailedPrecondition(s)) << s;
  EXPECT_NE(s.message().find("Job"), std::string::npos) << s;
  EXPECT_NE(s.message().find("Small"), std::string::npos) << s;
  s = JoinableQueue<demo::Job>::Open("typed").status();
  EXPECT_TRUE(absl::IsFailedPrecondition(s)) << s;
  EXPECT_NE(s.message().find("JoinableQueue<"), std::string::npos) << s;
  EXPECT_NE(s.message().find("a Queue<"), std::string::npos) << s;
  ASSERT_TRUE(JoinableQueue<demo::Job>::CreateNamed("joinable").ok());
  s = Queue<demo::Job>::Open("joinable").status();
  EXPECT_TRUE(absl::IsFailedPrecondition(s)) << s;
}

TEST_F(NamedQueueTest, OptionsTravelWithTheQueue) {
  channel::QueueOptions o;
  o.maxsize = 7;
  o.max_message_bytes = 4096;
  auto created = Queue<demo::Job>::CreateNamed("opts", o);
  ASSERT_TRUE(created.ok());
  auto opened = Queue<demo::Job>::Open("opts");
  ASSERT_TRUE(opened.ok());
  EXPECT_EQ(opened->maxsize(), 7);
  EXPECT_EQ(opened->max_message_bytes(), 4096u);
}

TEST_F(NamedQueueTest, ItemsPersistWhileNoProcessHasTheQueueOpen) {
  // Producer A creates and fills the queue and exits before any consumer exists; producer B
  // opens it, adds more, exits; only then does a consumer open it and find every item.
  const pid_t a = channel_test::ForkChild([] {
    auto q = Queue<demo::Job>::CreateNamed("persist");
    if (!q.ok()) return 1;
    for (int i = 0; i < 300; ++i) {
      JobMessage m(i, std::string(200, 'a'));
      if (!q->Put(m.builder).ok()) return 2;
    }
    exit(0);
  });
  ASSERT_EQ(channel_test::WaitChild(a), 0);
  const pid_t b = channel_test::ForkChild([] {
    auto q = Queue<demo::Job>::Open("persist");
    if (!q.ok()) return 1;
    if (q->qsize() != 300) return 3;
    for (int i = 300; i < 400; ++i) {
      JobMessage m(i);
      if (!q->Put(m.builder).ok()) return 2;
    }
    exit(0);
  });
  ASSERT_EQ(channel_test::WaitChild(b), 0);
  auto q = Queue<demo::Job>::Open("persist");
  ASSERT_TRUE(q.ok()) << q.status();
  EXPECT_EQ(q->qsize(), 400);
  for (int i = 0; i < 400; ++i) {
    auto m = q->Get(absl::Seconds(10));
    ASSERT_TRUE(m.ok()) << i << ": " << m.status();
    ASSERT_EQ((*m)->getId(), static_cast<uint64_t>(i));
  }
  EXPECT_TRUE(q->empty());
}

TEST_F(NamedQueueTest, ProducerExitsWithMoreThanTheFifoHoldsAndNoReader) {
  // 8 MiB in 64 KiB items: far more than a FIFO buffers. The exiting producer must neither hang
  // nor lose them.
  constexpr int kItems = 128;
  const pid_t producer = channel_test::ForkChild([] {
    auto q = Queue<demo::Job>::CreateNamed("big");
    if (!q.ok()) return 1;
    for (int i = 0; i < kItems; ++i) {
      JobMessage m(i, "", 64 << 10);
      if (!q->Put(m.builder).ok()) return 2;
    }
    exit(0);
  });
  ASSERT_EQ(channel_test::WaitChild(producer, absl::Seconds(60)), 0);
  auto q = Queue<demo::Job>::Open("big");
  ASSERT_TRUE(q.ok()) << q.status();
  EXPECT_EQ(q->qsize(), kItems);
  for (int i = 0; i < kItems; ++i) {
    auto m = q->Get(absl::Seconds(10));
    ASSERT_TRUE(m.ok()) << i << ": " << m.status();
    ASSERT_EQ((*m)->getId(), static_cast<uint64_t>(i));
    ASSERT_TRUE(channel_test::DataMatches(i, (*m)->getData()));
  }
}

TEST_F(NamedQueueTest, PersistsAcrossCloseAndReopenInOneProcess) {
  {
    auto q = Queue<demo::Job>::CreateNamed("reopen");
    ASSERT_TRUE(q.ok());
    JobMessage m(11);
    ASSERT_TRUE(q->Put(m.builder).ok());
  }  // the last handle flushes, then the FIFO's bytes move into the queue file
  auto q = Queue<demo::Job>::Open("reopen");
  ASSERT_TRUE(q.ok());
  auto m = q->Get(absl::Seconds(10));
  ASSERT_TRUE(m.ok()) << m.status();
  EXPECT_EQ((*m)->getId(), 11u);
}

TEST_F(NamedQueueTest, UnlinkKeepsOpenHandlesWorkingAndFreesTheName) {
  auto q = Queue<demo::Job>::CreateNamed("gone");
  ASSERT_TRUE(q.ok());
  ASSERT_TRUE(Queue<demo::Job>::Unlink("gone").ok());
  JobMessage m(5);
  ASSERT_TRUE(q->Put(m.builder).ok());
  auto got = q->Get(absl::Seconds(10));
  ASSERT_TRUE(got.ok()) << got.status();
  EXPECT_EQ((*got)->getId(), 5u);
  auto fresh = Queue<demo::Job>::CreateNamed("gone");
  ASSERT_TRUE(fresh.ok()) << fresh.status();
  ASSERT_TRUE(q->Put(m.builder).ok());
  EXPECT_TRUE(channel::IsEmpty(fresh->Get(absl::Milliseconds(200)).status()));
  EXPECT_EQ(q->qsize(), 1);
}

TEST_F(NamedQueueTest, CorruptQueueFilesAreErrorsNotCrashes) {
  ASSERT_TRUE(Queue<demo::Job>::CreateNamed("victim").ok());
  const std::string path = dir_ + "/victim.queue";
  struct stat st;
  ASSERT_EQ(stat(path.c_str(), &st), 0);
  // Truncated.
  ASSERT_EQ(truncate(path.c_str(), 100), 0);
  absl::Status s = Queue<demo::Job>::Open("victim").status();
  EXPECT_TRUE(absl::IsDataLoss(s)) << s;
  // Right size, garbage header.
  ASSERT_EQ(truncate(path.c_str(), st.st_size), 0);
  {
    const int fd = open(path.c_str(), O_WRONLY);
    std::string junk(4096, '\x5a');
    ASSERT_EQ(pwrite(fd, junk.data(), junk.size(), 0), static_cast<ssize_t>(junk.size()));
    close(fd);
  }
  s = Queue<demo::Job>::Open("victim").status();
  EXPECT_TRUE(absl::IsDataLoss(s)) << s;
  EXPECT_TRUE(Queue<demo::Job>::Unlink("victim").ok());
}

TEST_F(NamedQueueTest, SymlinksAndForeignPermissionsAreRefused) {
  ASSERT_TRUE(Queue<demo::Job>::CreateNamed("real").ok());
  ASSERT_EQ(symlink((dir_ + "/real.queue").c_str(), (dir_ + "/link.queue").c_str()), 0);
  absl::Status s = Queue<demo::Job>::Open("link").status();
  EXPECT_TRUE(absl::IsFailedPrecondition(s)) << s;
  // A queue file readable by others is not ours to trust.
  ASSERT_EQ(chmod((dir_ + "/real.queue").c_str(), 0644), 0);
  s = Queue<demo::Job>::Open("real").status();
  EXPECT_TRUE(absl::IsPermissionDenied(s)) << s;
  // Nor is a world-writable queue directory.
  ASSERT_EQ(chmod(dir_.c_str(), 0777), 0);
  s = Queue<demo::Job>::Open("real").status();
  EXPECT_TRUE(absl::IsPermissionDenied(s)) << s;
  ASSERT_EQ(chmod(dir_.c_str(), 0700), 0);
}

// The directory checks name TYPED_CHANNEL_DIR and say what to do; a shared directory (sticky or
// world-writable, like /tmp) is never answered with advice to chmod it.
TEST_F(NamedQueueTest, ASharedDirectoryIsRefusedWithItsRealModeAndAPrivateSubdirectory) {
  const std::string shared = dir_ + "/shared";
  ASSERT_EQ(mkdir(shared.c_str(), 0700), 0);
  ASSERT_EQ(chmod(shared.c_str(), 01777), 0);
  setenv("TYPED_CHANNEL_DIR", shared.c_str(), 1);
  const std::string subdir = shared + "/typed_channel-" + std::to_string(geteuid());
  for (const absl::Status& s :
       {Queue<demo::Job>::CreateNamed("q").status(), Queue<demo::Job>::Open("q").status(),
        Queue<demo::Job>::Unlink("q")}) {
    EXPECT_TRUE(absl::IsPermissionDenied(s)) << s;
    const std::string text(s.message());
    EXPECT_NE(text.find("TYPED_CHANNEL_DIR=" + shared + " has mode 1777"), std::string::npos)
        << text;
    EXPECT_NE(text.find(subdir), std::string::npos) << text;
    EXPECT_EQ(text.find("chmod"), std::string::npos) << text;
  }
  // The advice works: the subdirectory is created private.
  setenv("TYPED_CHANNEL_DIR", subdir.c_str(), 1);
  ASSERT_TRUE(Queue<demo::Job>::CreateNamed("q").ok());
  struct stat st;
  ASSERT_EQ(stat(subdir.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 07777, 0700u);

  // The real /tmp, whoever runs the test: refused (owned by root, or mode 1777), never chmod.
  if (stat("/tmp", &st) == 0 && (st.st_mode & 07777) == 01777) {
    setenv("TYPED_CHANNEL_DIR", "/tmp", 1);
    const absl::Status s = Queue<demo::Job>::Open("q").status();
    EXPECT_TRUE(absl::IsPermissionDenied(s)) << s;
    const std::string text(s.message());
    EXPECT_NE(text.find("/tmp/typed_channel-" + std::to_string(geteuid())), std::string::npos)
        << text;
    EXPECT_EQ(text.find("chmod"), std::string::npos) << text;
  }
}

TEST_F(NamedQueueTest, APrivateDirectoryWithGroupAccessGetsTheChmodAdvice) {
  ASSERT_EQ(chmod(dir_.c_str(), 0750), 0);
  const absl::Status s = Queue<demo::Job>::CreateNamed("q").status();
  ASSERT_EQ(chmod(dir_.c_str(), 0700), 0);
  EXPECT_TRUE(absl::IsPermissionDenied(s)) << s;
  EXPECT_NE(s.message().find("has mode 0750"), absl::string_view::npos) << s;
  EXPECT_NE(s.message().find("chmod go="), absl::string_view::npos) << s;
}

TEST_F(NamedQueueTest, AMissingParentDirectoryIsAFailedPreconditionNamingIt) {
  const std::string missing = dir_ + "/missing/x";
  setenv("TYPED_CHANNEL_DIR", missing.c_str(), 1);
  for (const absl::Status& s :
       {Queue<demo::Job>::CreateNamed("q").status(), Queue<demo::Job>::Open("q").status(),
        Queue<demo::Job>::Unlink("q")}) {
    EXPECT_TRUE(absl::IsFailedPrecondition(s)) << s;
    const std::string text(s.message());
    EXPECT_NE(text.find("TYPED_CHANNEL_DIR=" + missing), std::string::npos) << text;
    EXPECT_NE(text.find("its parent " + dir_ + "/missing/ does not exist"), std::string::npos)
        << text;
    EXPECT_NE(text.find("mkdir -p"), std::string::npos) << text;
  }
  // A file where the directory should be.
  const std::string file = dir_ + "/file";
  std::ofstream(file) << "x";
  setenv("TYPED_CHANNEL_DIR", file.c_str(), 1);
  absl::Status s = Queue<demo::Job>::Open("q").status();
  EXPECT_TRUE(absl::IsFailedPrecondition(s)) << s;
  EXPECT_NE(s.message().find("is not a directory"), absl::string_view::npos) << s;
  setenv("TYPED_CHANNEL_DIR", (file + "/sub").c_str(), 1);
  s = Queue<demo::Job>::Open("q").status();
  EXPECT_TRUE(absl::IsFailedPrecondition(s)) << s;
}

TEST_F(NamedQueueTest, AnotherUserCannotOpenTheQueue) {
  if (geteuid() != 0) GTEST_SKIP() << "needs root to switch to another uid";
  ASSERT_TRUE(Queue<demo::Job>::CreateNamed("private").ok());
  const pid_t other = channel_test::ForkChild([] {
    if (setgid(65534) != 0 || setuid(65534) != 0) return 10;
    absl::Status s = Queue<demo::Job>::Open("private").status();
    return absl::IsPermissionDenied(s) ? 0 : 1;
  });
  const int code = channel_test::WaitChild(other);
  if (code == 10) GTEST_SKIP() << "this sandbox does not allow switching uid";
  EXPECT_EQ(code, 0);
}

TEST_F(NamedQueueTest, AllProcessesKilledLosesOnlyWhatWasInTheFifo) {
  // Everything that had the queue open died (SIGKILL, no flush to the queue file): what the FIFO
  // held is gone. The next Open notices the cold queue, counts the loss, and works normally.
  const pid_t a = channel_test::ForkChild([] {
    auto q = Queue<demo::Job>::CreateNamed("cold");
    if (!q.ok()) return 1;
    for (int i = 0; i < 10; ++i) {
      JobMessage m(i);
      if (!q->Put(m.builder).ok()) return 2;
    }
    q->Close();
    if (!q->JoinThread().ok()) return 3;  // the items are in the FIFO now
    raise(SIGKILL);
    return 4;
  });
  EXPECT_EQ(channel_test::WaitChild(a), -SIGKILL);
  auto q = Queue<demo::Job>::Open("cold");
  ASSERT_TRUE(q.ok()) << q.status();
  ASSERT_TRUE(channel_test::Eventually([&] { return q->qsize() == 0; }));
  EXPECT_EQ(q->stats().items_lost, 10u);
  JobMessage m(42);
  ASSERT_TRUE(q->Put(m.builder).ok());
  auto got = q->Get(absl::Seconds(10));
  ASSERT_TRUE(got.ok()) << got.status();
  EXPECT_EQ((*got)->getId(), 42u);
}

TEST_F(NamedQueueTest, SeparateBinariesShareAJoinableQueue) {
  // Two producer programs and two consumer programs, started with exec; every job is processed
  // exactly once and both producers' Join returns.
  int out[4];
  std::vector<pid_t> pids;
  const std::string producer = channel_test::Runfile("examples/heterogeneous/producer");
  const std::string consumer = channel_test::Runfile("examples/heterogeneous/consumer");
  pids.push_back(channel_test::Spawn({consumer, "orders"}, &out[0]));
  pids.push_back(channel_test::Spawn({consumer, "orders"}, &out[1]));
  pids.push_back(channel_test::Spawn({producer, "orders", "150", "0"}, &out[2]));
  pids.push_back(channel_test::Spawn({producer, "orders", "150", "1000"}, &out[3]));
  const std::string p1 = channel_test::ReadAll(out[2]);
  const std::string p2 = channel_test::ReadAll(out[3]);
  EXPECT_EQ(channel_test::WaitChild(pids[2]), 0) << p1;
  EXPECT_EQ(channel_test::WaitChild(pids[3]), 0) << p2;
  EXPECT_NE(p1.find("all 150 jobs done"), std::string::npos) << p1;
  EXPECT_NE(p2.find("all 150 jobs done"), std::string::npos) << p2;
  // Stop the consumers with one end-of-stream job each.
  auto q = JoinableQueue<demo::Job>::Open("orders");
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
  EXPECT_TRUE(q->Join(absl::Seconds(10)).ok());
  std::map<int, int> processed;
  const std::string marker = "processed job ";
  for (const std::string* text : {&c1, &c2}) {
    for (size_t at = text->find(marker); at != std::string::npos; at = text->find(marker, at + 1)) {
      ++processed[std::stoi(text->substr(at + marker.size()))];
    }
  }
  EXPECT_EQ(processed.size(), 300u);
  for (int id : {0, 149, 1000, 1149}) EXPECT_EQ(processed[id], 1) << id;
  for (const auto& [id, n] : processed) EXPECT_EQ(n, 1) << id;
}

TEST_F(NamedQueueTest, SchemaEvolutionWorksInBothDirectionsBetweenBinaries) {
  // peer_v2 is built with a version of the struct that has two more fields than peer_v1's.
  const std::string v1 = channel_test::Runfile("tests/evolution/peer_v1");
  const std::string v2 = channel_test::Runfile("tests/evolution/peer_v2");
  auto run = [](const std::vector<std::string>& argv, std::string* out) {
    int fd;
    const pid_t pid = channel_test::Spawn(argv, &fd);
    *out = channel_test::ReadAll(fd);
    return channel_test::WaitChild(pid);
  };
  std::string out;
  ASSERT_EQ(run({v2, "produce", "newer-to-older", "20"}, &out), 0) << out;
  ASSERT_EQ(run({v1, "consume", "newer-to-older", "20"}, &out), 0) << out;
  ASSERT_EQ(run({v1, "produce", "older-to-newer", "20"}, &out), 0) << out;
  ASSERT_EQ(run({v2, "consume", "older-to-newer", "20"}, &out), 0) << out;
  EXPECT_NE(out.find("order 19 from a v1 producer"), std::string::npos) << out;
}

}  // namespace
