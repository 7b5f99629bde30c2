// ExitHooks: process-wide bookkeeping of live queue handles, for exit() and fork().
//
// - exit: "a process that put items and then exits normally first flushes them". An atexit
//   handler (registered with the first handle, so it runs before the destructors of statics
//   constructed earlier) flushes every live handle that was not CancelJoinThread()-ed.
//   channel::Process children call FlushAllHandles() before _exit().
// - fork: pthread_atfork handlers hold every feeder's mutex across fork(), so the child never
//   inherits one mid-update, and then make each child copy forget its parent's feeder thread and
//   buffered frames.
#ifndef CHANNEL_INTERNAL_CORE_EXIT_HOOKS_H_
#define CHANNEL_INTERNAL_CORE_EXIT_HOOKS_H_

namespace channel {
namespace internal {

class ExitParticipant {
 public:
  virtual ~ExitParticipant() = default;
  virtual void FlushAtExit() = 0;
  // LockForFork runs before fork() in the forking thread; then, in the parent UnlockForFork, in
  // the child ForgetAfterFork, which must also release what LockForFork took.
  virtual void LockForFork() = 0;
  virtual void UnlockForFork() = 0;
  virtual void ForgetAfterFork() = 0;
};

void RegisterForExit(ExitParticipant* participant);
void UnregisterForExit(ExitParticipant* participant);
void FlushAllHandles();

}  // namespace internal
}  // namespace channel

#endif  // CHANNEL_INTERNAL_CORE_EXIT_HOOKS_H_
