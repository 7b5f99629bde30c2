// channelctl: look into and operate the named queues of typed_channel (docs/api.md, "channelctl").
//
// Every verb goes through the library's own code (channel/internal/pipe/inspect.h): the tool
// validates queue files exactly as Open does and never parses one itself.
#include <stdlib.h>
#include <unistd.h>

#include <cstdio>
#include <iostream>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "absl/strings/string_view.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "channel/internal/pipe/inspect.h"
#include "tools/message_decoder.h"
#include "tools/render.h"

namespace channelctl {
namespace {

namespace ci = channel::internal;

// Exit codes (documented in --help and docs/api.md).
enum Exit {
  kOk = 0,
  kFailed = 1,     // the operation failed (I/O error, a lock stayed busy, ...)
  kUsage = 2,      // bad command line
  kNotFound = 3,   // no such queue
  kRefused = 4,    // another user's, unsafe or malformed queue file or queue directory
  kInUse = 5,      // repair: live processes have the queue open
};

constexpr size_t kPeekCopyBytes = 1 << 20;
constexpr int kMaxPeekItems = 10000;

const char kMainHelp[] = R"(usage: channelctl [--dir=DIR] VERB [ARGS]   (VERB --help for details)

Looks into the named queues of typed_channel in the queue directory: DIR, else
$TYPED_CHANNEL_DIR, else /dev/shm/typed_channel-<uid>.

verbs:
  list                      every queue: name, kind, type, maxsize, qsize, unfinished,
                            attached processes, lost items, state
  stat NAME | --all         every statistic of a queue (--json, --watch SECONDS,
                            --format=text|json|prometheus)
  peek NAME [-n N]          the next items, without consuming them
  unlink NAME               removes a queue (open handles keep working)
  repair NAME               after a crash left a queue with no live process: accounts
                            what was lost and releases what the dead held

exit codes:
  0 OK   1 the operation failed   2 usage error   3 no such queue
  4 refused: another user's, unsafe (symlink, group/other access) or malformed
    queue file or directory   5 repair: live processes have the queue open
)";

const char kListHelp[] = R"(usage: channelctl list [--json]

One line per queue in the queue directory, in name order:
  NAME KIND TYPE MAXSIZE QSIZE UNFINISHED ATTACHED LOST STATE
UNFINISHED is "-" for a plain Queue. STATE is "open" (live processes have it open),
"idle" (none has; all closed it normally: nothing lost) or "cold" (processes died
with it open and none is left: items in its pipe died with them; see repair).
A queue file that cannot be read is listed with the reason ("refused: ...").
--json  an array of objects, the same as `stat --json` gives per queue; a refused
        queue is {"name": ..., "error": ...}.
Exit: 0, or 4 if some queue file was refused (the others are still listed).
)";

const char kStatHelp[] = R"(usage: channelctl stat NAME [--json] [--watch SECONDS [--count N]]
       channelctl stat --all [--format=text|json|prometheus]

Every statistic of the queue (field meanings: channel/stats.h, docs/api.md):
  depth peak_depth unfinished items_put items_got bytes_put bytes_got items_lost
  resyncs torn_writes dead_processes blocked_puts blocked_gets attached_processes
  items_dropped_by_shutdown shut_down
plus its kind, message type, maxsize, state, live pids and dead pids not yet reaped.
Reading takes no lock a Put or Get waits for and changes nothing.

--json            one JSON object (with --watch: one object per line, with "rates")
--watch SECONDS   refresh every SECONDS (fractions allowed), showing items/s and
                  bytes/s between samples; in place on a terminal. Ends with Ctrl-C,
                  or after --count N samples.
--all             every queue; --format=prometheus writes the Prometheus text
                  format for node_exporter's textfile collector, e.g. from cron:
                  channelctl stat --all --format=prometheus > DIR/typed_channel.prom.$$ &&
                    mv DIR/typed_channel.prom.$$ DIR/typed_channel.prom
Exit: 0; 3 no such queue; 4 refused (with --all: if any queue was refused).
)";

const char kPeekHelp[] = R"(usage: channelctl peek NAME [-n N] [--schema FILE.capnp]... [--import_path DIR]... [--json]

Shows the next N items (default 10, at most 10000) in the order Gets will take them,
without consuming anything. Like a Get, it takes the queue's reader lock, moves
what the queue's pipe holds into the queue's shared staging area, and lists the
items found there; it holds the lock no longer than a Get would (at most 1 MiB of
messages is copied; items past that are listed by size only).

