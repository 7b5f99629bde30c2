#include "channel/internal/core/queue_identity.h"

#include "absl/strings/str_cat.h"

namespace channel {
namespace internal {

const char* QueueKindName(QueueKind kind) {
  return kind == QueueKind::kJoinableQueue ? "JoinableQueue" : "Queue";
}

std::string DescribeIdentity(const QueueIdentity& id) {
  return absl::StrCat(QueueKindName(id.kind), "<", id.type_name, ">");
}

}  // namespace internal
}  // namespace channel
