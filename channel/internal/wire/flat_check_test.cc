// Tests of the flat check (flat_check.h): every rule refuses what it must, messages builders
// produce pass, and — the property that makes the unchecked read safe — whatever the flat check
// accepts, capnp's checked reader accepts too and reads identically.
#include "channel/internal/wire/flat_check.h"

#include <capnp/any.h>
#include <capnp/message.h>
#include <gtest/gtest.h>
#include <kj/exception.h>

#include <cstring>
#include <random>
#include <vector>

#include "channel/internal/wire/capnp_codec.h"
#include "channel/internal/testing/test_util.h"
#include "schema/demo.capnp.h"

namespace channel {
namespace internal {
namespace {

constexpr uint64_t kBudget = 1 << 20;

using ::channel::testing::ListPtr;
using ::channel::testing::StructPtr;

bool Check(const std::vector<uint64_t>& segment, uint64_t budget = kBudget) {
  return CheckFlatMessage(segment.data(), segment.size(), budget);
}

// The one segment of a builder's message.
std::vector<uint64_t> SegmentOf(capnp::MessageBuilder& b) {
  auto segments = b.getSegmentsForOutput();
  EXPECT_EQ(segments.size(), 1u);
  std::vector<uint64_t> out(segments[0].size());
  memcpy(out.data(), segments[0].begin(), out.size() * 8);
  return out;
}

void BuildShapes(capnp::MessageBuilder& b) {
  auto shapes = b.initRoot<demo::Shapes>();
  auto texts = shapes.initTexts(3);
  texts.set(0, "a");
  texts.set(2, "包子");
  auto jobs = shapes.initJobs(2);
  jobs[0].setId(7);
  jobs[0].setProducer("p");
  jobs[1].setPayload("x");
  jobs[1].initData(9)[8] = 1;
  shapes.initFlags(130).set(129, true);
  shapes.initVoids(10);
  auto nested = shapes.initNested(2);
  nested.init(0, 3).set(2, 42);
  shapes.initNone(0);
}

TEST(FlatCheckTest, MessagesBuildersProducePass) {
  capnp::MallocMessageBuilder shapes;
  BuildShapes(shapes);
  EXPECT_TRUE(Check(SegmentOf(shapes)));
  capnp::MallocMessageBuilder small;
  small.initRoot<demo::Small>().initData(48);
  EXPECT_TRUE(Check(SegmentOf(small)));
  capnp::MallocMessageBuilder empty;
  empty.initRoot<demo::Greeting>();
  EXPECT_TRUE(Check(SegmentOf(empty)));
}

TEST(FlatCheckTest, EveryRuleRefusesWhatItMust) {
  struct Case {
    const char* what;
    std::vector<uint64_t> segment;
  } cases[] = {
      {"no words", {}},
      {"null root", {0}},
      {"list root", {ListPtr(0, 2, 8), 0}},
      {"struct past the end", {StructPtr(0, 2, 0), 7}},
      {"struct before the start", {StructPtr(-3, 1, 0), 7}},
      {"pointer field past the end", {StructPtr(0, 0, 1), ListPtr(5, 2, 8)}},
      {"byte list past the end", {StructPtr(0, 0, 1), ListPtr(0, 2, 9), 0}},
      {"bit list past the end", {StructPtr(0, 0, 1), ListPtr(0, 1, 65), 0}},
      {"pointer list past the end", {StructPtr(0, 0, 1), ListPtr(0, 6, 2), 0}},
      {"bad pointer inside a pointer list",
       {StructPtr(0, 0, 1), ListPtr(0, 6, 1), StructPtr(9, 1, 0)}},
      {"composite tag past the end", {StructPtr(0, 0, 1), ListPtr(1, 7, 0)}},
      {"composite content past the end",
       {StructPtr(0, 0, 1), ListPtr(0, 7, 2), StructPtr(1, 1, 0), 0}},
      {"composite tag not a struct", {StructPtr(0, 0, 1), ListPtr(0, 7, 1), ListPtr(1, 5, 1), 0}},
      {"composite elements overrun the list",
       {StructPtr(0, 0, 1), ListPtr(0, 7, 2), StructPtr(3, 1, 0), 0, 0, 0}},
      {"bad pointer inside a composite element",
       {StructPtr(0, 0, 1), ListPtr(0, 7, 2), StructPtr(1, 1, 1), 0, StructPtr(9, 1, 0)}},
      {"far pointer", {StructPtr(0, 0, 1), 2 | (uint64_t{1} << 32)}},
      {"capability pointer", {StructPtr(0, 0, 1), 3}},
  };
  for (const Case& c : cases) EXPECT_FALSE(Check(c.segment)) << c.what;
  // The same shapes, made valid, pass: the refusals above are for the stated reason.
  EXPECT_TRUE(Check({StructPtr(0, 1, 0), 7}));
  EXPECT_TRUE(Check({StructPtr(0, 0, 1), ListPtr(0, 2, 8), 0}));
  EXPECT_TRUE(Check({StructPtr(0, 0, 1), ListPtr(0, 1, 64), 0}));
  EXPECT_TRUE(Check({StructPtr(0, 0, 1), ListPtr(0, 6, 1), StructPtr(-1, 0, 0)}));
  EXPECT_TRUE(Check({StructPtr(0, 0, 1), ListPtr(0, 7, 2), StructPtr(2, 1, 0), 0, 0}));
  EXPECT_TRUE(Check({StructPtr(0, 0, 1), ListPtr(0, 7, 2), StructPtr(1, 1, 1), 0, 0}));
}

// A chain of `depth` structs, each pointing to the next.
std::vector<uint64_t> Chain(int depth) {
  std::vector<uint64_t> segment;
  for (int i = 0; i < depth; ++i) segment.push_back(StructPtr(0, 0, 1));
  segment.push_back(0);
  return segment;
}

TEST(FlatCheckTest, NestingIsLimitedTo64Levels) {
  EXPECT_TRUE(Check(Chain(64)));
  EXPECT_FALSE(Check(Chain(65)));
  // A cycle (a struct whose pointer points back at itself) is unbounded nesting.
  EXPECT_FALSE(Check({StructPtr(0, 0, 1), StructPtr(-2, 0, 1)}));
}

TEST(FlatCheckTest, ZeroSizedElementsAndSharedTargetsAreChargedToTheBudget) {
  const std::vector<uint64_t> voids = {StructPtr(0, 0, 1), ListPtr(0, 0, 1000)};
  EXPECT_TRUE(Check(voids, 1 + 1 + 1000));  // root struct, the pointer, one per element
  EXPECT_FALSE(Check(voids, 1 + 1 + 999));
  // Two pointers to one 100-word list: the list is paid for twice.
  std::vector<uint64_t> shared = {StructPtr(0, 0, 2), ListPtr(1, 5, 100), ListPtr(0, 5, 100)};
  shared.resize(shared.size() + 100);
  EXPECT_TRUE(Check(shared, 2 + 2 + 200));
  EXPECT_FALSE(Check(shared, 2 + 2 + 199));
}

// Reads every reachable word through a reader, schema-less; the result identifies the content.
uint64_t Digest(capnp::AnyStruct::Reader s, int depth = 0);
uint64_t DigestPointer(capnp::AnyPointer::Reader p, int depth) {
  if (depth > 70) ADD_FAILURE() << "nesting deeper than the limit was read";
  if (p.isStruct()) return 31 * Digest(p.getAs<capnp::AnyStruct>(), depth + 1) + 1;
  if (!p.isList()) return 0;
  capnp::AnyList::Reader list = p.getAs<capnp::AnyList>();
  uint64_t h = list.size() * 17 + static_cast<uint64_t>(list.getElementSize());
  switch (list.getElementSize()) {
    case capnp::ElementSize::POINTER:
      for (auto e : list.as<capnp::List<capnp::AnyPointer>>())
        h = h * 7 + DigestPointer(e, depth + 1);
      return h;
    case capnp::ElementSize::INLINE_COMPOSITE:
      for (auto e : list.as<capnp::List<capnp::AnyStruct>>()) h = h * 7 + Digest(e, depth + 1);
      return h;
    default:
      for (uint8_t b : list.getRawBytes()) h = h * 131 + b;
      return h;
  }
}
uint64_t Digest(capnp::AnyStruct::Reader s, int depth) {
  uint64_t h = s.getDataSection().size();
  for (uint8_t b : s.getDataSection()) h = h * 131 + b;
  for (auto p : s.getPointerSection()) h = h * 7 + DigestPointer(p, depth);
  return h;
}

TEST(FlatCheckTest, WhateverItAcceptsCapnpsCheckedReaderAcceptsAndReadsTheSame) {
  capnp::MallocMessageBuilder b;
  BuildShapes(b);
  const std::vector<uint64_t> original = SegmentOf(b);
  std::mt19937_64 rng(20261126);
  int accepted = 0;
  for (int round = 0; round < 20000; ++round) {
    // One to three random edits: a flipped bit, a random word, or a word's low or high half.
    std::vector<uint64_t> segment = original;
    for (int edits = 1 + static_cast<int>(rng() % 3); edits > 0; --edits) {
      uint64_t& w = segment[rng() % segment.size()];
      switch (rng() % 4) {
        case 0:
          w ^= uint64_t{1} << (rng() % 64);
          break;
        case 1:
          w = rng();
          break;
        case 2:
          w = (w & ~uint64_t{0xffffffff}) | (rng() & 0xffffffff);
          break;
        default:
          w = (w & 0xffffffff) | (rng() << 32);
          break;
      }
    }
    Payload p;
    p.bytes = (segment.size() + 1) * 8;
    p.words.reset(new uint64_t[segment.size() + 1]);
    p.words[0] = static_cast<uint64_t>(segment.size()) << 32;  // segment table: one segment
    memcpy(p.words.get() + 1, segment.data(), segment.size() * 8);
    absl::StatusOr<OpenedPayload> flat = OpenPayload(p);
    if (!flat.ok() || flat->reader != nullptr) continue;  // not taken by the flat path
    ++accepted;
    absl::StatusOr<OpenedPayload> checked = OpenPayloadChecked(p);
    ASSERT_TRUE(checked.ok()) << "round " << round << ": the flat check accepted what capnp's "
                              << "checked reader refuses: " << checked.status();
    try {
      ASSERT_EQ(Digest(flat->root), Digest(checked->root)) << "round " << round;
    } catch (const kj::Exception& e) {
      FAIL() << "round " << round << ": reading threw: " << e.getDescription().cStr();
    }
  }
  // Most edits break something; enough of them must still pass for the property to be tested.
  EXPECT_GT(accepted, 1000);
}

}  // namespace
}  // namespace internal
}  // namespace channel
