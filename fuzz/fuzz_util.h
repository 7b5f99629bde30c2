// Shared pieces of the fuzz targets: a generic Cap'n Proto traversal for decoded payloads, and
// the invariants every PipeReader state must satisfy.
#ifndef FUZZ_FUZZ_UTIL_H_
#define FUZZ_FUZZ_UTIL_H_

#include <cstdio>
#include <cstdlib>
#include <cstring>

#include <capnp/any.h>
#include <capnp/message.h>
#include <kj/exception.h>

#include "channel/internal/wire/capnp_codec.h"
#include "channel/internal/pipe/pipe_reader.h"
#include "channel/internal/shm/shared_state.h"
#include "schema/demo.capnp.h"

namespace channel {
namespace fuzz {

[[noreturn]] inline void Fail(const char* what) {
  fprintf(stderr, "fuzz invariant violated: %s\n", what);
  abort();
}

// The cost of reading a message in full: one per pointer followed, struct visited and list
// element iterated, one per word of a primitive list, and one per element of a List(Void) (not
// iterated: nothing to read, but a consumer may loop over it). OpenPayload's walk charges its
// budget at least one word for each of these (zero-sized list elements included, like capnp's
// "amplified read" rule), so for a message that passed its validation the cost is at most about
// twice that budget.
// Checked as it grows, so that an amplified message fails fast instead of looping for seconds.
struct ReadCost {
  uint64_t used = 0;
  uint64_t limit;
  void Charge(uint64_t n) {
    used += n;
    if (used > limit) Fail("an accepted message costs more to read than its validation allowed");
  }
};

// OpenPayload's validation budget (capnp_codec.cc: kBaseTraversalWords + 4 per word of message).
// Keep in step with it.
inline uint64_t ValidationLimitWords(uint64_t payload_bytes) {
  return (uint64_t{8} << 20) + 4 * (payload_bytes / 8);
}

// Reads every reachable word of a struct without knowing its schema.
inline uint64_t TraverseStruct(capnp::AnyStruct::Reader s, int depth, ReadCost* cost);

inline uint64_t TraversePointer(capnp::AnyPointer::Reader p, int depth, ReadCost* cost) {
  if (depth > 100) Fail("nesting deeper than capnp's limit was accepted");
  cost->Charge(1);
  switch (p.getPointerType()) {
    case capnp::PointerType::NULL_:
      return 0;
    case capnp::PointerType::STRUCT:
      return TraverseStruct(p.getAs<capnp::AnyStruct>(), depth + 1, cost);
    case capnp::PointerType::LIST: {
      capnp::AnyList::Reader l = p.getAs<capnp::AnyList>();
      uint64_t sum = l.size();
      switch (l.getElementSize()) {
        case capnp::ElementSize::INLINE_COMPOSITE:
          for (capnp::AnyStruct::Reader e : l.as<capnp::List<capnp::AnyStruct>>()) {
            sum += TraverseStruct(e, depth + 1, cost);
          }
          break;
        case capnp::ElementSize::POINTER:
          for (capnp::AnyPointer::Reader e : l.as<capnp::List<capnp::AnyPointer>>()) {
            sum += TraversePointer(e, depth + 1, cost);
          }
          break;
        case capnp::ElementSize::VOID:
          cost->Charge(l.size());
          break;
        default: {
          kj::ArrayPtr<const kj::byte> bytes = l.getRawBytes();
          cost->Charge((bytes.size() + 7) / 8);
          for (kj::byte b : bytes) sum += b;
        }
      }
      return sum;
    }
    case capnp::PointerType::CAPABILITY:
      Fail("a message with a capability pointer was accepted");  // OpenPayload refuses them
  }
  return 0;
}

inline uint64_t TraverseStruct(capnp::AnyStruct::Reader s, int depth, ReadCost* cost) {
  cost->Charge(1);
  uint64_t sum = 1;
  for (kj::byte b : s.getDataSection()) sum += b;
  for (capnp::AnyPointer::Reader p : s.getPointerSection()) sum += TraversePointer(p, depth, cost);
  return sum;
}

// Reads a whole accepted message generically; a kj exception here is a bug (OpenPayload
// promises that reads after it cannot throw), and so is a read costing more than its validation
// allowed.
inline uint64_t ReadAll(capnp::AnyStruct::Reader root, uint64_t payload_bytes) {
  try {
    // An accepted message must be cheap to read in full (e.g. no list of half a billion
    // zero-sized elements in a 32-byte message: OpenPayload must refuse that).
    ReadCost cost;
    cost.limit = 2 * ValidationLimitWords(payload_bytes) + 16;
    return TraverseStruct(root, 0, &cost);
  } catch (const kj::Exception& e) {
    fprintf(stderr, "read after OpenPayload threw: %s\n", e.getDescription().cStr());
    abort();
  }
}

// What a receiver does with a payload: OpenPayload (must never throw or crash), then one full
// generic read of an accepted message, then the typed reads a user of Queue<demo::Job> or
// Queue<demo::Small> would do. A message accepted by the flat check (read unchecked) must also
// be accepted by capnp's checked reader and read the same through it. Typed reads may throw on a
// message built for another type (capnp's type checks), which is not the library's concern.
inline void ConsumePayload(const internal::Payload& payload) {
  if (payload.bytes % 8 != 0) Fail("payload size not a multiple of 8");
  absl::StatusOr<internal::OpenedPayload> opened = internal::OpenPayload(payload);
  if (!opened.ok()) {
    if (opened.status().code() != absl::StatusCode::kDataLoss) Fail("OpenPayload: not kDataLoss");
    return;
  }
  const uint64_t sum = ReadAll(opened->root, payload.bytes);
  if (opened->reader == nullptr) {
    absl::StatusOr<internal::OpenedPayload> checked = internal::OpenPayloadChecked(payload);
    if (!checked.ok()) Fail("the flat check accepted a message capnp's checked reader refuses");
    if (ReadAll(checked->root, payload.bytes) != sum) Fail("flat and checked reads differ");
  }
  try {
    demo::Job::Reader job = opened->root.as<demo::Job>();
    volatile uint64_t x = job.getId();
    x = x + job.getProducer().size();
    if (job.isPayload()) x = x + job.getPayload().size();
    x = x + job.getData().size();
    demo::Small::Reader small = opened->root.as<demo::Small>();
    x = x + small.getId() + small.getData().size();
    (void)x;
  } catch (const kj::Exception&) {
  }
}

// Invariants of the reader's shared state between operations (the lock is free).
inline void CheckReaderState(internal::SharedQueue* q) {
  const internal::ReaderState& r = q->reader;
  if (r.head > r.tail) Fail("reader head > tail");
  if (r.tail > q->header.staging_capacity) Fail("reader tail past staging");
  if (r.journal_active != 0) Fail("reader journal left active");
  if (r.reading != 0) Fail("reader 'reading' left set");
  if (r.taking_seq != 0) Fail("reader taking_seq left set");
  if (q->accounts.journal_active != 0) Fail("accounts journal left active");
}

}  // namespace fuzz
}  // namespace channel

#endif  // FUZZ_FUZZ_UTIL_H_