What it cannot show, and why:
  - items still in a producer's buffer (put, not yet written to the pipe: a
    producer's feeder writes them within microseconds unless the pipe is full);
    they count in qsize but no other process can see them;
  - the contents of a message whose schema it does not have: a Cap'n Proto message
    does not carry its schema, and a queue file records only its type's id and name.
    Decoded: the types compiled into channelctl (schema/demo.capnp), and any type
    in a file given with --schema (parsed at run time; imports are looked up in
    --import_path DIRs, /usr/include and /usr/local/include). Other messages are
    shown by their root struct's size and first bytes in hex.
  - items after bytes a reader will have to skip (a torn frame): listing stops there.
--json  {"items": [{"seq", "bytes", "in_slab", "text"}], "more"}
Exit: 0; 1 the reader lock stayed busy for a second; 2 bad schema; 3; 4.
)";

const char kUnlinkHelp[] = R"(usage: channelctl unlink NAME

Removes the queue's name (its .queue file, then its FIFO), as Queue<T>::Unlink does.
Processes that have it open keep working on it; a later CreateNamed makes a new queue.
Exit: 0; 3 no such queue; 4 refused.
)";

const char kRepairHelp[] = R"(usage: channelctl repair NAME [--json]

For a cold queue (processes died with it open and none is left: a host crash, or
every process on it killed): opens it as a program would and reports what was lost.
  - items reserved by dead producers and never written are counted lost now, and
    their slots released ("dead processes reaped");
  - items written to the queue's pipe died with its last process (a pipe keeps
    nothing without a process): the ones not already in the queue's staging area
    are marked; they count in items_lost when a Get reaches the mark;
  - locks a dead process held are repaired.
Items in staging stay deliverable. Opening the queue from any program does the
same; repair lets an operator do it, and see the account, without one.
A queue with live processes is refused (exit 5): they repair it themselves within
about a second of a death. An idle queue has nothing to repair (all zeros).
Exit: 0; 3; 4; 5 in use.
)";

int Usage(const std::string& message, const char* help) {
  std::cerr << "channelctl: " << message << "\n\n" << help;
  return kUsage;
}

int Fail(const absl::Status& status) {
  std::cerr << "channelctl: " << status.message() << "\n";
  switch (status.code()) {
    case absl::StatusCode::kNotFound:
      return kNotFound;
    case absl::StatusCode::kPermissionDenied:
    case absl::StatusCode::kDataLoss:
    case absl::StatusCode::kFailedPrecondition:
    case absl::StatusCode::kInvalidArgument:  // an invalid queue name
      return kRefused;
    default:
      return kFailed;
  }
}

// A verb's arguments: positional ones and --name[=value] / -n value options.
struct Args {
  std::vector<std::string> positional;
  std::vector<std::pair<std::string, std::string>> options;
  bool help = false;

  std::optional<std::string> Get(absl::string_view name) const {
    std::optional<std::string> v;
    for (const auto& [k, value] : options) {
      if (k == name) v = value;
    }
    return v;
  }
  std::vector<std::string> All(absl::string_view name) const {
    std::vector<std::string> v;
    for (const auto& [k, value] : options) {
      if (k == name) v.push_back(value);
    }
    return v;
  }
  bool Has(absl::string_view name) const { return Get(name).has_value(); }
};

// `with_value`: the options that take a value (given as --opt=V or --opt V); others are flags.
// Returns an error message for an unknown option or a missing value.
std::optional<std::string> Parse(const std::vector<std::string>& argv,
                                 const std::vector<std::string>& flags,
                                 const std::vector<std::string>& with_value, Args* out) {
  auto known = [](const std::vector<std::string>& list, const std::string& name) {
    for (const std::string& n : list) {
      if (n == name) return true;
    }
    return false;
  };
  for (size_t i = 0; i < argv.size(); ++i) {
    const std::string& a = argv[i];
    if (a == "--help" || a == "-h") {
      out->help = true;
      continue;
    }
    if (a.size() < 2 || a[0] != '-') {
      out->positional.push_back(a);
      continue;
    }
    std::string name = a.substr(a[1] == '-' ? 2 : 1);
    std::optional<std::string> value;
    if (const size_t eq = name.find('='); eq != std::string::npos) {
      value = name.substr(eq + 1);
      name = name.substr(0, eq);
    }
    if (known(flags, name) && !value.has_value()) {
      out->options.emplace_back(name, "");
    } else if (known(with_value, name)) {
      if (!value.has_value()) {
        if (i + 1 >= argv.size()) return absl::StrCat("option ", a, " needs a value");
        value = argv[++i];
      }
      out->options.emplace_back(name, *value);
    } else {
      return absl::StrCat("unknown option ", a);
    }
  }
  return std::nullopt;
}

