#include "channel/internal/core/exit_hooks.h"

#include <pthread.h>
#include <stdlib.h>

#include <mutex>
#include <new>
#include <set>

namespace channel {
namespace internal {
namespace {

struct Registry {
  std::mutex mu;
  std::set<ExitParticipant*> live;
};

// Leaked on purpose: it must outlive every static destructor and atexit handler.
Registry& GetRegistry() {
  static Registry* registry = new Registry;
  return *registry;
}

void AtExit() { FlushAllHandles(); }

void PrepareFork() {
  Registry& r = GetRegistry();
  r.mu.lock();
  for (ExitParticipant* p : r.live) p->LockForFork();
}

void ParentAfterFork() {
  Registry& r = GetRegistry();
  for (ExitParticipant* p : r.live) p->UnlockForFork();
  r.mu.unlock();
}

void ChildAfterFork() {
  Registry& r = GetRegistry();
  for (ExitParticipant* p : r.live) p->ForgetAfterFork();
  r.mu.unlock();  // held by this thread since PrepareFork
}

void InstallOnce() {
  static std::once_flag once;
  std::call_once(once, [] {
    atexit(AtExit);
    pthread_atfork(PrepareFork, ParentAfterFork, ChildAfterFork);
  });
}

}  // namespace

void RegisterForExit(ExitParticipant* participant) {
  InstallOnce();
  Registry& r = GetRegistry();
  std::lock_guard<std::mutex> lock(r.mu);
  r.live.insert(participant);
}

void UnregisterForExit(ExitParticipant* participant) {
  Registry& r = GetRegistry();
  std::lock_guard<std::mutex> lock(r.mu);
  r.live.erase(participant);
}

void FlushAllHandles() {
  // Held throughout, so no other thread can destroy a handle being flushed.
  Registry& r = GetRegistry();
  std::lock_guard<std::mutex> lock(r.mu);
  for (ExitParticipant* p : r.live) p->FlushAtExit();
}

}  // namespace internal
}  // namespace channel
