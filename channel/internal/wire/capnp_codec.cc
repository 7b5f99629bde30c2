#include "channel/internal/wire/capnp_codec.h"

#include <kj/exception.h>

#include <algorithm>
#include <cstring>
#include <limits>
#include <vector>

#include "absl/strings/str_cat.h"
#include "channel/internal/wire/flat_check.h"

namespace channel {
namespace internal {
namespace {

constexpr uint64_t kBaseTraversalWords = 8 << 20;  // capnp's default, 64 MiB

absl::Status KjError(absl::StatusCode code, absl::string_view what, const kj::Exception& e) {
  return absl::Status(code, absl::StrCat(what, ": ", e.getDescription().cStr()));
}

// OpenPayloadChecked's validation (flat_check.cc charges the same way): visits every object of a
// message through capnp's readers, which check bounds, nesting depth and pointer kinds as they go
// and throw kj::Exception on anything malformed. The reader it walks has no traversal limit (so
// that the caller may read the message as often as it likes); the walk keeps its own budget
// instead, charging every object at least what capnp's traversal limit would: a word per
// pointer, a struct's size (at least one word), a list's content — and one word per element of a
// list of zero-sized elements, capnp's "amplified read" rule, without which a 32-byte message
// could claim half a billion elements. A message whose walk exceeds the budget
// (pointers reused to make a small message traverse as a huge one) is refused.
class Walker {
 public:
  explicit Walker(uint64_t budget_words) : left_(budget_words) {}

  // `charge`: false for the elements of a struct list, whose content the list already paid for.
  void Struct(capnp::AnyStruct::Reader s, bool charge = true) {
    if (charge) {
      Charge(std::max<uint64_t>(1, s.getDataSection().size() / 8 + s.getPointerSection().size()));
    }
    for (capnp::AnyPointer::Reader p : s.getPointerSection()) Pointer(p);
  }

  void Pointer(capnp::AnyPointer::Reader pointer) {
    Charge(1);
    switch (pointer.getPointerType()) {
      case capnp::PointerType::NULL_:
        return;
      case capnp::PointerType::STRUCT:
        Struct(pointer.getAs<capnp::AnyStruct>());
        return;
      case capnp::PointerType::LIST:
        List(pointer.getAs<capnp::AnyList>());
        return;
      case capnp::PointerType::CAPABILITY:
        KJ_FAIL_REQUIRE("capabilities cannot travel through a queue");
    }
  }

 private:
  void List(capnp::AnyList::Reader list) {
    // The whole list is paid for before any element is visited, so a list that claims more
    // elements than the budget allows is refused at once, not after iterating up to the budget.
    // Zero-sized elements (List(Void), lists of empty structs) cost a word each.
    switch (list.getElementSize()) {
      case capnp::ElementSize::POINTER:
        Charge(list.size());
        for (capnp::AnyPointer::Reader p : list.as<capnp::List<capnp::AnyPointer>>()) Pointer(p);
        return;
      case capnp::ElementSize::INLINE_COMPOSITE: {
        const capnp::List<capnp::AnyStruct>::Reader structs =
            list.as<capnp::List<capnp::AnyStruct>>();
        if (structs.size() == 0) return;
        const uint64_t pointers_each = structs[0].getPointerSection().size();
        const uint64_t words_each = structs[0].getDataSection().size() / 8 + pointers_each;
        Charge(std::max<uint64_t>(1, words_each) * structs.size());
        if (pointers_each == 0) return;  // plain data: nothing inside to visit
        for (capnp::AnyStruct::Reader s : structs) Struct(s, /*charge=*/false);
        return;
      }
      default: {  // primitives: no pointers inside (asRawBytes refuses lists with pointers)
        const uint64_t content_words = (list.getRawBytes().size() + 7) / 8;
        Charge(content_words == 0 ? list.size() : content_words);
        return;
      }
    }
  }

  void Charge(uint64_t words) {
    KJ_REQUIRE(words <= left_, "the message takes too long to traverse (amplified?)");
    left_ -= words;
  }