std::vector<Entry> AllEntries(absl::Status* list_status, bool* refused) {
  std::vector<Entry> entries;
  absl::StatusOr<std::vector<std::string>> names = ci::ListNamedQueues();
  if (!names.ok()) {
    *list_status = names.status();
    return entries;
  }
  for (const std::string& name : *names) {
    Entry e{name, ci::InspectNamedQueue(name)};
    if (!e.info.ok()) {
      *refused = true;
      std::cerr << "channelctl: " << e.info.status().message() << "\n";
    }
    entries.push_back(std::move(e));
  }
  return entries;
}

int List(const Args& args) {
  if (args.help) return (std::cout << kListHelp, kOk);
  if (!args.positional.empty()) return Usage("list takes no queue name", kListHelp);
  absl::Status status;
  bool refused = false;
  std::vector<Entry> entries = AllEntries(&status, &refused);
  if (!status.ok()) return Fail(status);
  std::cout << (args.Has("json") ? ListJson(entries) : ListText(entries));
  return refused ? kRefused : kOk;
}

int StatAll(const Args& args) {
  const std::string format = args.Get("format").value_or(args.Has("json") ? "json" : "text");
  if (format != "text" && format != "json" && format != "prometheus") {
    return Usage(absl::StrCat("unknown --format=", format), kStatHelp);
  }
  absl::Status status;
  bool refused = false;
  std::vector<Entry> entries = AllEntries(&status, &refused);
  if (!status.ok()) return Fail(status);
  if (format == "prometheus") {
    std::cout << Prometheus(entries);
  } else if (format == "json") {
    std::cout << ListJson(entries);
  } else {
    for (const Entry& e : entries) {
      if (e.info.ok()) std::cout << StatText(*e.info, std::nullopt) << "\n";
    }
  }
  return refused ? kRefused : kOk;
}

int Stat(const Args& args) {
  if (args.help) return (std::cout << kStatHelp, kOk);
  if (args.Has("all")) {
    if (!args.positional.empty()) return Usage("stat --all takes no queue name", kStatHelp);
    return StatAll(args);
  }
  if (args.positional.size() != 1) return Usage("stat needs one queue name (or --all)", kStatHelp);
  if (args.Has("format") && args.Get("format") != "text" && args.Get("format") != "json") {
    return Usage("--format=prometheus goes with --all", kStatHelp);
  }
  const std::string& name = args.positional[0];
  const bool json = args.Has("json") || args.Get("format") == "json";
  double seconds = 0;
  int64_t count = 0;
  if (args.Has("watch") && (!absl::SimpleAtod(*args.Get("watch"), &seconds) || seconds <= 0)) {
    return Usage("--watch needs a number of seconds > 0", kStatHelp);
  }
  if (args.Has("count") && (!absl::SimpleAtoi(*args.Get("count"), &count) || count <= 0)) {
    return Usage("--count needs a number > 0", kStatHelp);
  }
  if (!args.Has("watch")) count = 1;
  const bool in_place = !json && isatty(STDOUT_FILENO);
  std::optional<ci::NamedQueueInfo> previous;
  absl::Time previous_at;
  for (int64_t n = 0; count == 0 || n < count; ++n) {
    if (n > 0) absl::SleepFor(absl::Seconds(seconds));
    absl::StatusOr<ci::NamedQueueInfo> info = ci::InspectNamedQueue(name);
    const absl::Time now = absl::Now();
    if (!info.ok()) return Fail(info.status());
    std::optional<Rates> rates;
    if (previous.has_value()) rates = RatesBetween(previous->stats, info->stats, now - previous_at);
    if (json) {
      std::cout << StatJson(*info, rates);
    } else {
      if (in_place) std::cout << "\033[H\033[2J";  // home, clear: refresh in place
      if (n > 0 && !in_place) std::cout << "\n";
      std::cout << StatText(*info, rates);
    }
    std::cout.flush();
    previous = *std::move(info);
    previous_at = now;
  }
  return kOk;
}

int Unlink(const Args& args) {
  if (args.help) return (std::cout << kUnlinkHelp, kOk);
  if (args.positional.size() != 1) return Usage("unlink needs one queue name", kUnlinkHelp);
  const std::string& name = args.positional[0];
  absl::Status s = ci::UnlinkInspectedQueue(name);
  if (!s.ok()) return Fail(s);
  std::cout << "unlinked " << name << "\n";
  return kOk;
}

