// Status helpers for the results of Put and Get.
//
// typed_channel reports every failure as an absl::Status, using the canonical codes:
//   kResourceExhausted  Put: the queue stayed full until the timeout        -> IsFull()
//   kUnavailable        Get: the queue stayed empty until the timeout       -> IsEmpty()
//   kFailedPrecondition Put/Get: the handle was closed                      -> IsClosed()
//   kCancelled          Put: the queue was shut down; Get: shut down and    -> IsShutDown()
//                       nothing left (Shutdown, in any process)
//   kInvalidArgument    Put: message too large, or without a struct root; bad options or name
//   kDataLoss           a corrupt queue file or message was received
// Other calls use kFailedPrecondition for their own preconditions (Open of a different type or
// kind, JoinThread before Close, Process::Join before Start), so IsClosed() is only meaningful on
// what Put and Get return.
//
//   absl::Status s = queue.PutNowait(job);
//   if (channel::IsFull(s)) { /* drop or retry later */ }
#ifndef CHANNEL_STATUS_H_
#define CHANNEL_STATUS_H_

#include "absl/status/status.h"

namespace channel {

inline bool IsFull(const absl::Status& s) { return absl::IsResourceExhausted(s); }
inline bool IsEmpty(const absl::Status& s) { return absl::IsUnavailable(s); }
inline bool IsClosed(const absl::Status& s) { return absl::IsFailedPrecondition(s); }
inline bool IsShutDown(const absl::Status& s) { return absl::IsCancelled(s); }

}  // namespace channel

#endif  // CHANNEL_STATUS_H_
