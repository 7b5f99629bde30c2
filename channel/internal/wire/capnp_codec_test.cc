// Unit tests of the Cap'n Proto glue (capnp_codec.h): flat-array framing of builders, copying
// readers, and validated decoding of untrusted payloads.
#include "channel/internal/wire/capnp_codec.h"

#include <capnp/any.h>
#include <capnp/message.h>
#include <capnp/serialize.h>
#include <gtest/gtest.h>
#include <kj/exception.h>

#include <cstring>
#include <memory>
#include <string>
#include <vector>

#include "channel/internal/testing/test_util.h"
#include "schema/demo.capnp.h"

namespace channel {
namespace internal {
namespace {

using ::channel::testing::ListPtr;
using ::channel::testing::StructPtr;

Payload FromWords(const std::vector<uint64_t>& words) {
  Payload p;
  p.bytes = words.size() * 8;
  p.words.reset(new uint64_t[words.size() + 1]);
  if (!words.empty()) memcpy(p.words.get(), words.data(), p.bytes);
  return p;
}

absl::StatusOr<Payload> Serialize(capnp::MessageBuilder& b) {
  auto segments = SegmentsOf(b);
  if (!segments.ok()) return segments.status();
  const size_t bytes = SerializedBytes(*segments);
  EXPECT_EQ(bytes % 8, 0u);
  Payload p;
  p.bytes = bytes;
  p.words.reset(new uint64_t[bytes / 8]);
  WriteSegments(*segments, reinterpret_cast<char*>(p.words.get()));
  return p;
}

// Compares with capnp's own serialization.
void ExpectSameAsCapnp(capnp::MessageBuilder& b, const Payload& p) {
  kj::Array<capnp::word> reference = capnp::messageToFlatArray(b);
  ASSERT_EQ(reference.size() * 8, p.bytes);
  EXPECT_EQ(memcmp(reference.begin(), p.words.get(), p.bytes), 0);
}

// Serializes `b` into *p, compares with capnp's own serialization, and opens *p again.
void SerializeAndOpen(capnp::MessageBuilder& b, Payload* p, OpenedPayload* opened) {
  absl::StatusOr<Payload> serialized = Serialize(b);
  ASSERT_TRUE(serialized.ok()) << serialized.status();
  *p = *std::move(serialized);
  ExpectSameAsCapnp(b, *p);
  absl::StatusOr<OpenedPayload> result = OpenPayload(*p);
  ASSERT_TRUE(result.ok()) << result.status();
  *opened = *std::move(result);
}

TEST(CapnpCodecTest, EveryKindOfListIsAcceptedAndReadsBack) {
  capnp::MallocMessageBuilder b;
  auto shapes = b.initRoot<demo::Shapes>();
  auto texts = shapes.initTexts(3);
  texts.set(0, "a");
  texts.set(2, "包子");  // [1] stays null
  auto jobs = shapes.initJobs(2);
  jobs[0].setId(7);
  jobs[0].setProducer("p");
  jobs[1].setPayload("x");
  auto flags = shapes.initFlags(130);
  flags.set(129, true);
  shapes.initVoids(1000);
  auto nested = shapes.initNested(2);
  nested.init(0, 3).set(2, 42);
  shapes.initNone(0);
  Payload p;
  OpenedPayload opened;
  ASSERT_NO_FATAL_FAILURE(SerializeAndOpen(b, &p, &opened));
  auto got = opened.root.as<demo::Shapes>();
  ASSERT_EQ(got.getTexts().size(), 3u);
  EXPECT_EQ(got.getTexts()[2], "包子");
  ASSERT_EQ(got.getJobs().size(), 2u);
  EXPECT_EQ(got.getJobs()[0].getProducer(), "p");
  EXPECT_EQ(got.getJobs()[1].getPayload(), "x");
  EXPECT_TRUE(got.getFlags()[129]);
  EXPECT_EQ(got.getVoids().size(), 1000u);
  EXPECT_EQ(got.getNested()[0][2], 42u);
  EXPECT_EQ(got.getNone().size(), 0u);
}

TEST(CapnpCodecTest, SingleSegmentRoundTrip) {
  capnp::MallocMessageBuilder b;
  auto job = b.initRoot<demo::Job>();
  job.setId(99);
  job.setProducer("骨头");
  job.setPayload("hello");
  Payload p;
  OpenedPayload opened;
  ASSERT_NO_FATAL_FAILURE(SerializeAndOpen(b, &p, &opened));
  EXPECT_EQ(opened.reader, nullptr) << "one segment: read unchecked after the flat check";
  auto got = opened.root.as<demo::Job>();
  EXPECT_EQ(got.getId(), 99u);
  EXPECT_EQ(std::string(got.getProducer().cStr()), "骨头");
  ASSERT_TRUE(got.isPayload());
  EXPECT_EQ(std::string(got.getPayload().cStr()), "hello");
}

TEST(CapnpCodecTest, ManySegmentsRoundTrip) {
  // Tiny fixed-size segments force a multi-segment message (far pointers included).
  capnp::MallocMessageBuilder b(1, capnp::AllocationStrategy::FIXED_SIZE);
  auto job = b.initRoot<demo::Job>();
  job.setId(5);
  job.setProducer(std::string(100, 'p'));
  job.setEndOfStream();
  auto data = job.initData(1000);
  for (size_t i = 0; i < data.size(); ++i) data[i] = static_cast<uint8_t>(i);
  ASSERT_GT(b.getSegmentsForOutput().size(), 2u);
  Payload p;
  OpenedPayload opened;
  ASSERT_NO_FATAL_FAILURE(SerializeAndOpen(b, &p, &opened));
  EXPECT_NE(opened.reader, nullptr) << "several segments: read through capnp's checked reader";
  auto got = opened.root.as<demo::Job>();
  EXPECT_EQ(got.getId(), 5u);
  EXPECT_TRUE(got.isEndOfStream());
  ASSERT_EQ(got.getData().size(), 1000u);
  EXPECT_EQ(got.getData()[999], static_cast<uint8_t>(999 % 256));
}

TEST(CapnpCodecTest, SerializedBytesCountsTheSegmentTable) {
  for (size_t n : {1, 2, 3, 4, 5}) {
    std::vector<std::vector<capnp::word>> store(n, std::vector<capnp::word>(3));
    std::vector<kj::ArrayPtr<const capnp::word>> segs;
    for (auto& s : store) segs.push_back(kj::arrayPtr(s.data(), s.size()));
    const size_t table_words = n / 2 + 1;
    EXPECT_EQ(SerializedBytes(kj::arrayPtr(segs.data(), segs.size())), 8 * (table_words + 3 * n))
        << n;
  }
}

TEST(CapnpCodecTest, SegmentsOfRejectsBuildersWithoutAStructRoot) {
  capnp::MallocMessageBuilder empty;
  EXPECT_EQ(SegmentsOf(empty).status().code(), absl::StatusCode::kInvalidArgument);
  capnp::MallocMessageBuilder list_root;
  list_root.getRoot<capnp::AnyPointer>().initAs<capnp::List<uint32_t>>(3);
  EXPECT_EQ(SegmentsOf(list_root).status().code(), absl::StatusCode::kInvalidArgument);
}

TEST(CapnpCodecTest, WithCopiedMessageCopiesTheRoot) {
  capnp::MallocMessageBuilder src(1, capnp::AllocationStrategy::FIXED_SIZE);
  auto job = src.initRoot<demo::Job>();
  job.setId(3);
  job.setPayload(std::string(5000, 'z'));
  for (int round = 0; round < 3; ++round) {  // the scratch area is reused across calls
    bool called = false;
    absl::Status s =
        WithCopiedMessage(capnp::AnyStruct::Reader(job.asReader()), [&](capnp::MessageBuilder& b) {
          called = true;
          absl::StatusOr<Payload> p = Serialize(b);
          EXPECT_TRUE(p.ok());
          auto reader = OpenPayload(*p);
          EXPECT_TRUE(reader.ok()) << reader.status();
          if (reader.ok()) {
            auto got = reader->root.as<demo::Job>();
            EXPECT_EQ(got.getId(), 3u);
            EXPECT_EQ(got.getPayload().size(), 5000u);
          }
          return absl::OkStatus();
        });
    EXPECT_TRUE(s.ok()) << s;
    EXPECT_TRUE(called);
  }
  // The callback's status is returned.
  EXPECT_EQ(WithCopiedMessage(capnp::AnyStruct::Reader(job.asReader()),
                              [](capnp::MessageBuilder&) { return absl::AbortedError("x"); })
                .code(),
            absl::StatusCode::kAborted);
}

// ---- Untrusted payloads. ----

// Segment table of a hand-made payload.
uint64_t Table(uint32_t segments_minus_one, uint32_t first_size) {
  return segments_minus_one | (static_cast<uint64_t>(first_size) << 32);
}

TEST(CapnpCodecTest, ValidHandMadeMessage) {
  // Root struct (1 data word, 0 pointers) with id 7.
  const Payload p = FromWords({Table(0, 2), StructPtr(0, 1, 0), 7});  // must outlive the reader
  auto r = OpenPayload(p);
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->root.as<demo::Small>().getId(), 7u);
}

TEST(CapnpCodecTest, MalformedPayloadsAreDataLoss) {
  struct Case {
    const char* what;
    std::vector<uint64_t> words;
  } cases[] = {
      {"empty", {}},
      {"segment table only", {Table(0, 0)}},
      {"segment larger than the payload", {Table(0, 5), StructPtr(0, 1, 0), 7}},
      {"trailing bytes", {Table(0, 2), StructPtr(0, 1, 0), 7, 0xdeadbeef}},
      {"null root", {Table(0, 1), 0}},
      {"list root", {Table(0, 2), ListPtr(0, 5, 1), 7}},
      {"struct out of bounds", {Table(0, 2), StructPtr(0, 4, 0), 7}},
      {"struct pointer backwards out of the segment", {Table(0, 2), StructPtr(-5, 1, 0), 7}},
      {"pointer field out of bounds", {Table(0, 3), StructPtr(0, 1, 1), 7, ListPtr(100, 2, 8)}},
      {"far pointer to a missing segment", {Table(0, 1), 2 | (uint64_t{3} << 32)}},
      {"huge segment count", {Table(0xffffff, 1), 0}},
      {"capability root", {Table(0, 1), 3}},
  };
  for (const Case& c : cases) {
    const Payload p = FromWords(c.words);
    for (auto open : {OpenPayload, OpenPayloadChecked}) {
      auto r = open(p);
      EXPECT_FALSE(r.ok()) << c.what;
      if (!r.ok()) {
        EXPECT_EQ(r.status().code(), absl::StatusCode::kDataLoss) << c.what << ": " << r.status();
      }
    }
  }
}

TEST(CapnpCodecTest, NestingDeeperThanTheLimitIsDataLoss) {
  // A chain of 100 structs, each with one pointer to the next.
  std::vector<uint64_t> w = {0};
  w.push_back(StructPtr(0, 0, 1));
  for (int i = 0; i < 100; ++i) w.push_back(StructPtr(0, 0, 1));
  w.push_back(0);
  w[0] = Table(0, static_cast<uint32_t>(w.size() - 1));
  const Payload p = FromWords(w);
  auto r = OpenPayload(p);
  EXPECT_EQ(r.status().code(), absl::StatusCode::kDataLoss) << r.status();
}

TEST(CapnpCodecTest, MessagesLargerThanCapnpsDefaultTraversalLimitAreReadable) {
  // 72 MiB of data: past capnp's default 64 MiB traversal limit, which max_message_bytes allows.
  constexpr size_t kBytes = 72u << 20;
  capnp::MallocMessageBuilder b;
  auto small = b.initRoot<demo::Small>();
  small.setId(1);
  auto data = small.initData(kBytes);
  data[0] = 1;
  data[kBytes - 1] = 2;
  absl::StatusOr<Payload> p = Serialize(b);
  ASSERT_TRUE(p.ok()) << p.status();
  auto reader = OpenPayload(*p);
  ASSERT_TRUE(reader.ok()) << reader.status();
  auto got = reader->root.as<demo::Small>();
  // A few full reads, as a caller might do (each getData() counts the whole field against the
  // traversal limit, which OpenPayload sizes for a few full traversals).
  for (int i = 0; i < 3; ++i) {
    capnp::Data::Reader d = got.getData();
    ASSERT_EQ(d.size(), kBytes);
    EXPECT_EQ(d[0], 1);
    EXPECT_EQ(d[kBytes - 1], 2);
  }
}

// A chain of 16 structs, each with two pointers to the next; the last level's two pointers
// both point to one 96-word list: 2^16 x 96 words (~6.3 Mi words) per full traversal, from a
// 1 KiB message (pointers may share targets in Cap'n Proto).
Payload AmplifiedMessage() {
  constexpr int kLevels = 16;
  constexpr uint32_t kListWords = 96;
  std::vector<uint64_t> seg;
  seg.push_back(uint64_t{2} << 48);  // root: struct, offset 0, 0 data words, 2 pointers
  for (int k = 0; k < kLevels; ++k) {
    const bool last_level = k == kLevels - 1;
    const uint64_t kind_and_size = last_level ? ListPtr(0, 5, kListWords) : (uint64_t{2} << 48);
    seg.push_back(kind_and_size | (uint64_t{1} << 2));  // offset 1
    seg.push_back(kind_and_size);                       // offset 0: both to the next object
  }
  for (uint32_t i = 0; i < kListWords; ++i) seg.push_back(i);
  std::vector<uint64_t> words = {Table(0, static_cast<uint32_t>(seg.size()))};
  words.insert(words.end(), seg.begin(), seg.end());
  return FromWords(words);
}

uint64_t TraverseAll(capnp::AnyStruct::Reader s) {
  uint64_t n = 1 + s.getDataSection().size();
  for (capnp::AnyPointer::Reader p : s.getPointerSection()) {
    if (p.isStruct()) n += TraverseAll(p.getAs<capnp::AnyStruct>());
    if (p.isList()) n += p.getAs<capnp::AnyList>().size();
  }
  return n;
}

TEST(CapnpCodecTest, ValidatedAmplifiedMessageCanBeReadAgainAndAgain) {
  // (Was known bug 6.) Validation walks it within the limit; the caller's reads must not run
  // out of budget afterwards.
  const Payload p = AmplifiedMessage();
  auto reader = OpenPayload(p);
  ASSERT_TRUE(reader.ok()) << reader.status();
  try {
    for (int i = 0; i < 3; ++i) EXPECT_GT(TraverseAll(reader->root), 0u);
  } catch (const kj::Exception& e) {
    ADD_FAILURE() << "a read after OpenPayload threw: " << e.getDescription().cStr();
  }
}

TEST(CapnpCodecTest, RepeatedGettersOfALargeFieldDoNotThrow) {
  // (Was known bug 6.) Each getData() on a 1 MiB field used to cost 128 Ki words of budget.
  capnp::MallocMessageBuilder b;
  b.initRoot<demo::Small>().initData(1 << 20);
  absl::StatusOr<Payload> p = Serialize(b);
  ASSERT_TRUE(p.ok());
  auto reader = OpenPayload(*p);
  ASSERT_TRUE(reader.ok());
  auto small = reader->root.as<demo::Small>();
  int calls = 0;
  try {
    uint64_t sum = 0;
    for (; calls < 1000; ++calls) sum += small.getData()[calls];
    EXPECT_EQ(sum, 0u);
  } catch (const kj::Exception& e) {
    ADD_FAILURE() << "getData() threw after " << calls << " calls: " << e.getDescription().cStr();
  }
}

}  // namespace
}  // namespace internal
}  // namespace channel
