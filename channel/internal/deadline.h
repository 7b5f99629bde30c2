// Deadline: a point on CLOCK_MONOTONIC, or "never".
//
// Public calls take an absl::Duration timeout; internally everything waits against one Deadline
// computed at entry, so a call made of several waits (lock, futex, read) is bounded as a whole.
// Abseil's rule applies: a negative timeout is a zero timeout, absl::InfiniteDuration() never
// expires.
#ifndef CHANNEL_INTERNAL_DEADLINE_H_
#define CHANNEL_INTERNAL_DEADLINE_H_

#include <time.h>

#include <algorithm>
#include <cstdint>

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
  static Deadline Never() { return Deadline(INT64_MAX); }
  static Deadline After(absl::Duration timeout) {
    if (timeout == absl::InfiniteDuration()) return Never();
    const int64_t ns = std::max<int64_t>(0, absl::ToInt64Nanoseconds(timeout));
    const int64_t now = MonotonicNanos();
    return Deadline(ns >= INT64_MAX - now ? INT64_MAX : now + ns);
  }

  // The earlier of the two.
  Deadline Earliest(const Deadline& other) const {
    return Deadline(std::min(at_ns_, other.at_ns_));
  }

  bool never() const { return at_ns_ == INT64_MAX; }
  bool expired() const { return !never() && MonotonicNanos() >= at_ns_; }
  // Nanoseconds left, clamped to [0, cap_ns]; cap_ns when the deadline is Never.
  int64_t RemainingNanos(int64_t cap_ns = INT64_MAX) const {
    if (never()) return cap_ns;
    return std::clamp<int64_t>(at_ns_ - MonotonicNanos(), 0, cap_ns);
  }

 private:
  explicit Deadline(int64_t at_ns) : at_ns_(at_ns) {}
  int64_t at_ns_;
};

}  // namespace internal
}  // namespace channel

#endif  // CHANNEL_INTERNAL_DEADLINE_H_
