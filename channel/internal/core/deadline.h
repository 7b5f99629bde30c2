// Deadline: a point on CLOCK_MONOTONIC, or "never".
//
// Public calls take an absl::Duration timeout; internally everything waits against one Deadline
// made at entry, so a call made of several waits (lock, futex, read) is bounded as a whole.
// Abseil's rule applies: a negative timeout is a zero timeout, absl::InfiniteDuration() never
// expires.
//
// The clock is read when the deadline is first consulted (expired(), RemainingNanos()), not when
// it is made: a Put or Get that never has to wait then never reads it (a clock read was ~5% of a
// busy consumer's time). Everything a call does before it first consults its deadline is
// non-blocking (a lock's spin, a non-blocking read), so the bound is the timeout plus those few
// microseconds. A Deadline belongs to one call on one thread; copies resolve independently.
#ifndef CHANNEL_INTERNAL_CORE_DEADLINE_H_
#define CHANNEL_INTERNAL_CORE_DEADLINE_H_

#include <time.h>

#include <algorithm>
#include <cstdint>
#include <string>

#include "absl/strings/str_cat.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"

namespace channel {
namespace internal {

inline int64_t MonotonicNanos() {
  timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return int64_t{ts.tv_sec} * 1000000000 + ts.tv_nsec;
}

class Deadline {
 public:
  static Deadline Never() { return Deadline(kNever, 0); }
  static Deadline After(absl::Duration timeout) {
    if (timeout == absl::InfiniteDuration()) return Never();
    return Deadline(kUnresolved, std::max<int64_t>(0, absl::ToInt64Nanoseconds(timeout)));
  }

  bool never() const { return at_ns_ == kNever; }
  // The timeout this deadline was made from (InfiniteDuration for Never).
  absl::Duration timeout() const {
    return never() ? absl::InfiniteDuration() : absl::Nanoseconds(timeout_ns_);
  }
  bool expired() const { return !never() && MonotonicNanos() >= At(); }
  // Nanoseconds left, clamped to [0, cap_ns]; cap_ns when the deadline is Never.
  int64_t RemainingNanos(int64_t cap_ns = INT64_MAX) const {
    if (never()) return cap_ns;
    return std::clamp<int64_t>(At() - MonotonicNanos(), 0, cap_ns);
  }

 private:
  static constexpr int64_t kNever = INT64_MAX;
  static constexpr int64_t kUnresolved = INT64_MIN;

  Deadline(int64_t at_ns, int64_t timeout_ns) : at_ns_(at_ns), timeout_ns_(timeout_ns) {}
  int64_t At() const {
    if (at_ns_ == kUnresolved) {
      const int64_t now = MonotonicNanos();
      at_ns_ = timeout_ns_ >= kNever - now ? kNever - 1 : now + timeout_ns_;
    }
    return at_ns_;
  }

  mutable int64_t at_ns_;  // kUnresolved until first consulted
  int64_t timeout_ns_;
};

// For the status of a call that timed out, so the user sees how long it waited: "Get waited 5s
// (its timeout)", or for a zero timeout "GetNowait (or Get with a zero timeout) does not wait".
// `nowait` is the call's no-wait twin, or empty if it has none.
inline std::string DescribeWait(const Deadline& deadline, absl::string_view call,
                                absl::string_view nowait = {}) {
  const absl::Duration timeout = deadline.timeout();
  if (timeout == absl::InfiniteDuration()) return absl::StrCat(call, " had no timeout");
  if (timeout == absl::ZeroDuration()) {
    return nowait.empty()
               ? absl::StrCat(call, " with a zero timeout does not wait")
               : absl::StrCat(nowait, " (or ", call, " with a zero timeout) does not wait");
  }
  return absl::StrCat(call, " waited ", absl::FormatDuration(timeout), " (its timeout)");
}

}  // namespace internal
}  // namespace channel

#endif  // CHANNEL_INTERNAL_CORE_DEADLINE_H_
