#include "channel/internal/wire/flat_check.h"

#include <algorithm>

namespace channel {
namespace internal {
namespace {

// Cap'n Proto wire format (encoding spec, "Pointers"): the two low bits of a pointer word are its
// kind; bits 2..31 a signed offset, in words, from the end of the pointer to its target.
constexpr uint64_t kStructKind = 0;
constexpr uint64_t kListKind = 1;
// List element sizes (bits 32..34 of a list pointer).
constexpr uint64_t kPointerElements = 6;
constexpr uint64_t kInlineComposite = 7;
constexpr uint64_t kElementBits[] = {0, 1, 8, 16, 32, 64};  // void, bit, byte, 2, 4, 8 bytes
constexpr int kNestingLimit = 64;                           // capnp::ReaderOptions' default

uint64_t DataWords(uint64_t struct_word) { return (struct_word >> 32) & 0xffff; }
uint64_t PointerCount(uint64_t struct_word) { return struct_word >> 48; }

class Checker {
 public:
  Checker(const uint64_t* segment, size_t words, uint64_t budget_words)
      : seg_(segment), words_(words), left_(budget_words) {}

  bool Root() {
    if (words_ == 0) return false;
    const uint64_t root = seg_[0];
    if (root == 0 || (root & 3) != kStructKind) return false;
    return Struct(0, root, kNestingLimit);
  }

 private:
  // Index of a pointer's target; negative or past the end for a hostile one.
  static int64_t Target(size_t at, uint64_t pointer) {
    const int32_t low = static_cast<int32_t>(static_cast<uint32_t>(pointer));
    return static_cast<int64_t>(at) + 1 + (low >> 2);
  }

  bool InBounds(int64_t begin, uint64_t count) const {
    return begin >= 0 && static_cast<uint64_t>(begin) <= words_ && count <= words_ - begin;
  }

  bool Charge(uint64_t words) {
    if (words > left_) return false;
    left_ -= words;
    return true;
  }

  // The pointer at index `at`; `limit` levels of nesting remain for its target.
  bool Pointer(size_t at, int limit) {
    if (!Charge(1)) return false;
    const uint64_t pointer = seg_[at];
    if (pointer == 0) return true;
    if (limit <= 0) return false;
    switch (pointer & 3) {
      case kStructKind:
        return Struct(at, pointer, limit);
      case kListKind:
        return List(at, pointer, limit);
      default:  // far pointers: not in one segment; capabilities: never in a queue
        return false;
    }
  }

  bool Pointers(size_t first, uint64_t count, int limit) {
    for (uint64_t i = 0; i < count; ++i) {
      if (!Pointer(first + i, limit)) return false;
    }
    return true;
  }

  bool Struct(size_t at, uint64_t pointer, int limit) {
    const uint64_t data = DataWords(pointer);
    const uint64_t pointers = PointerCount(pointer);
    const int64_t begin = Target(at, pointer);
    if (!InBounds(begin, data + pointers)) return false;
    if (!Charge(std::max<uint64_t>(1, data + pointers))) return false;
    return Pointers(begin + data, pointers, limit - 1);
  }

  bool List(size_t at, uint64_t pointer, int limit) {
    const int64_t begin = Target(at, pointer);
    const uint64_t element_size = (pointer >> 32) & 7;
    const uint64_t count = pointer >> 35;  // elements; words for an inline-composite list
    if (element_size == kInlineComposite) return Composite(begin, count, limit);
    if (element_size == kPointerElements) {
      return InBounds(begin, count) && Charge(count) && Pointers(begin, count, limit - 1);
    }
    const uint64_t content = (count * kElementBits[element_size] + 63) / 64;
    return InBounds(begin, content) && Charge(content == 0 ? count : content);
  }

  // An inline-composite list: a tag word shaped like a struct pointer (offset = element count),
  // then the elements, each a struct of the tag's size.
  bool Composite(int64_t begin, uint64_t list_words, int limit) {
    if (!InBounds(begin, list_words + 1)) return false;
    const uint64_t tag = seg_[begin];
    if ((tag & 3) != kStructKind) return false;
    const uint64_t elements = static_cast<uint32_t>(tag) >> 2;  // unsigned, as capnp reads it
    const uint64_t data = DataWords(tag);
    const uint64_t pointers = PointerCount(tag);
    const uint64_t each = data + pointers;
    if (elements * each > list_words) return false;  // < 2^30 * 2^17: cannot overflow
    if (elements == 0) return true;
    if (!Charge(std::max<uint64_t>(1, each) * elements)) return false;
    for (uint64_t e = 0; pointers != 0 && e < elements; ++e) {
      // One level for the list, one for the element struct.
      if (!Pointers(begin + 1 + e * each + data, pointers, limit - 2)) return false;
    }
    return true;
  }

  const uint64_t* const seg_;
  const size_t words_;
  uint64_t left_;
};

}  // namespace

bool CheckFlatMessage(const uint64_t* segment, size_t words, uint64_t budget_words) {
  return Checker(segment, words, budget_words).Root();
}

}  // namespace internal
}  // namespace channel
