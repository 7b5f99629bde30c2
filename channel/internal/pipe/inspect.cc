#include "channel/internal/pipe/inspect.h"

#include <dirent.h>
#include <errno.h>
#include <string.h>
#include <unistd.h>

#include <algorithm>
#include <limits>
#include <memory>
#include <utility>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "channel/internal/pipe/named_store.h"
#include "channel/internal/pipe/pipe_queue.h"
#include "channel/internal/shm/liveness.h"
#include "channel/internal/shm/queue_stats.h"

namespace channel {
namespace internal {
namespace {

constexpr absl::string_view kQueueSuffix = ".queue";

NamedQueueInfo Describe(absl::string_view name, SharedQueue* q) {
  NamedQueueInfo info;
  info.name = std::string(name);
  info.identity.kind = static_cast<QueueKind>(q->header.kind);
  info.identity.type_id = q->header.type_id;
  info.identity.type_name = q->header.type_name;  // NUL-terminated: checked by Attach
  info.maxsize = q->header.maxsize;
  info.max_message_bytes = q->header.max_message_bytes;
  info.stats = ReadQueueStats(q);
  info.pids = AttachedPids(q);
  bool died_open = false;
  for (int i = 0; i < kMaxSlots; ++i) {
    const AttachedProcess& a = q->attached[i];
    const int32_t attached = LoadRelaxed(a.pid);
    const int32_t putting = q->slots[i].pid.load();
    if (attached != 0) {
      (ProcessAlive(attached, LoadRelaxed(a.start_time)) ? info.open : died_open) = true;
    }
    for (pid_t pid : {attached, putting}) {
      if (pid != 0 && std::find(info.pids.begin(), info.pids.end(), pid) == info.pids.end() &&
          std::find(info.dead_pids.begin(), info.dead_pids.end(), pid) == info.dead_pids.end()) {
        info.dead_pids.push_back(pid);  // not live, or AttachedPids would have listed it
      }
    }
  }
  std::sort(info.dead_pids.begin(), info.dead_pids.end());
  info.cold = !info.open && (died_open || !info.dead_pids.empty());
  return info;
}

}  // namespace

absl::StatusOr<std::vector<std::string>> ListNamedQueues() {
  absl::StatusOr<std::string> dir = QueueDirectory();
  if (!dir.ok()) return dir.status();
  DIR* d = opendir(dir->c_str());
  if (d == nullptr) {
    return absl::InternalError(absl::StrCat("listing ", *dir, ": ", strerror(errno)));
  }
  std::vector<std::string> names;
  while (const dirent* e = readdir(d)) {
    absl::string_view file(e->d_name);
    if (!absl::EndsWith(file, kQueueSuffix)) continue;
    file.remove_suffix(kQueueSuffix.size());
    if (ValidateQueueName(file).ok()) names.emplace_back(file);  // temporaries start with '.'
  }
  closedir(d);
  std::sort(names.begin(), names.end());
  return names;
}

absl::StatusOr<NamedQueueInfo> InspectNamedQueue(absl::string_view name) {
  absl::StatusOr<MappedNamedQueue> mapped = MapNamedQueue(name);
  if (!mapped.ok()) return mapped.status();
  return Describe(name, mapped->mapping.get());
}

absl::Status UnlinkInspectedQueue(absl::string_view name) {
  absl::StatusOr<MappedNamedQueue> mapped = MapNamedQueue(name);
  if (!mapped.ok()) return mapped.status();
  return UnlinkNamedQueue(name);
}

absl::StatusOr<PeekResult> PeekNamedQueue(absl::string_view name, size_t max_items,
                                          size_t max_copy_bytes, absl::Duration lock_timeout) {
  absl::StatusOr<MappedNamedQueue> mapped = MapNamedQueue(name);
  if (!mapped.ok()) return mapped.status();
  absl::StatusOr<PipeEnds> fifo = OpenNamedQueueFifo(*mapped, name);
  if (!fifo.ok()) return fifo.status();
  PeekResult result;
  PipeReader reader(mapped->mapping.get(), fifo->read_fd);
  absl::Status locked = reader.WithLock(Deadline::After(lock_timeout), [&] {
    reader.DrainPipeLocked();
    result.items = reader.PeekLocked(max_items, max_copy_bytes, &result.more);
  });
  close(fifo->read_fd);
  close(fifo->write_fd);
  if (!locked.ok()) {
    return absl::DeadlineExceededError(absl::StrCat(
        "queue \"", name, "\": its reader lock stayed busy for ",
        absl::FormatDuration(lock_timeout), "; try again"));
  }
  return result;
}

absl::StatusOr<RepairReport> RepairNamedQueue(absl::string_view name) {
  absl::StatusOr<MappedNamedQueue> mapped = MapNamedQueue(name);
  if (!mapped.ok()) return mapped.status();
  RepairReport report;
  report.before = Describe(name, mapped->mapping.get());
  if (report.before.open) {
    return absl::FailedPreconditionError(absl::StrCat(
        "queue \"", name, "\" is open in live process(es) ",
        absl::StrJoin(report.before.pids, ", "),
        "; they repair it themselves within about a second of a death. repair is for a queue "
        "that no live process has open"));
  }
  {
    // Opening a cold queue marks what its FIFO lost (named_store.h); the explicit Reap does not
    // wait for the reaper's 250 ms spacing.
    absl::StatusOr<std::shared_ptr<QueueBackend>> opened =
        OpenNamedQueue(name, mapped->mapping.identity());
    if (!opened.ok()) return opened.status();
    std::shared_ptr<QueueBackend> backend = *std::move(opened);
    auto* queue = static_cast<PipeQueue*>(backend.get());  // named queues are PipeQueues
    queue->Reap();
    absl::Status locked = queue->reader().WithLock(Deadline::After(absl::Seconds(10)), [&] {
      queue->reader().DrainPipeLocked();
      bool more = false;
      report.deliverable = static_cast<int64_t>(
          queue->reader().PeekLocked(std::numeric_limits<size_t>::max(), 0, &more).size());
    });
    backend->Release();  // detaches: the last process out keeps the FIFO's bytes in staging
    if (!locked.ok()) return locked;
  }
  report.after = Describe(name, mapped->mapping.get());
  return report;
}

}  // namespace internal
}  // namespace channel
