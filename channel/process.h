// Process: run a function in a forked child, so programs read like their multiprocessing
// originals.
//
//   channel::Process p([&queue] { return Produce(queue); });   // target's result: exit code
//   p.set_daemon(true);                                          // optional, before Start()
//   if (absl::Status s = p.Start(); !s.ok()) ...
//   absl::StatusOr<int> code = p.Join(absl::Seconds(10));
//
// The child runs the target, flushes every queue handle it has (see queue.h), and _exit()s with
// the target's return value; a target that throws prints the exception to stderr and exits 1.
// Queues created before Start() are shared with the child.
//
// Daemon children get SIGTERM when their Process handle is destroyed or the parent exits
// normally, and are killed when the parent dies abnormally — whichever thread started them (they
// are forked from a dedicated long-lived thread, because PR_SET_PDEATHSIG fires when the forking
// *thread* ends). Destroying (or move-assigning over) the handle of a running non-daemon child
// waits for it without a bound, as CPython joins non-daemonic children at exit.
//
// Movable, not copyable; all methods are thread-safe.
#ifndef CHANNEL_PROCESS_H_
#define CHANNEL_PROCESS_H_

#include <sys/types.h>

#include <functional>
#include <memory>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"

namespace channel {

class Process {
 public:
  explicit Process(std::function<int()> target);
  Process(Process&& other) noexcept;
  Process& operator=(Process&& other) noexcept;
  Process(const Process&) = delete;
  Process& operator=(const Process&) = delete;
  ~Process();

  // Only before Start(); afterwards it has no effect.
  Process& set_daemon(bool daemon);
  // Forks the child. kFailedPrecondition if already started; kResourceExhausted if fork fails.
  absl::Status Start();
  // The child's exit code, or -N if it was killed by signal N. Still running at the timeout:
  // kDeadlineExceeded. Not started: kFailedPrecondition. Returns the same code on later calls.
  absl::StatusOr<int> Join(absl::Duration timeout = absl::InfiniteDuration());
  pid_t pid() const;       // 0 before Start()
  bool is_alive() const;   // false before Start() and after the child exited
  // Sends SIGTERM. kFailedPrecondition before Start(); OK (nothing sent) once it has exited.
  absl::Status Terminate();

 private:
  struct State;
  void Finish();  // what destruction does: stop a daemon, wait for any child
  std::unique_ptr<State> state_;
};

}  // namespace channel

#endif  // CHANNEL_PROCESS_H_
