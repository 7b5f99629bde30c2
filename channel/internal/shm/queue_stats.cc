#include "channel/internal/shm/queue_stats.h"

#include <algorithm>

#include "channel/internal/shm/accounts.h"
#include "channel/internal/shm/liveness.h"

namespace channel {
namespace internal {

std::vector<pid_t> AttachedPids(SharedQueue* q) {
  std::vector<pid_t> pids;
  auto add_if_alive = [&pids](int32_t pid, uint64_t start_time) {
    if (pid != 0 && std::find(pids.begin(), pids.end(), pid) == pids.end() &&
        ProcessAlive(pid, start_time)) {
      pids.push_back(pid);
    }
  };
  for (int i = 0; i < kMaxSlots; ++i) {
    // attached[] is guarded by the reader lock: a racing read may miss a process attaching or
    // see one detaching, never invent one (a pid is stored only by its own process).
    const AttachedProcess& a = q->attached[i];
    add_if_alive(LoadRelaxed(a.pid), LoadRelaxed(a.start_time));
    add_if_alive(q->slots[i].pid.load(), LoadRelaxed(q->slots[i].start_time));
    const WaiterSlot& w = q->waiters[i];
    if (w.blocked_puts.load() > 0 || w.blocked_gets.load() > 0) {
      add_if_alive(w.pid.load(), LoadRelaxed(w.start_time));
    }
  }
  std::sort(pids.begin(), pids.end());
  return pids;
}

QueueStats ReadQueueStats(SharedQueue* q) {
  const Ledger l = Accounts(q).Snapshot();
  QueueStats s;
  s.items_lost = l.items_lost;
  s.resyncs = l.resyncs;
  s.torn_writes = l.torn_writes;
  s.dead_processes = l.dead_processes;
  s.items_dropped_by_shutdown = l.items_dropped_by_shutdown;
  s.shut_down = l.shut_down != 0;
  // Unsigned arithmetic: a corrupt file yields nonsense numbers, never undefined behaviour.
  s.items_put = static_cast<uint64_t>(l.unfinished) + l.tasks_folded + l.items_lost +
                l.items_dropped_by_shutdown;
  s.items_got = l.read_seq > l.seqs_lost + 1 ? l.read_seq - 1 - l.seqs_lost : 0;
  for (const ProcessSlot& slot : q->slots) s.bytes_put += LoadRelaxed(slot.bytes_put);
  s.bytes_got = LoadRelaxed(q->reader.bytes_got);
  s.depth = l.items;
  s.peak_depth = std::max(LoadRelaxed(q->accounts.peak_items), l.items);
  const bool joinable = q->header.kind == static_cast<uint32_t>(QueueKind::kJoinableQueue);
  s.unfinished = joinable ? l.unfinished : 0;
  for (const WaiterSlot& w : q->waiters) {
    const int32_t puts = w.blocked_puts.load();
    const int32_t gets = w.blocked_gets.load();
    if ((puts > 0 || gets > 0) && ProcessAlive(w.pid.load(), LoadRelaxed(w.start_time))) {
      s.blocked_puts += puts;
      s.blocked_gets += gets;
    }
  }
  s.attached_processes = static_cast<int64_t>(AttachedPids(q).size());
  return s;
}

}  // namespace internal
}  // namespace channel
