// Regressions for defects found by the unit tests and the fuzzers, each fixed since: hostile or
// corrupted queue files, malformed payloads, and failure paths that once crashed or hung. Each
// comment block names the defect, where it lived, and the behaviour now expected.
#include <fcntl.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstring>
#include <memory>
#include <string>
#include <vector>

#include <capnp/any.h>
#include <capnp/message.h>
#include <gtest/gtest.h>
#include <kj/exception.h>

#include "channel/channel.h"
#include "channel/internal/wire/capnp_codec.h"
#include "channel/internal/pipe/pipe_queue.h"
#include "channel/internal/pipe/pipe_reader.h"
#include "channel/internal/testing/test_util.h"
#include "schema/demo.capnp.h"

namespace channel {
namespace internal {
namespace {

using ::channel::testing::ForkChild;
using ::channel::testing::KillAndReap;
using ::channel::testing::ReadValue;
using ::channel::testing::TestPipe;
using ::channel::testing::WaitChild;
using ::channel::testing::WaitExited;
using ::channel::testing::WriteValue;

constexpr absl::Duration kLong = absl::Seconds(60);

// Regressions that live with the code they exercise: frames after a tombstone read by a dead
// reader (pipe_reader_test, DiedAfterRead*Tombstone*); a checksum-valid frame with a seq never
// handed out (pipe_reader_test, FrameWithASeqNeverHandedOutIsGarbage); implausible counters in a
// queue file (fuzz/corpus/queue_file_fuzz/hostile_counters_overflow); the daemon spawner across
// fork() and daemon SIGTERM handlers at the parent's exit (process_test).

// ---------------------------------------------------------------------------------------------
// Named-queue files. Each scenario runs in a child process so that a crash is observed as the
// child's exit status.
// ---------------------------------------------------------------------------------------------

class NamedQueueFileTest : public ::testing::Test {
 protected:
  void SetUp() override {
    const char* tmp = getenv("TEST_TMPDIR");
    std::string templ = std::string(tmp != nullptr ? tmp : "/tmp") + "/tcq.XXXXXX";
    ASSERT_NE(mkdtemp(&templ[0]), nullptr);
    dir_ = templ;
    ASSERT_EQ(chmod(dir_.c_str(), 0700), 0);
    setenv("TYPED_CHANNEL_DIR", dir_.c_str(), 1);
  }
  void TearDown() override {
    Queue<demo::Job>::Unlink("q").IgnoreError();
    unsetenv("TYPED_CHANNEL_DIR");
  }
  // Maps the queue file "q" (shared with other processes).
  SharedQueue* MapQueueFile(size_t* bytes) {
    const std::string path = dir_ + "/q.queue";
    const int fd = open(path.c_str(), O_RDWR);
    if (fd < 0) return nullptr;
    struct stat st;
    fstat(fd, &st);
    *bytes = static_cast<size_t>(st.st_size);
    void* p = mmap(nullptr, *bytes, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
    close(fd);
    return p == MAP_FAILED ? nullptr : static_cast<SharedQueue*>(p);
  }
  std::string dir_;
};

// An Open that cannot take the reader lock (another process holds it: here a stopped one) fails
// with kDeadlineExceeded and must leave nothing registered with the exit hooks: it once left a
// dangling pointer there that the next fork() or exit used (heap-use-after-free). Attach now
// registers the process before the queue handle exists.
TEST_F(NamedQueueFileTest, OpenThatTimesOutOnTheReaderLockLeavesNoExitHookBehind) {
  {
    auto q = Queue<demo::Job>::CreateNamed("q");
    ASSERT_TRUE(q.ok()) << q.status();
  }
  size_t bytes = 0;
  SharedQueue* shared = MapQueueFile(&bytes);
  ASSERT_NE(shared, nullptr);
  // A live process holds the reader lock for longer than Open's 10 s bound.
  TestPipe ready, hold;
  const int ready_w = ready.w, hold_r = hold.r;
  const pid_t holder = ForkChild([=] {
    if (!shared->reader.mu.Lock(Deadline::Never()).ok()) return 2;
    WriteValue(ready_w, char{'L'});
    char c;
    ReadValue(hold_r, &c, absl::Seconds(120));
    return 0;
  });
  ASSERT_GT(holder, 0);
  char c;
  ASSERT_TRUE(ReadValue(ready.r, &c, kLong));
  const pid_t opener = ForkChild([] {
    auto q = Queue<demo::Job>::Open("q");
    if (q.ok() || q.status().code() != absl::StatusCode::kDeadlineExceeded) return 2;
    // Reuse the freed PipeQueue's memory, as any later allocation may.
    std::vector<void*> spray;
    for (int i = 0; i < 64; ++i) {
      void* p = malloc(sizeof(PipeQueue));
      memset(p, 0xA5, sizeof(PipeQueue));
      spray.push_back(p);
    }
    const pid_t g = fork();  // runs the exit hooks' pthread_atfork handlers
    if (g == 0) _exit(0);
    if (g < 0 || !WaitChild(g, absl::Seconds(30)).ok()) return 3;
    exit(0);  // a normal exit runs FlushAllHandles
  });
  ASSERT_GT(opener, 0);
  absl::StatusOr<int> code = WaitChild(opener, absl::Seconds(90));
  if (!code.ok()) KillAndReap(opener);
  KillAndReap(holder);
  munmap(shared, bytes);
  ASSERT_TRUE(code.ok()) << "the opener hung";
  EXPECT_EQ(*code, 0) << "the opener crashed (" << *code << ") after a failed Open";
}

// Impossible staging cursors in a named queue's file (head > tail, or tail past staging) must be
// reset on every path that uses them, including the drain of the last handle's release, which
// once trusted them and crashed (a memcpy length underflow). Reached when no reaper pass ran first
// (here: last_reap_ns in the future).
TEST_F(NamedQueueFileTest, CorruptReaderCursorsAreResetByTheProcessThatClosesTheQueue) {
  {
    auto q = Queue<demo::Job>::CreateNamed("q");
    ASSERT_TRUE(q.ok()) << q.status();
  }
  size_t bytes = 0;
  SharedQueue* shared = MapQueueFile(&bytes);
  ASSERT_NE(shared, nullptr);
  shared->reader.tail = 2 << 20;
  shared->reader.head = shared->reader.tail + (uint64_t{1} << 63) + 1;
  shared->last_reap_ns.store(INT64_MAX);
  munmap(shared, bytes);
  const pid_t child = ForkChild([] {
    {
      auto q = Queue<demo::Job>::Open("q");
      if (!q.ok()) return q.status().code() == absl::StatusCode::kDataLoss ? 0 : 2;
    }  // released here
    return 0;
  });
  ASSERT_GT(child, 0);
  absl::StatusOr<int> code = WaitChild(child, kLong);
  if (!code.ok()) KillAndReap(child);
  ASSERT_TRUE(code.ok()) << "hung";
  EXPECT_EQ(*code, 0) << "the process closing a corrupted queue died with " << *code;
}

// A plain Queue's ledger counts `unfinished` up by one per Put and never down (it has no
// TaskDone): after 2^48 Puts a named one must still open. A JoinableQueue's count that large is
// corruption (its TaskDones keep it near the number of items in flight).
TEST_F(NamedQueueFileTest, PlainQueueOpensAfterMoreThan2To48Puts) {
  constexpr int64_t kPuts = int64_t{1} << 50;
  {
    auto q = Queue<demo::Job>::CreateNamed("q");
    ASSERT_TRUE(q.ok()) << q.status();
  }
  size_t bytes = 0;
  SharedQueue* shared = MapQueueFile(&bytes);
  ASSERT_NE(shared, nullptr);
  shared->accounts.ledger.unfinished = kPuts;
  munmap(shared, bytes);
  EXPECT_TRUE(Queue<demo::Job>::Open("q").ok());
  ASSERT_TRUE(Queue<demo::Job>::Unlink("q").ok());

  {
    auto q = JoinableQueue<demo::Job>::CreateNamed("q");
    ASSERT_TRUE(q.ok()) << q.status();
  }
  shared = MapQueueFile(&bytes);
  ASSERT_NE(shared, nullptr);
  shared->accounts.ledger.unfinished = kPuts;
  munmap(shared, bytes);
  EXPECT_EQ(JoinableQueue<demo::Job>::Open("q").status().code(), absl::StatusCode::kDataLoss);
}

// ---------------------------------------------------------------------------------------------
// A list of zero-sized elements (List(Void), or structs with no data and no pointers) costs
// nothing to store but one step per element to iterate: a 40-byte message can claim 2^29 - 1 of
// them. Since a received Message may be read without a traversal budget (it was validated), the
// validation must charge such lists as capnp's readers do (one word per element) and refuse
// them; AnyPointer::targetSize() did not, so OpenPayload now walks every object.
// ---------------------------------------------------------------------------------------------

TEST(OpenPayloadTest, ListOfHalfABillionZeroSizedElementsIsRefused) {
  for (const bool void_list : {true, false}) {
    uint64_t w[5] = {};
    w[0] = uint64_t{void_list ? 2u : 3u} << 32;  // one segment of 2 or 3 words
    w[1] = uint64_t{1} << 48;                      // root: struct, 0 data words, 1 pointer
    if (void_list) {
      w[2] = 1 | (uint64_t{(1u << 29) - 1} << 35);  // list, element size VOID, 2^29 - 1 elements
    } else {
      w[2] = 1 | (uint64_t{7} << 32);  // list, INLINE_COMPOSITE, 0 words of content
      w[3] = uint64_t{(1u << 29) - 1} << 2;  // tag: 2^29 - 1 structs of 0 data / 0 pointers
    }
    Payload p;
    p.bytes = void_list ? 24 : 32;
    p.words.reset(new uint64_t[5]);
    memcpy(p.words.get(), w, sizeof w);
    auto reader = OpenPayload(p);
    EXPECT_EQ(reader.status().code(), absl::StatusCode::kDataLoss)
        << (void_list ? "List(Void)" : "List(struct{})")
        << " of 2^29 - 1 elements in a " << p.bytes << "-byte message was accepted";
  }
}

}  // namespace
}  // namespace internal
}  // namespace channel
