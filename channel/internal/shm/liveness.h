// Process liveness: whether the process that was `pid` when it started at `start_time` still
// runs. A leaf: robust locks (robust_mutex.h) and the registries of queue processes
// (process_registry.h, named_store.h) use it, and it knows nothing of a queue's layout.
//
// Liveness is judged by pid plus the kernel's start time for it, so a recycled pid is not mistaken
// for the original process, and a zombie counts as dead. All processes must share a pid namespace
// and /proc.
#ifndef CHANNEL_INTERNAL_SHM_LIVENESS_H_
#define CHANNEL_INTERNAL_SHM_LIVENESS_H_

#include <sys/types.h>

#include <cstdint>

namespace channel {
namespace internal {

// Start time of `pid` in clock ticks since boot (field 22 of /proc/<pid>/stat); 0 if it cannot
// be read.
uint64_t ProcessStartTime(pid_t pid);

// False once `pid` has exited, is a zombie, or now names a different process than the one that
// started at `start_time`. Only the bits of `start_mask` are compared (RobustMutex keeps the low
// 32); a start time of 0 means unknown, and the pid alone decides.
bool ProcessAlive(pid_t pid, uint64_t start_time, uint64_t start_mask = ~uint64_t{0});

}  // namespace internal
}  // namespace channel

#endif  // CHANNEL_INTERNAL_SHM_LIVENESS_H_