int Peek(const Args& args) {
  if (args.help) return (std::cout << kPeekHelp, kOk);
  if (args.positional.size() != 1) return Usage("peek needs one queue name", kPeekHelp);
  int n = 10;
  if (args.Has("n") && (!absl::SimpleAtoi(*args.Get("n"), &n) || n <= 0 || n > kMaxPeekItems)) {
    return Usage(absl::StrCat("-n needs a number from 1 to ", kMaxPeekItems), kPeekHelp);
  }
  MessageDecoder decoder;
  for (const std::string& file : args.All("schema")) {
    absl::Status s = decoder.AddSchemaFile(file, args.All("import_path"));
    if (!s.ok()) return Usage(std::string(s.message()), kPeekHelp);
  }
  const std::string& name = args.positional[0];
  absl::StatusOr<ci::NamedQueueInfo> info = ci::InspectNamedQueue(name);
  if (!info.ok()) return Fail(info.status());
  absl::StatusOr<ci::PeekResult> peek =
      ci::PeekNamedQueue(name, static_cast<size_t>(n), kPeekCopyBytes, absl::Seconds(1));
  if (!peek.ok()) return Fail(peek.status());
  std::vector<std::string> decoded;
  for (const auto& item : peek->items) {
    decoded.push_back(item.copied ? decoder.Decode(info->identity.type_id, item.message) : "");
  }
  if (!args.Has("json") && !peek->items.empty() && !decoder.Knows(info->identity.type_id)) {
    std::cout << absl::StrFormat(
        "(no schema for %s, type id 0x%016x: pass --schema FILE.capnp to decode)\n",
        info->identity.type_name, info->identity.type_id);
  }
  std::cout << (args.Has("json") ? PeekJson(*peek, decoded) : PeekText(*peek, decoded));
  return kOk;
}

int Repair(const Args& args) {
  if (args.help) return (std::cout << kRepairHelp, kOk);
  if (args.positional.size() != 1) return Usage("repair needs one queue name", kRepairHelp);
  const std::string& name = args.positional[0];
  absl::StatusOr<ci::NamedQueueInfo> info = ci::InspectNamedQueue(name);
  if (!info.ok()) return Fail(info.status());
  if (info->open) {
    std::cerr << absl::StrFormat(
        "channelctl: queue \"%s\" is open in live process(es) %s; they repair it themselves "
        "within about a second of a death. repair is for a queue no live process has open\n",
        name, absl::StrJoin(info->pids, ", "));
    return kInUse;
  }
  absl::StatusOr<ci::RepairReport> report = ci::RepairNamedQueue(name);
  if (!report.ok()) {
    if (absl::IsFailedPrecondition(report.status()) && !report.status().message().empty() &&
        absl::StrContains(report.status().message(), "live process")) {
      std::cerr << "channelctl: " << report.status().message() << "\n";
      return kInUse;  // a process opened it in between
    }
    return Fail(report.status());
  }
  std::cout << (args.Has("json") ? RepairJson(*report) : RepairText(*report));
  return kOk;
}

int Main(int argc, char** argv) {
  std::vector<std::string> rest(argv + 1, argv + argc);
  // Global options come before the verb.
  while (!rest.empty() && absl::StartsWith(rest.front(), "--dir")) {
    std::string dir;
    if (rest.front() == "--dir" && rest.size() >= 2) {
      dir = rest[1];
      rest.erase(rest.begin(), rest.begin() + 2);
    } else if (absl::StartsWith(rest.front(), "--dir=")) {
      dir = rest.front().substr(6);
      rest.erase(rest.begin());
    } else {
      return Usage("--dir needs a directory", kMainHelp);
    }
    setenv("TYPED_CHANNEL_DIR", dir.c_str(), 1);  // read by the library's QueueDirectory()
  }
  if (rest.empty()) return Usage("no verb given", kMainHelp);
  std::string verb = rest.front();
  rest.erase(rest.begin());
  if (verb == "help" && !rest.empty()) {  // `help VERB` is `VERB --help`
    verb = rest.front();
    rest = {"--help"};
  } else if (verb == "--help" || verb == "-h" || verb == "help") {
    std::cout << kMainHelp;
    return kOk;
  }
  struct Verb {
    const char* name;
    std::vector<std::string> flags, with_value;
    int (*run)(const Args&);
    const char* help;
  };
  const Verb verbs[] = {
      {"list", {"json"}, {}, List, kListHelp},
      {"stat", {"json", "all"}, {"watch", "count", "format"}, Stat, kStatHelp},
      {"peek", {"json"}, {"n", "schema", "import_path"}, Peek, kPeekHelp},
      {"unlink", {}, {}, Unlink, kUnlinkHelp},
      {"repair", {"json"}, {}, Repair, kRepairHelp},
  };
  for (const Verb& v : verbs) {
    if (verb != v.name) continue;
    Args args;
    if (std::optional<std::string> error = Parse(rest, v.flags, v.with_value, &args)) {
      return Usage(*error, v.help);
    }
    return v.run(args);
  }
  return Usage(absl::StrCat("unknown verb \"", verb, "\""), kMainHelp);
}

}  // namespace
}  // namespace channelctl

int main(int argc, char** argv) { return channelctl::Main(argc, argv); }
