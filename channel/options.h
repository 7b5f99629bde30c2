// QueueOptions: how a queue is made. Fixed when a queue is created; a named queue's options
// travel with it (Open takes none, and an opened handle's maxsize() and max_message_bytes()
// report the creator's values).
#ifndef CHANNEL_OPTIONS_H_
#define CHANNEL_OPTIONS_H_

#include <cstddef>
#include <cstdint>

namespace channel {

struct QueueOptions {
  // The most items the queue holds, counted from Put returning to Get taking them. <= 0 means
  // unbounded (maxsize() then reports 0).
  int64_t maxsize = 0;
  // The largest serialized message (Message<T>::size_bytes(): segment table plus segments) that
  // Put accepts; a larger one is kInvalidArgument. Readers accept messages up to this size, past
  // Cap'n Proto's default traversal limit. Must be in [8, 1 GiB], else Create and CreateNamed
  // return kInvalidArgument.
  size_t max_message_bytes = 64 << 20;
};

}  // namespace channel

#endif  // CHANNEL_OPTIONS_H_
