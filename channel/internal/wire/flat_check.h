// Flat check: proves a single-segment Cap'n Proto message safe to read without bounds checks.
//
// capnp's checked readers pay for their safety on every access and need a heap-allocated
// FlatArrayMessageReader (arena, segment table) per message: for a small message that is most of
// what receiving it costs. A message that lives in one segment and has no far or capability
// pointers can instead be checked once, word by word, here, and then read through
// capnp::readMessageUnchecked, which needs no reader at all.
//
// What "safe" means, and why each rule is needed:
//  - every pointer reachable from the root points inside the segment, with the whole object it
//    describes (struct sections, list content, an inline-composite list's tag and elements): the
//    unchecked reader trusts them;
//  - no far pointers (the unchecked reader does not follow them) and no capability pointers (a
//    queue cannot carry capabilities);
//  - the nesting depth stays within capnp's default limit of 64 (struct, list, and the struct
//    elements of a list each count a level): the unchecked reader has no limit of its own, and
//    recursive consumers of a reader (copying it into a builder, totalSize()) would otherwise
//    recurse as deep as a hostile message likes;
//  - the walk stays within `budget_words`, charged exactly as capnp_codec.cc's Walker charges
//    (a word per pointer, a struct's size but at least a word, a list's content, a word per
//    zero-sized element): a message whose pointers are reused to make a small message traverse
//    as a huge one is refused.
//
// The check is sound, not complete: anything it refuses is merely not eligible for the unchecked
// path; OpenPayload then falls back to capnp's checked reader, which gives the precise verdict.
#ifndef CHANNEL_INTERNAL_WIRE_FLAT_CHECK_H_
#define CHANNEL_INTERNAL_WIRE_FLAT_CHECK_H_

#include <cstddef>
#include <cstdint>

namespace channel {
namespace internal {

// `segment` holds `words` words: a message's only segment, root pointer first. True if the root
// is a struct and the whole message is safe to read unchecked as described above.
bool CheckFlatMessage(const uint64_t* segment, size_t words, uint64_t budget_words);

}  // namespace internal
}  // namespace channel

#endif  // CHANNEL_INTERNAL_WIRE_FLAT_CHECK_H_
