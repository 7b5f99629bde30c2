#include "tools/render.h"

#include <algorithm>
#include <cstdint>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"

namespace channelctl {
namespace {

using channel::QueueStats;
using channel::internal::NamedQueueInfo;
using channel::internal::QueueKindName;

// Every QueueStats field, once: text, JSON and Prometheus output are all driven by this table.
struct Field {
  const char* name;  // the QueueStats field name, also the JSON key
  bool counter;      // a total that only grows (Prometheus counter, "_total"), else a gauge
  const char* help;
  double (*get)(const QueueStats&);
};

bool IsFlag(const Field& f) { return f.name == absl::string_view("shut_down"); }

// The value for text and JSON: a flag reads true/false (Prometheus wants 1/0: Number()).
std::string Value(const Field& f, const QueueStats& s);

#define CHANNELCTL_FIELD(field, counter, help) \
  Field { #field, counter, help, [](const QueueStats& s) { return static_cast<double>(s.field); } }

const Field kFields[] = {
    CHANNELCTL_FIELD(depth, false, "Items in the queue (qsize)."),
    CHANNELCTL_FIELD(peak_depth, false, "Largest depth the queue has had (approximate)."),
    CHANNELCTL_FIELD(unfinished, false, "JoinableQueue: items put and not yet TaskDone'd."),
    CHANNELCTL_FIELD(items_put, true, "Puts that returned OK."),
    CHANNELCTL_FIELD(items_got, true, "Items returned by Get."),
    CHANNELCTL_FIELD(bytes_put, true, "Serialized bytes of the items put."),
    CHANNELCTL_FIELD(bytes_got, true, "Serialized bytes of the items got."),
    CHANNELCTL_FIELD(items_lost, true, "Items that will never be delivered."),
    CHANNELCTL_FIELD(resyncs, true, "Times a reader skipped bytes that were not a valid frame."),
    CHANNELCTL_FIELD(torn_writes, true, "Writers that died inside a write, repaired."),
    CHANNELCTL_FIELD(dead_processes, true, "Dead putting processes whose reservations were released."),
    CHANNELCTL_FIELD(blocked_puts, false, "Put calls waiting for room right now."),
    CHANNELCTL_FIELD(blocked_gets, false, "Get calls waiting for an item right now."),
    CHANNELCTL_FIELD(attached_processes, false, "Live processes with the queue open."),
    CHANNELCTL_FIELD(items_dropped_by_shutdown, true, "Items discarded by Shutdown(immediate)."),
    CHANNELCTL_FIELD(shut_down, false, "1 once Shutdown() was called."),
};

#undef CHANNELCTL_FIELD

std::string Number(double v) { return absl::StrFormat("%.0f", v); }

std::string Value(const Field& f, const QueueStats& s) {
  if (IsFlag(f)) return f.get(s) != 0 ? "true" : "false";
  return Number(f.get(s));
}

std::string PidList(const std::vector<pid_t>& pids) {
  return pids.empty() ? "-" : absl::StrJoin(pids, ",");
}

std::string JsonPids(const std::vector<pid_t>& pids) {
  return absl::StrCat("[", absl::StrJoin(pids, ","), "]");
}

// A table with left-aligned columns separated by two spaces.
std::string Table(const std::vector<std::vector<std::string>>& rows) {
  std::vector<size_t> widths;
  for (const auto& row : rows) {
    if (widths.size() < row.size()) widths.resize(row.size());
    for (size_t i = 0; i < row.size(); ++i) widths[i] = std::max(widths[i], row[i].size());
  }
  std::string out;
  for (const auto& row : rows) {
    std::string line;
    for (size_t i = 0; i < row.size(); ++i) {
      line += row[i];
      if (i + 1 < row.size()) line += std::string(widths[i] - row[i].size() + 2, ' ');
    }
    out += line + "\n";
  }
  return out;
}

std::string Maxsize(int64_t maxsize) { return maxsize > 0 ? absl::StrCat(maxsize) : "unbounded"; }

std::string StateWord(const NamedQueueInfo& info) {
  if (info.stats.shut_down) return "shut down";
  if (info.cold) return "cold";
  return info.open ? "open" : "idle";
}

std::string JsonQueue(const NamedQueueInfo& info) {
  std::string out = absl::StrCat(
      "{\"name\":", JsonString(info.name), ",\"kind\":\"", QueueKindName(info.identity.kind),
      "\",\"type\":", JsonString(info.identity.type_name),
      absl::StrFormat(",\"type_id\":\"0x%016x\"", info.identity.type_id),
      ",\"maxsize\":", info.maxsize, ",\"max_message_bytes\":", info.max_message_bytes,
      ",\"state\":\"", StateWord(info), "\"",
      ",\"pids\":", JsonPids(info.pids), ",\"dead_pids\":", JsonPids(info.dead_pids),
      ",\"stats\":{");
  bool first = true;
  for (const Field& f : kFields) {
    absl::StrAppend(&out, first ? "" : ",", "\"", f.name, "\":", Value(f, info.stats));
    first = false;
  }
  return out + "}}";
}

std::string JsonRates(const Rates& r) {
  return absl::StrFormat(
      "{\"items_put_per_s\":%.1f,\"items_got_per_s\":%.1f,\"bytes_put_per_s\":%.1f,"
      "\"bytes_got_per_s\":%.1f,\"items_lost_per_s\":%.1f}",
      r.items_put, r.items_got, r.bytes_put, r.bytes_got, r.items_lost);
}

// Prometheus label values: backslash, double quote and newline escaped.
std::string LabelValue(absl::string_view s) {
  std::string out;
  for (char c : s) {
    if (c == '\\' || c == '"') out += '\\';
    if (c == '\n') {
      out += "\\n";
      continue;
    }
    out += c;
  }
  return out;
}

}  // namespace

std::string JsonString(absl::string_view s) {
  std::string out = "\"";
  for (unsigned char c : s) {
    switch (c) {
      case '"': out += "\\\""; break;
      case '\\': out += "\\\\"; break;
      case '\n': out += "\\n"; break;
      case '\t': out += "\\t"; break;
      case '\r': out += "\\r"; break;
      default:
        if (c < 0x20) {
          absl::StrAppendFormat(&out, "\\u%04x", c);
        } else {
          out += static_cast<char>(c);
        }
    }
  }
  return out + "\"";
}

Rates RatesBetween(const QueueStats& before, const QueueStats& after, absl::Duration elapsed) {
  const double seconds = std::max(absl::ToDoubleSeconds(elapsed), 1e-9);
  auto rate = [seconds](uint64_t a, uint64_t b) {
    return b >= a ? static_cast<double>(b - a) / seconds : 0.0;  // a recreated queue restarts
  };
  return Rates{rate(before.items_put, after.items_put), rate(before.items_got, after.items_got),
               rate(before.bytes_put, after.bytes_put), rate(before.bytes_got, after.bytes_got),
               rate(before.items_lost, after.items_lost)};
}

std::string ListText(const std::vector<Entry>& entries) {
  std::vector<std::vector<std::string>> rows = {
      {"NAME", "KIND", "TYPE", "MAXSIZE", "QSIZE", "UNFINISHED", "ATTACHED", "LOST", "STATE"}};
  for (const Entry& e : entries) {
    if (!e.info.ok()) {
      rows.push_back({e.name, "?", "?", "?", "?", "?", "?", "?",
                      absl::StrCat("refused: ", e.info.status().message())});
      continue;
    }
    const NamedQueueInfo& i = *e.info;
    rows.push_back({i.name, QueueKindName(i.identity.kind), i.identity.type_name,
                    Maxsize(i.maxsize), absl::StrCat(i.stats.depth),
                    i.identity.kind == channel::internal::QueueKind::kJoinableQueue
                        ? absl::StrCat(i.stats.unfinished)
                        : "-",
                    absl::StrCat(i.stats.attached_processes), absl::StrCat(i.stats.items_lost),
                    StateWord(i)});
  }
  return Table(rows);
}

std::string ListJson(const std::vector<Entry>& entries) {
  std::vector<std::string> items;
  for (const Entry& e : entries) {
    items.push_back(e.info.ok() ? JsonQueue(*e.info)
                                : absl::StrCat("{\"name\":", JsonString(e.name), ",\"error\":",
                                               JsonString(e.info.status().message()), "}"));
  }
  return absl::StrCat("[", absl::StrJoin(items, ","), "]\n");
}

std::string StatText(const NamedQueueInfo& i, const std::optional<Rates>& rates) {
  const QueueStats& s = i.stats;
  auto per_s = [&rates](double Rates::*field, const char* unit) -> std::string {
    if (!rates.has_value()) return "";
    return absl::StrFormat("  (%.1f %s/s)", (*rates).*field, unit);
  };
  std::vector<std::vector<std::string>> rows = {
      {"queue", i.name},
      {"kind", QueueKindName(i.identity.kind)},
      {"message type", absl::StrFormat("%s (id 0x%016x)", i.identity.type_name,
                                       i.identity.type_id)},
      {"maxsize", Maxsize(i.maxsize)},
      {"max_message_bytes", absl::StrCat(i.max_message_bytes)},
      {"state", i.cold ? "cold: processes died with it open and none is left (items its pipe "
                         "held are lost: `channelctl repair` accounts them)"
                : i.open ? "open"
                         : "idle: no process has it open; all closed it normally"},
      {"pids", PidList(i.pids)},
      {"dead pids", i.dead_pids.empty() ? "-"
                                        : absl::StrCat(PidList(i.dead_pids),
                                                       " (not yet reaped)")},
  };
  for (const Field& f : kFields) {
    std::string value = Value(f, s);
    if (f.name == absl::string_view("items_put")) value += per_s(&Rates::items_put, "items");
    if (f.name == absl::string_view("items_got")) value += per_s(&Rates::items_got, "items");
    if (f.name == absl::string_view("bytes_put")) value += per_s(&Rates::bytes_put, "B");
    if (f.name == absl::string_view("bytes_got")) value += per_s(&Rates::bytes_got, "B");
    if (f.name == absl::string_view("items_lost")) value += per_s(&Rates::items_lost, "items");
    rows.push_back({f.name, value});
  }
  return Table(rows);
}

std::string StatJson(const NamedQueueInfo& info, const std::optional<Rates>& rates) {
  std::string q = JsonQueue(info);
  if (rates.has_value()) {
    q.pop_back();  // the closing brace: rates go inside the queue's object
    absl::StrAppend(&q, ",\"rates\":", JsonRates(*rates), "}");
  }
  return q + "\n";
}

std::string Prometheus(const std::vector<Entry>& entries) {
  std::string out;
  auto labels = [](const NamedQueueInfo& i) {
    return absl::StrCat("{queue=\"", LabelValue(i.name), "\",kind=\"",
                        QueueKindName(i.identity.kind), "\",type=\"",
                        LabelValue(i.identity.type_name), "\"}");
  };
  auto family = [&](const std::string& metric, bool counter, const char* help,
                    auto value_of) {
    absl::StrAppend(&out, "# HELP ", metric, " ", help, "\n# TYPE ", metric,
                    counter ? " counter\n" : " gauge\n");
    for (const Entry& e : entries) {
      if (e.info.ok()) absl::StrAppend(&out, metric, labels(*e.info), " ", value_of(*e.info), "\n");
    }
  };
  for (const Field& f : kFields) {
    family(absl::StrCat("typed_channel_", f.name, f.counter ? "_total" : ""), f.counter, f.help,
           [&f](const NamedQueueInfo& i) { return Number(f.get(i.stats)); });
  }
  family("typed_channel_maxsize", false, "Bound of the queue; 0 when unbounded.",
         [](const NamedQueueInfo& i) { return absl::StrCat(i.maxsize); });
  family("typed_channel_cold", false,
         "1 when processes died with the queue open and none is left (run channelctl repair).",
         [](const NamedQueueInfo& i) { return std::string(i.cold ? "1" : "0"); });
  out += "# HELP typed_channel_readable 0 when channelctl refused the queue file (see its "
         "stderr).\n# TYPE typed_channel_readable gauge\n";
  for (const Entry& e : entries) {
    absl::StrAppend(&out, "typed_channel_readable{queue=\"", LabelValue(e.name), "\"} ",
                    e.info.ok() ? 1 : 0, "\n");
  }
  return out;
}

std::string PeekText(const channel::internal::PeekResult& peek,
                     const std::vector<std::string>& decoded) {
  std::string out;
  for (size_t n = 0; n < peek.items.size(); ++n) {
    const auto& item = peek.items[n];
    absl::StrAppend(&out, "#", n + 1, "  seq ", item.seq, "  ", item.bytes, " bytes",
                    item.in_slab ? " (large: in the slab)" : "", "\n    ",
                    item.copied ? decoded[n] : "(not copied: past the bytes one peek copies)",
                    "\n");
  }
  if (peek.items.empty()) out += "no items readable now\n";
  if (peek.more) out += "(more bytes follow in staging)\n";
  return out;
}

std::string PeekJson(const channel::internal::PeekResult& peek,
                     const std::vector<std::string>& decoded) {
  std::vector<std::string> items;
  for (size_t n = 0; n < peek.items.size(); ++n) {
    const auto& item = peek.items[n];
    items.push_back(absl::StrCat("{\"seq\":", item.seq, ",\"bytes\":", item.bytes,
                                 ",\"in_slab\":", item.in_slab ? "true" : "false",
                                 ",\"text\":", item.copied ? JsonString(decoded[n]) : "null",
                                 "}"));
  }
  return absl::StrCat("{\"items\":[", absl::StrJoin(items, ","),
                      "],\"more\":", peek.more ? "true" : "false", "}\n");
}

std::string RepairText(const channel::internal::RepairReport& r) {
  const QueueStats& b = r.before.stats;
  const QueueStats& a = r.after.stats;
  const int64_t pending = std::max<int64_t>(0, a.depth - r.deliverable);
  return Table({
      {"queue", r.after.name},
      {"dead processes reaped",
       absl::StrCat(a.dead_processes - b.dead_processes,
                    r.before.dead_pids.empty() ? ""
                                               : absl::StrCat(" (pids ",
                                                              PidList(r.before.dead_pids), ")"))},
      {"items lost", absl::StrCat(a.items_lost - b.items_lost,
                                  " (unwritten by dead processes, or died in the queue's pipe)")},
      {"items lost, still to count",
       absl::StrCat(pending, " (died in the pipe behind deliverable items: counted in items_lost "
                             "when a Get reaches them)")},
      {"items deliverable", absl::StrCat(r.deliverable)},
      {"depth", absl::StrCat(b.depth, " -> ", a.depth)},
      {"items_lost", absl::StrCat(b.items_lost, " -> ", a.items_lost)},
      {"torn_writes", absl::StrCat(b.torn_writes, " -> ", a.torn_writes)},
  });
}

std::string RepairJson(const channel::internal::RepairReport& r) {
  const int64_t pending = std::max<int64_t>(0, r.after.stats.depth - r.deliverable);
  return absl::StrCat("{\"before\":", JsonQueue(r.before), ",\"after\":", JsonQueue(r.after),
                      ",\"deliverable\":", r.deliverable, ",\"lost_still_to_count\":", pending,
                      ",\"dead_processes_reaped\":",
                      r.after.stats.dead_processes - r.before.stats.dead_processes,
                      ",\"items_lost\":",
                      r.after.stats.items_lost - r.before.stats.items_lost, "}\n");
}

}  // namespace channelctl
