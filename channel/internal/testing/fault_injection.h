// Fault points: named places where a test build of the library can kill its own process.
//
// The crash-safety promise ("a process may be SIGKILLed at any instruction") is tested by
// killing processes at random moments and, because random moments rarely land inside a
// short critical section, also at these named points. They compile to nothing unless the
// library is built with TYPED_CHANNEL_FAULT_INJECTION (the //channel:channel_fault_injection
// target, test-only). Then the environment variable TYPED_CHANNEL_FAULTS arms them:
//
//   TYPED_CHANNEL_FAULTS=reader.after_commit:50,writer.after_write:20   (per-mille chances)
//   TYPED_CHANNEL_FAULTS=*:5                                            (every point)
//
// An armed point that fires raises SIGKILL in the calling process. The variable is read at
// every point, so a test can arm only the processes it forks.
#ifndef CHANNEL_INTERNAL_TESTING_FAULT_INJECTION_H_
#define CHANNEL_INTERNAL_TESTING_FAULT_INJECTION_H_

#if defined(TYPED_CHANNEL_FAULT_INJECTION)
namespace channel {
namespace internal {
void FaultPoint(const char* name);
}  // namespace internal
}  // namespace channel
#define CHANNEL_FAULT_POINT(name) ::channel::internal::FaultPoint(name)
#else
#define CHANNEL_FAULT_POINT(name) \
  do {                            \
  } while (0)
#endif

#endif  // CHANNEL_INTERNAL_TESTING_FAULT_INJECTION_H_
