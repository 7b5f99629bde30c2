#include "channel/internal/core/factory.h"

#include <string>

#include "absl/strings/str_cat.h"
#include "channel/internal/nats/nats_transport.h"
#include "channel/internal/pipe/pipe_transport.h"

namespace channel {
namespace internal {
namespace {

struct Registration {
  absl::string_view scheme;  // "nats://"; "" for plain names
  const Transport& (*transport)();
};

// The registry: the first entry serves plain names and anonymous queues. A new transport adds
// one line here (and its target to :factory in BUILD).
constexpr Registration kTransports[] = {
    {"", &PipeTransport},
    {"nats://", &NatsTransport},
};
static_assert(kTransports[0].scheme.empty(), "the first transport serves plain names");

}  // namespace

const Transport& LocalTransport() { return kTransports[0].transport(); }

absl::StatusOr<const Transport*> TransportFor(absl::string_view name) {
  const size_t separator = name.find("://");
  const absl::string_view scheme =
      separator == absl::string_view::npos ? absl::string_view() : name.substr(0, separator + 3);
  std::string known;
  for (const Registration& r : kTransports) {
    if (r.scheme == scheme) return &r.transport();
    if (!r.scheme.empty()) absl::StrAppend(&known, known.empty() ? "" : ", ", r.scheme);
  }
  return absl::InvalidArgumentError(absl::StrCat(
      "queue names starting with \"", scheme, "\" name no transport; use a plain name (",
      "[A-Za-z0-9._-]) for a queue on this machine",
      known.empty() ? std::string() : absl::StrCat(", or a URL starting with one of: ", known)));
}

}  // namespace internal
}  // namespace channel
