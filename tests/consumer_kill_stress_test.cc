// Consumers SIGKILLed while they read multi-MiB messages, with a CPU hog beside them.
//
// Each round a fresh consumer process starts a Get loop, the test puts two messages of one size,
// and kills the consumer 0-18 ms after its first Get returned: mostly while it reads the second
// message, the LAST frame in the pipe (nothing after it reveals a gap in seqs), at whatever point
// that read is. Then the test gets what is left, and within a bounded wait the queue must be
// exactly whole again: qsize() 0, a JoinableQueue's unfinished() equal to what was put, less
// what was lost and what the test marked done (the dead consumers never call TaskDone), every
// slot of the bounded queue free for the next round. Sizes: pipe frames larger than the pipe's
// buffer (just above the slab's block size, and the largest allowed), and slab items (just below
// the block size, and one larger than the pipe's buffer).
//
// Before the fix in PipeReader::Pump (a reader that drained the pipe counts the seqs its writers
// finished and nothing holds any more, pipe_reader.h), a consumer killed inside the read(2) of
// the last frame left that item counted for ever: qsize() stuck at 1 (see the note).
#include <signal.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <unistd.h>

#include <atomic>
#include <cstdio>
#include <cstring>
#include <string>
#include <random>
#include <type_traits>

#include <capnp/serialize.h>
#include <gtest/gtest.h>

#include "channel/channel.h"
#include "tests/test_util.h"

namespace {

using channel_test::JobMessage;

constexpr size_t kMaxMessageBytes = 5 << 20;
constexpr size_t kBlockBytes = 4 << 20;  // the slab's block size for kMaxMessageBytes
constexpr int64_t kMaxSize = 2;          // a round's items fill the queue
// Rounds (one kill each) per message size; TYPED_CHANNEL_STRESS_ROUNDS overrides, for many short
// runs (--runs_per_test) on a loaded machine.
int RoundsPerSize() {
  const char* env = getenv("TYPED_CHANNEL_STRESS_ROUNDS");
  return env != nullptr && atoi(env) > 0 ? atoi(env) : 12;
}
constexpr int kMaxKillDelayUs = 18000;

// The bytes JobMessage(id, "", n) carries are (id * 131 + i) & 0xff: a window of this pattern
// starting at (id * 131) & 0xff. Built and compared with memcpy/memcmp, because byte loops over
// 4 MiB messages in an unoptimised build were most of the test's time on a loaded machine.
const std::string& Pattern() {
  static const std::string* pattern = [] {
    auto* p = new std::string(kMaxMessageBytes + 256, '\0');
    for (size_t i = 0; i < p->size(); ++i) (*p)[i] = static_cast<char>(i & 0xff);
    return p;
  }();
  return *pattern;
}
const char* PatternFor(uint64_t id) { return Pattern().data() + ((id * 131) & 0xff); }

// A demo::Job with `data` bytes of data, equal to JobMessage(id, "", data).
struct BigJob {
  capnp::MallocMessageBuilder builder;
  BigJob(uint64_t id, size_t data) {
    auto job = builder.initRoot<demo::Job>();
    job.setId(id);
    job.setPayload("");
    memcpy(job.initData(data).begin(), PatternFor(id), data);
  }
};

bool DataMatches(uint64_t id, capnp::Data::Reader data) {
  return memcmp(data.begin(), PatternFor(id), data.size()) == 0;
}

// Serialized size of a message with `data` bytes of data.
size_t SerializedBytes(size_t data) {
  BigJob m(0, data);
  return capnp::computeSerializedSizeInWords(m.builder) * sizeof(capnp::word);
}

// Data bytes for a message whose serialized size is `target` (a multiple of 8), as near as the
// encoding allows.
size_t DataBytesFor(size_t target) {
  const size_t overhead = SerializedBytes(target) - target;
  return target - overhead;
}

// What consumers record, in memory shared with the test process.
struct Board {
  std::atomic<uint64_t> got;      // items the consumers' Gets returned (and they recorded)
  std::atomic<uint64_t> corrupt;  // wrong id order or contents
  std::atomic<uint64_t> last_id;  // the highest id a consumer got
};

template <typename Q>
class ConsumerKillStressTest : public ::testing::Test {
 protected:
  static constexpr bool kJoinable = std::is_same_v<Q, channel::JoinableQueue<demo::Job>>;

  void SetUp() override {
    void* p = mmap(nullptr, sizeof(Board), PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1,
                   0);
    ASSERT_NE(p, MAP_FAILED);
    board_ = new (p) Board{};
    channel::QueueOptions options;
    options.maxsize = kMaxSize;
    options.max_message_bytes = kMaxMessageBytes;
    auto q = Q::Create(options);
    ASSERT_TRUE(q.ok()) << q.status();
    queue_.emplace(*std::move(q));
    hog_ = channel_test::ForkChild([] {
      for (;;) asm volatile("" ::: "memory");
      return 0;
    });
    ASSERT_GT(hog_, 0);
  }

  void TearDown() override {
    channel_test::KillAndReap(hog_);
    munmap(board_, sizeof(Board));
  }

  // A consumer that gets until it is killed, recording each item; notifies `first` after its
  // first Get.
  pid_t StartConsumer(const channel_test::ReadySignal& first) {
    return channel_test::ForkChild([this, &first] {
      Q& q = *queue_;
      bool notified = false;
      for (;;) {
        auto m = q.Get(absl::Seconds(30));
        if (!m.ok()) return channel::IsEmpty(m.status()) ? 3 : 4;
        ++board_->got;
        Check((*m)->getId(), (*m)->getData());
        if (!notified) first.Notify();
        notified = true;
      }
    });
  }

