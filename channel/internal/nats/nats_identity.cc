#include "channel/internal/nats/nats_identity.h"

#include <vector>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"

namespace channel {
namespace internal {
namespace {

constexpr absl::string_view kMagic = "typed_channel/1";

absl::Status NotOurs() {
  return absl::FailedPreconditionError(
      "the stream was not created by typed_channel (or by an incompatible version): its "
      "description does not name a queue type");
}

}  // namespace

std::string EncodeNatsDescription(const NatsQueueHeader& h, uint64_t nonce) {
  return absl::StrCat(kMagic, " kind=", static_cast<uint32_t>(h.identity.kind),
                      " type_id=", h.identity.type_id, " maxsize=", h.maxsize,
                      " max_message_bytes=", h.max_message_bytes, " nonce=", nonce,
                      " type_name=", h.identity.type_name);
}

absl::StatusOr<NatsQueueHeader> ParseNatsDescription(absl::string_view description) {
  // The type name is last and may hold anything but a newline.
  const size_t name_at = description.find(" type_name=");
  if (name_at == absl::string_view::npos) return NotOurs();
  NatsQueueHeader h;
  h.identity.type_name = std::string(description.substr(name_at + 11));
  if (h.identity.type_name.size() > kTypeNameBytes) return NotOurs();
  std::vector<absl::string_view> fields = absl::StrSplit(description.substr(0, name_at), ' ');
  if (fields.size() != 6 || fields[0] != kMagic) return NotOurs();
  uint32_t kind = 0;
  uint64_t nonce = 0;
  auto value = [](absl::string_view field, absl::string_view key) -> absl::string_view {
    return absl::ConsumePrefix(&field, key) ? field : absl::string_view("x");
  };
  if (!absl::SimpleAtoi(value(fields[1], "kind="), &kind) ||
      !absl::SimpleAtoi(value(fields[2], "type_id="), &h.identity.type_id) ||
      !absl::SimpleAtoi(value(fields[3], "maxsize="), &h.maxsize) ||
      !absl::SimpleAtoi(value(fields[4], "max_message_bytes="), &h.max_message_bytes) ||
      !absl::SimpleAtoi(value(fields[5], "nonce="), &nonce) || h.maxsize < 0 ||
      h.max_message_bytes < 8 || h.max_message_bytes > (uint64_t{1} << 30) ||
      (kind != static_cast<uint32_t>(QueueKind::kQueue) &&
       kind != static_cast<uint32_t>(QueueKind::kJoinableQueue))) {
    return NotOurs();
  }
  h.identity.kind = static_cast<QueueKind>(kind);
  return h;
}

}  // namespace internal
}  // namespace channel
