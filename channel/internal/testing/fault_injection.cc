#include "channel/internal/testing/fault_injection.h"

#if defined(TYPED_CHANNEL_FAULT_INJECTION)

#include <signal.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>

#include <map>
#include <mutex>
#include <string>

#include "absl/strings/numbers.h"
#include "absl/strings/str_split.h"

namespace channel {
namespace internal {
namespace {

// Parses "name:per_mille,..." ("*" matches every point).
std::map<std::string, int> Parse(const char* spec) {
  std::map<std::string, int> armed;
  for (absl::string_view entry : absl::StrSplit(spec, ',', absl::SkipEmpty())) {
    std::pair<std::string, std::string> kv = absl::StrSplit(entry, ':');
    int per_mille = 0;
    if (absl::SimpleAtoi(kv.second, &per_mille)) armed[kv.first] = per_mille;
  }
  return armed;
}

uint64_t NextRandom() {
  // Per thread, seeded differently in every process (forked children included).
  thread_local uint64_t state = 0;
  thread_local pid_t owner = 0;
  if (owner != getpid()) {
    owner = getpid();
    timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    state = (static_cast<uint64_t>(owner) << 32) ^ static_cast<uint64_t>(ts.tv_nsec) ^
            0x9E3779B97F4A7C15u;
  }
  state ^= state << 13;
  state ^= state >> 7;
  state ^= state << 17;
  return state;
}

}  // namespace

void FaultPoint(const char* name) {
  // The variable is read at every point, so a test can arm its children (after fork) and not
  // itself. Test builds only: the cost does not matter.
  const char* spec = getenv("TYPED_CHANNEL_FAULTS");
  if (spec == nullptr || spec[0] == '\0') return;
  static std::mutex mu;
  static std::string* cached_spec = new std::string;
  static std::map<std::string, int>* armed = new std::map<std::string, int>;
  int per_mille = 0;
  {
    std::lock_guard<std::mutex> lock(mu);
    if (*cached_spec != spec) {
      *cached_spec = spec;
      *armed = Parse(spec);
    }
    auto it = armed->find(name);
    if (it == armed->end()) it = armed->find("*");
    if (it == armed->end()) return;
    per_mille = it->second;
  }
  if (static_cast<int>(NextRandom() % 1000) < per_mille) raise(SIGKILL);
}

}  // namespace internal
}  // namespace channel

#endif  // TYPED_CHANNEL_FAULT_INJECTION
