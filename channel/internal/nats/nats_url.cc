#include "channel/internal/nats/nats_url.h"

#include <cstdlib>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"

namespace channel {
namespace internal {
namespace {

absl::Status Invalid(absl::string_view what) {
  return absl::InvalidArgumentError(
      absl::StrCat("bad NATS queue name: ", what,
                   " (expected nats://[USER[:PASSWORD]@]HOST:PORT[,HOST:PORT...]/NAME)"));
}

int HexValue(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  c = absl::ascii_tolower(c);
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  return -1;
}

absl::StatusOr<std::string> PercentDecode(absl::string_view in) {
  std::string out;
  for (size_t i = 0; i < in.size(); ++i) {
    if (in[i] != '%') {
      out.push_back(in[i]);
      continue;
    }
    if (i + 2 >= in.size()) return Invalid("bad %-escape in user info");
    const int hi = HexValue(in[i + 1]), lo = HexValue(in[i + 2]);
    if (hi < 0 || lo < 0) return Invalid("bad %-escape in user info");
    out.push_back(static_cast<char>(hi * 16 + lo));
    i += 2;
  }
  return out;
}

bool ValidHostPort(absl::string_view hp) {
  const size_t colon = hp.rfind(':');
  if (colon == absl::string_view::npos || colon == 0) return false;
  int port = 0;
  if (!absl::SimpleAtoi(hp.substr(colon + 1), &port) || port <= 0 || port > 65535) return false;
  for (char c : hp.substr(0, colon)) {
    if (!absl::ascii_isalnum(c) && c != '.' && c != '-' && c != '[' && c != ']' && c != ':') {
      return false;
    }
  }
  return true;
}

}  // namespace

bool IsNatsName(absl::string_view name) { return absl::StartsWith(name, kNatsScheme); }

std::string NatsAddress::Redacted() const {
  std::vector<std::string> hosts;
  for (const std::string& s : servers) hosts.push_back(s.substr(kNatsScheme.size()));
  return absl::StrCat(kNatsScheme, absl::StrJoin(hosts, ","), "/", name);
}

absl::StatusOr<NatsAddress> ParseNatsUrl(absl::string_view url) {
  if (!IsNatsName(url)) return Invalid("it does not start with nats://");
  absl::string_view rest = url.substr(kNatsScheme.size());
  NatsAddress a;
  absl::string_view query;
  if (size_t q = rest.find('?'); q != absl::string_view::npos) {
    query = rest.substr(q + 1);
    rest = rest.substr(0, q);
  }
  const size_t slash = rest.find('/');
  if (slash == absl::string_view::npos) return Invalid("no /NAME after the servers");
  absl::string_view authority = rest.substr(0, slash);
  a.name = std::string(rest.substr(slash + 1));
  if (const size_t at = authority.rfind('@'); at != absl::string_view::npos) {
    absl::string_view userinfo = authority.substr(0, at);
    authority = authority.substr(at + 1);
    absl::string_view user = userinfo, password;
    if (const size_t colon = userinfo.find(':'); colon != absl::string_view::npos) {
      user = userinfo.substr(0, colon);
      password = userinfo.substr(colon + 1);
      if (password.empty()) return Invalid("empty password in user info");
    }
    if (user.empty()) return Invalid("empty user in user info");
    absl::StatusOr<std::string> u = PercentDecode(user);
    if (!u.ok()) return u.status();
    absl::StatusOr<std::string> p = PercentDecode(password);
    if (!p.ok()) return p.status();
    a.user = *std::move(u);
    a.password = *std::move(p);
  }
  if (authority.empty()) return Invalid("no server");
  for (absl::string_view hp : absl::StrSplit(authority, ',')) {
    if (!ValidHostPort(hp)) {
      return Invalid(absl::StrCat("server '", hp, "' is not HOST:PORT"));
    }
    a.servers.push_back(absl::StrCat(kNatsScheme, hp));
  }
  if (a.name.empty() || a.name.size() > 200) return Invalid("NAME must be 1..200 characters");
  for (char c : a.name) {
    if (!absl::ascii_isalnum(c) && c != '_' && c != '-') {
      return Invalid("NAME may only hold [A-Za-z0-9_-]");
    }
  }
  if (!query.empty()) {
    for (absl::string_view kv : absl::StrSplit(query, '&')) {
      std::pair<absl::string_view, absl::string_view> o = absl::StrSplit(kv, absl::MaxSplits('=', 1));
      if (o.first == "replicas") {
        if (!absl::SimpleAtoi(o.second, &a.replicas) || a.replicas < 1 || a.replicas > 5) {
          return Invalid("replicas must be 1..5");
        }
      } else if (o.first == "storage") {
        if (o.second != "file" && o.second != "memory") return Invalid("storage must be file or memory");
        a.memory_storage = o.second == "memory";
      } else if (o.first == "ack_wait_ms") {
        if (!absl::SimpleAtoi(o.second, &a.ack_wait_ms) || a.ack_wait_ms < 100 ||
            a.ack_wait_ms > int64_t{24} * 3600 * 1000) {
          return Invalid("ack_wait_ms must be 100..86400000");
        }
      } else {
        return Invalid(absl::StrCat("unknown option '", o.first, "'"));
      }
    }
  }
  return a;
}

}  // namespace internal
}  // namespace channel
