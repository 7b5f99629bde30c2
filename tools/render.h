// Output formats of channelctl: aligned text for people, JSON for scripts, and the Prometheus
// text exposition format (version 0.0.4) for node_exporter's textfile collector.
#ifndef TOOLS_RENDER_H_
#define TOOLS_RENDER_H_

#include <optional>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/time/time.h"
#include "channel/internal/pipe/inspect.h"

namespace channelctl {

// One row of `list` / one queue of `stat --all`: the queue, or why it could not be read.
struct Entry {
  std::string name;
  absl::StatusOr<channel::internal::NamedQueueInfo> info;
};

// Rates between two samples of the same queue (`stat --watch`).
struct Rates {
  double items_put = 0, items_got = 0, bytes_put = 0, bytes_got = 0, items_lost = 0;
};
Rates RatesBetween(const channel::QueueStats& before, const channel::QueueStats& after,
                   absl::Duration elapsed);

std::string ListText(const std::vector<Entry>& entries);
std::string ListJson(const std::vector<Entry>& entries);

std::string StatText(const channel::internal::NamedQueueInfo& info,
                     const std::optional<Rates>& rates);
std::string StatJson(const channel::internal::NamedQueueInfo& info,
                     const std::optional<Rates>& rates);
// Every queue's metrics, grouped by metric as the format requires (one HELP/TYPE per family).
std::string Prometheus(const std::vector<Entry>& entries);

std::string PeekText(const channel::internal::PeekResult& peek,
                     const std::vector<std::string>& decoded);
std::string PeekJson(const channel::internal::PeekResult& peek,
                     const std::vector<std::string>& decoded);

std::string RepairText(const channel::internal::RepairReport& report);
std::string RepairJson(const channel::internal::RepairReport& report);

// A JSON string literal.
std::string JsonString(absl::string_view s);

}  // namespace channelctl

#endif  // TOOLS_RENDER_H_