  uint64_t left_;
};

}  // namespace

size_t SerializedBytes(kj::ArrayPtr<const kj::ArrayPtr<const capnp::word>> segments) {
  size_t table_words = (segments.size() + 2) / 2;  // u32 count-1, u32 per segment, padded
  size_t words = table_words;
  for (const auto& s : segments) words += s.size();
  return words * sizeof(capnp::word);
}

void WriteSegments(kj::ArrayPtr<const kj::ArrayPtr<const capnp::word>> segments, char* out) {
  const size_t table_words = (segments.size() + 2) / 2;
  memset(out, 0, table_words * sizeof(capnp::word));
  const uint32_t count_minus_one = static_cast<uint32_t>(segments.size() - 1);
  memcpy(out, &count_minus_one, 4);
  for (size_t i = 0; i < segments.size(); ++i) {
    const uint32_t size = static_cast<uint32_t>(segments[i].size());
    memcpy(out + 4 * (i + 1), &size, 4);
  }
  out += table_words * sizeof(capnp::word);
  for (const auto& s : segments) {
    memcpy(out, s.begin(), s.size() * sizeof(capnp::word));
    out += s.size() * sizeof(capnp::word);
  }
}

absl::StatusOr<kj::ArrayPtr<const kj::ArrayPtr<const capnp::word>>> SegmentsOf(
    capnp::MessageBuilder& message, StructShape* root_shape) {
  try {
    kj::ArrayPtr<const kj::ArrayPtr<const capnp::word>> segments = message.getSegmentsForOutput();
    // The root pointer is the first word of the first segment. Its two low bits are the pointer
    // kind: 0 struct, 1 list, 2 far (a landing pad, which in a builder always leads to the root
    // struct), 3 capability. Checking the word is enough and much cheaper than getRoot(). A
    // struct pointer carries the struct's shape: data words in bits 32..47, pointers in 48..63.
    uint64_t root = 0;
    if (segments.size() > 0 && segments[0].size() > 0) memcpy(&root, segments[0].begin(), 8);
    if (root == 0) return absl::InvalidArgumentError("the message has no root struct");
    if ((root & 3) == 1 || (root & 3) == 3) {
      return absl::InvalidArgumentError("the message's root is not a struct");
    }
    if (root_shape != nullptr) {
      if ((root & 3) == 0) {
        *root_shape = {static_cast<uint32_t>((root >> 32) & 0xffff),
                       static_cast<uint32_t>(root >> 48)};
      } else {  // far: rare (a first segment too full for the root), so let capnp follow it
        capnp::AnyStruct::Reader s =
            message.getRoot<capnp::AnyPointer>().asReader().getAs<capnp::AnyStruct>();
        *root_shape = {static_cast<uint32_t>(s.getDataSection().size() / 8),
                       static_cast<uint32_t>(s.getPointerSection().size())};
      }
    }
    return segments;
  } catch (const kj::Exception& e) {
    return KjError(absl::StatusCode::kInvalidArgument, "cannot serialize the message", e);
  }
}

absl::Status WithCopiedMessage(capnp::AnyStruct::Reader root,
                               absl::FunctionRef<absl::Status(capnp::MessageBuilder&)> put) {
  // Zeroed scratch for the builder's first segment; MallocMessageBuilder re-zeroes what it used
  // when destroyed, so only growth needs clearing.
  thread_local std::vector<uint64_t> scratch;
  try {
    const size_t words = root.totalSize().wordCount + 1;  // + the root pointer
    if (scratch.size() < words) scratch.assign(words, 0);
    capnp::MallocMessageBuilder builder(
        kj::arrayPtr(reinterpret_cast<capnp::word*>(scratch.data()), scratch.size()));
    builder.setRoot(root);
    return put(builder);
  } catch (const kj::Exception& e) {
    return KjError(absl::StatusCode::kInvalidArgument, "cannot copy the message", e);
  }
}

absl::StatusOr<OpenedPayload> OpenPayload(const Payload& payload) {
  // One segment: the table is one word (segment count - 1 = 0, then segment 0's size in words)
  // and the segment fills the rest of the payload exactly.
  const uint64_t* words = payload.words.get();
  const size_t count = payload.bytes / sizeof(capnp::word);
  if (count >= 2 && payload.bytes % sizeof(capnp::word) == 0 && (words[0] & 0xffffffff) == 0 &&
      (words[0] >> 32) == count - 1 &&
      CheckFlatMessage(words + 1, count - 1, kBaseTraversalWords + 4 * count)) {
    const auto* segment = reinterpret_cast<const capnp::word*>(words + 1);
    return OpenedPayload{capnp::readMessageUnchecked<capnp::AnyStruct>(segment), nullptr};
  }
  return OpenPayloadChecked(payload);
}

absl::StatusOr<OpenedPayload> OpenPayloadChecked(const Payload& payload) {
  const size_t words = payload.bytes / sizeof(capnp::word);
  capnp::ReaderOptions options;
  // No traversal limit on the reader: the walk below enforces one of its own, once, so that the
  // caller's reads of a validated message can never run out of budget and throw.
  options.traversalLimitInWords = std::numeric_limits<uint64_t>::max();
  const kj::ArrayPtr<const capnp::word> array(
      reinterpret_cast<const capnp::word*>(payload.words.get()), words);
  try {
    auto reader = std::make_unique<capnp::FlatArrayMessageReader>(array, options);
    if (reader->getEnd() != array.end()) {
      return absl::DataLossError("received message: trailing bytes after the last segment");
    }
    capnp::AnyPointer::Reader root = reader->getRoot<capnp::AnyPointer>();
    if (!root.isStruct()) return absl::DataLossError("received message: root is not a struct");
    // Messages up to the queue's max_message_bytes are accepted even beyond capnp's default
    // 64 MiB limit.
    const capnp::AnyStruct::Reader root_struct = root.getAs<capnp::AnyStruct>();
    Walker(kBaseTraversalWords + 4 * words).Struct(root_struct);
    return OpenedPayload{root_struct, std::move(reader)};
  } catch (const kj::Exception& e) {
    return KjError(absl::StatusCode::kDataLoss, "received a malformed message", e);
  }
}

}  // namespace internal
}  // namespace channel