  void Check(uint64_t id, capnp::Data::Reader data) {
    const uint64_t before = board_->last_id.exchange(id);
    if (id <= before || data.size() != expected_data_ || !DataMatches(id, data)) {
      ++board_->corrupt;
    }
  }

  // One round: returns false (with a failure recorded) if the queue did not come back whole.
  bool Round(std::mt19937& rng, size_t data_bytes) {
    expected_data_ = data_bytes;
    channel_test::ReadySignal first;
    const pid_t consumer = StartConsumer(first);
    if (consumer <= 0) return false;
    for (int i = 0; i < kMaxSize; ++i) {
      BigJob m(++next_id_, data_bytes);
      absl::Status s = queue_->Put(m.builder, absl::Seconds(10));
      if (!s.ok()) {
        ADD_FAILURE() << "Put: " << s << " (a leaked item keeps a slot of the bounded queue)";
        channel_test::KillAndReap(consumer);
        return false;
      }
      ++put_;
    }
    if (first.Wait(absl::Seconds(60)) == 0) {
      ADD_FAILURE() << "the consumer got nothing in 60 s";
      channel_test::KillAndReap(consumer);
      return false;
    }
    // The killer's aim, not a wait for anything.
    absl::SleepFor(absl::Microseconds(rng() % (kMaxKillDelayUs + 1)));
    channel_test::KillAndReap(consumer);
    ++kills_;

    // Get what is left; the queue must then be empty within a bound.
    const absl::Time deadline = absl::Now() + absl::Seconds(10);
    for (;;) {
      auto m = queue_->Get(absl::Milliseconds(100));
      if (m.ok()) {
        Check((*m)->getId(), (*m)->getData());
        ++parent_got_;
        if constexpr (kJoinable) {
          EXPECT_TRUE(queue_->TaskDone().ok());
        }
        continue;
      }
      if (queue_->qsize() == 0) break;
      if (absl::Now() >= deadline) {
        ADD_FAILURE() << "qsize() stuck at " << queue_->qsize() << " for 10 s after round "
                      << kills_ << " (" << data_bytes << " data bytes; lost so far "
                      << queue_->stats().items_lost << ")";
        return false;
      }
    }
    const uint64_t lost = queue_->stats().items_lost;
    const uint64_t got = board_->got.load() + parent_got_;
    // Every item put was got or counted lost, except one a consumer got and was killed before
    // recording, per kill.
    EXPECT_LE(got + lost, put_);
    EXPECT_GE(got + lost + kills_, put_);
    if constexpr (kJoinable) {
      // Exact: what the dead consumers got stays unfinished (they never mark it done); what they
      // were taking when killed is lost and no longer counted.
      const int64_t expected = static_cast<int64_t>(put_ - lost - parent_got_);
      if (!channel_test::Eventually([&] { return queue_->unfinished() == expected; },
                                    absl::Seconds(10))) {
        ADD_FAILURE() << "unfinished() " << queue_->unfinished() << ", expected " << expected;
        return false;
      }
      EXPECT_GE(expected, static_cast<int64_t>(board_->got.load()));
    }
    return !::testing::Test::HasFailure();
  }

  void Run() {
    const struct {
      const char* what;
      size_t serialized;
    } sizes[] = {
        {"pipe frame just above the slab block", kBlockBytes + 8},
        {"pipe frame of the largest size", kMaxMessageBytes},
        {"slab item just below the block", kBlockBytes - 8},
        {"slab item larger than the pipe buffer", (3 << 20) / 2},
    };
    const unsigned seed = static_cast<unsigned>(getpid()) ^ static_cast<unsigned>(time(nullptr));
    std::mt19937 rng(seed);
    for (const auto& size : sizes) {
      SCOPED_TRACE(::testing::Message() << size.what << ", seed " << seed);
      const size_t data = DataBytesFor(size.serialized);
      ASSERT_EQ(SerializedBytes(data) > kBlockBytes, size.serialized > kBlockBytes);
      for (int r = 0; r < RoundsPerSize(); ++r) {
        ASSERT_TRUE(Round(rng, data));
      }
    }
    EXPECT_EQ(board_->corrupt.load(), 0u) << "torn, reordered or duplicated messages delivered";
    // Every slot of the bounded queue is free again.
    JobMessage m(++next_id_, "", 8);
    for (int64_t i = 0; i < kMaxSize; ++i) EXPECT_TRUE(queue_->PutNowait(m.builder).ok());
    EXPECT_TRUE(channel::IsFull(queue_->PutNowait(m.builder)));
    printf("%llu kills, %llu items put, %llu got by consumers, %llu by the test, %llu lost\n",
           (unsigned long long)kills_, (unsigned long long)put_,
           (unsigned long long)board_->got.load(), (unsigned long long)parent_got_,
           (unsigned long long)queue_->stats().items_lost);
  }

  Board* board_ = nullptr;
  std::optional<Q> queue_;
  pid_t hog_ = -1;
  size_t expected_data_ = 0;
  uint64_t next_id_ = 0;
  uint64_t put_ = 0;
  uint64_t parent_got_ = 0;
  uint64_t kills_ = 0;
};

using QueueTypes = ::testing::Types<channel::Queue<demo::Job>, channel::JoinableQueue<demo::Job>>;
TYPED_TEST_SUITE(ConsumerKillStressTest, QueueTypes);

TYPED_TEST(ConsumerKillStressTest, QueueIsWholeAfterConsumersDieMidRead) { this->Run(); }

}  // namespace
