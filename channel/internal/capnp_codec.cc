#include "channel/internal/capnp_codec.h"

#include <cstring>
#include <limits>
#include <vector>

#include <kj/exception.h>

#include "absl/strings/str_cat.h"

namespace channel {
namespace internal {
namespace {

constexpr uint64_t kBaseTraversalWords = 8 << 20;  // capnp's default, 64 MiB

absl::Status KjError(absl::StatusCode code, absl::string_view what, const kj::Exception& e) {
  return absl::Status(code, absl::StrCat(what, ": ", e.getDescription().cStr()));
}

// Visits every object of a message through capnp's own readers, which check bounds, nesting
// depth and the traversal budget as they go — including the amplification charge for lists of
// zero-sized elements, which AnyPointer::targetSize() does not apply (a 32-byte message could
// otherwise claim half a billion elements). Throws kj::Exception on anything malformed.
void WalkPointer(capnp::AnyPointer::Reader pointer);

void Walk(capnp::AnyStruct::Reader s) {
  for (capnp::AnyPointer::Reader p : s.getPointerSection()) WalkPointer(p);
}

void WalkPointer(capnp::AnyPointer::Reader pointer) {
  switch (pointer.getPointerType()) {
    case capnp::PointerType::NULL_:
      return;
    case capnp::PointerType::STRUCT:
      Walk(pointer.getAs<capnp::AnyStruct>());
      return;
    case capnp::PointerType::LIST: {
      capnp::AnyList::Reader list = pointer.getAs<capnp::AnyList>();
      if (list.getElementSize() == capnp::ElementSize::POINTER) {
        for (capnp::AnyPointer::Reader p : list.as<capnp::List<capnp::AnyPointer>>()) {
          WalkPointer(p);
        }
      } else if (list.getElementSize() == capnp::ElementSize::INLINE_COMPOSITE) {
        for (capnp::AnyStruct::Reader s : list.as<capnp::List<capnp::AnyStruct>>()) Walk(s);
      }
      return;
    }
    case capnp::PointerType::CAPABILITY:
      KJ_FAIL_REQUIRE("capabilities cannot travel through a queue");
  }
}

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
    capnp::MessageBuilder& message) {
  try {
    kj::ArrayPtr<const kj::ArrayPtr<const capnp::word>> segments = message.getSegmentsForOutput();
    // The root pointer is the first word of the first segment. Its two low bits are the pointer
    // kind: 0 struct, 1 list, 2 far (a landing pad, which in a builder always leads to the root
    // struct), 3 capability. Checking the word is enough and much cheaper than getRoot().
    uint64_t root = 0;
    if (segments.size() > 0 && segments[0].size() > 0) memcpy(&root, segments[0].begin(), 8);
    if (root == 0) return absl::InvalidArgumentError("the message has no root struct");
    if ((root & 3) == 1 || (root & 3) == 3) {
      return absl::InvalidArgumentError("the message's root is not a struct");
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

absl::StatusOr<std::unique_ptr<capnp::FlatArrayMessageReader>> OpenPayload(
    const Payload& payload) {
  const size_t words = payload.bytes / sizeof(capnp::word);
  capnp::ReaderOptions options;
  // Room for the validation pass below; messages up to the queue's max_message_bytes are
  // accepted even beyond capnp's default 64 MiB. Amplified messages (pointers reused to make a
  // small message traverse as a huge one) exceed it and are refused.
  options.traversalLimitInWords = kBaseTraversalWords + 4 * words;
  const kj::ArrayPtr<const capnp::word> array(
      reinterpret_cast<const capnp::word*>(payload.words.get()), words);
  try {
    capnp::FlatArrayMessageReader validator(array, options);
    if (validator.getEnd() != array.end()) {
      return absl::DataLossError("received message: trailing bytes after the last segment");
    }
    capnp::AnyPointer::Reader root = validator.getRoot<capnp::AnyPointer>();
    if (!root.isStruct()) return absl::DataLossError("received message: root is not a struct");
    Walk(root.getAs<capnp::AnyStruct>());  // throws now rather than in the caller's reads
    // Validated within the limit, so one full traversal costs a bounded amount; the caller may
    // read its message as often as it likes without running out of budget and throwing.
    options.traversalLimitInWords = std::numeric_limits<uint64_t>::max();
    return std::make_unique<capnp::FlatArrayMessageReader>(array, options);
  } catch (const kj::Exception& e) {
    return KjError(absl::StatusCode::kDataLoss, "received a malformed message", e);
  }
}

}  // namespace internal
}  // namespace channel
