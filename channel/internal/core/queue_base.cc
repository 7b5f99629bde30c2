#include "channel/internal/core/queue_base.h"

#include "absl/strings/str_cat.h"

namespace channel {
namespace internal {

absl::Status ValidateOptions(const QueueOptions& options) {
  // Frame headers carry a 32-bit length, and staging holds two maximum frames.
  constexpr size_t kLimit = size_t{1} << 30;
  if (options.max_message_bytes < 8 || options.max_message_bytes > kLimit) {
    return absl::InvalidArgumentError(
        absl::StrCat("QueueOptions::max_message_bytes is ", options.max_message_bytes,
                     "; it must be between 8 and ", kLimit));
  }
  return absl::OkStatus();
}

}  // namespace internal
}  // namespace channel
