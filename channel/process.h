// Process: run a function in a forked child, so programs read like their multiprocessing
// originals.
//
//   channel::Process p([&queue] { return Produce(queue); });   // target's result: exit code
//   channel::Process q([&queue] { Consume(queue); });           // returns void: exit code 0
//   p.set_daemon(true);                                          // optional, before Start()
//   if (absl::Status s = p.Start(); !s.ok()) ...
//   absl::StatusOr<int> code = p.Join(absl::Seconds(10));
//
// The target is any copyable callable taking no arguments and returning int (the exit code) or
// void (exit code 0); anything else is a compile error that says so. The child runs the target,
// flushes every queue handle it has (see queue.h), and _exit()s with the target's return value;
// a target that throws prints the exception to stderr and exits 1.
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
#include <type_traits>
#include <utility>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"

namespace channel {

class Process {
 public:
  // `target`: a callable with no arguments returning int (the exit code) or void (exit code 0).
  template <typename F, typename = std::enable_if_t<!std::is_same<std::decay_t<F>, Process>::value>>
  explicit Process(F&& target) : Process(MakeTarget(std::forward<F>(target)), PrivateTag{}) {}
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
  // Sends SIGTERM (the child may handle it). kFailedPrecondition before Start(); OK (nothing
  // sent) once it has exited.
  absl::Status Terminate();
  // Sends SIGKILL: the child dies at once, without flushing its queues (what it had not yet
  // written is lost and counted, as for any killed process). Join() then returns -SIGKILL.
  // kFailedPrecondition before Start(); OK (nothing sent) once it has exited.
  absl::Status Kill();

 private:
  struct PrivateTag {};
  Process(std::function<int()> target, PrivateTag);

  // Each wrong shape of target stops at its own static_assert, so the error says what to fix.
  template <typename F>
  static std::function<int()> MakeTarget(F&& target) {
    using Fn = std::decay_t<F>;
    if constexpr (!std::is_invocable<Fn&>::value) {
      static_assert(std::is_invocable<Fn&>::value,
                    "channel::Process: the target must be callable with no arguments, "
                    "e.g. [&queue] { return Work(queue); }");
      return nullptr;
    } else if constexpr (!std::is_void<std::invoke_result_t<Fn&>>::value &&
                         !std::is_convertible<std::invoke_result_t<Fn&>, int>::value) {
      static_assert(std::is_convertible<std::invoke_result_t<Fn&>, int>::value,
                    "channel::Process: the target must return int (the child's exit code) or "
                    "void (exit code 0)");
      return nullptr;
    } else if constexpr (!std::is_copy_constructible<Fn>::value) {
      static_assert(std::is_copy_constructible<Fn>::value,
                    "channel::Process: the target must be copyable (capture by reference or "
                    "by shared_ptr, not a move-only object)");
      return nullptr;
    } else if constexpr (std::is_void<std::invoke_result_t<Fn&>>::value) {
      return [fn = Fn(std::forward<F>(target))]() mutable {
        fn();
        return 0;
      };
    } else {
      return std::function<int()>(std::forward<F>(target));
    }
  }

  absl::Status Signal(int signo, const char* method);
  struct State;
  void Finish();  // what destruction does: stop a daemon, wait for any child
  std::unique_ptr<State> state_;
};

}  // namespace channel

#endif  // CHANNEL_PROCESS_H_
