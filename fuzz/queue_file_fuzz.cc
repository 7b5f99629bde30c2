// Fuzz target: arbitrary bytes as a named queue's .queue file.
//
// The input is written as <dir>/fz.queue (dir: a private mkdtemp directory, mode 0700, set as
// TYPED_CHANNEL_DIR), the FIFO its header names is created, and Queue<demo::Job>::Open("fz") is
// called. Open must return a status, never crash or hang; a queue that opens is used a little
// (qsize, stats, a few GetNowait, one PutNowait) and closed, which must not crash either.
//
// Each input runs twice: as is, and with the header checksum recomputed so that the header's
// fields themselves get fuzzed past the checksum. A file shorter than the size its header
// claims is extended (sparse) to that size when the claim is at most 16 MiB, so that small
// inputs reach the code behind the size check.
//
// Knobs (environment):
//   QUEUE_FILE_FUZZ_RAW_LOCKS=1  keep the input's bytes in the three lock words. By default
//     they are replaced by those of a fresh queue (unlocked): a word naming a live process is
//     waited for like a real holder (the one known limit left, see "Known limit" in
//     fuzz/README.md), which blocks Open for ever on a cold queue.
//   QUEUE_FILE_FUZZ_VERBOSE=1  print what Open returned and how many items were read.
//   QUEUE_FILE_FUZZ_REQUIRE_OPEN=1  fail at exit unless some input opened and yielded an item
//     (set by the replay test: the seeds are raw layout bytes, and a layout change makes them
//     all fail the version check — regenerate them with make_seeds then).
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <string>

#include <capnp/message.h>

#include "absl/strings/str_format.h"
#include "channel/channel.h"
#include "channel/internal/wire/crc32c.h"
#include "channel/internal/shm/shared_state.h"
#include "schema/demo.capnp.h"

namespace {

using channel::internal::SharedHeader;
using channel::internal::SharedQueue;

constexpr uint64_t kMaxExtendBytes = 16 << 20;

bool EnvIs(const char* name, const char* value) {
  const char* v = getenv(name);
  return v != nullptr && strcmp(v, value) == 0;
}

struct Env;
Env& GetEnv();

struct Env {
  std::string dir;
  // Offsets and initial bytes of the three locks in a SharedQueue.
  size_t lock_offset[3];
  std::string lock_bytes[3];
  bool raw_locks;
  bool verbose;
  int items_read = 0;  // over all inputs, by queues that opened

  Env() {
    const char* tmp = getenv("TMPDIR");
    std::string templ = std::string(tmp != nullptr && tmp[0] != '\0' ? tmp : "/tmp") +
                        "/queue_file_fuzz.XXXXXX";
    if (mkdtemp(&templ[0]) == nullptr) abort();
    chmod(templ.c_str(), 0700);
    dir = templ;
    setenv("TYPED_CHANNEL_DIR", dir.c_str(), 1);
    raw_locks = EnvIs("QUEUE_FILE_FUZZ_RAW_LOCKS", "1");
    verbose = EnvIs("QUEUE_FILE_FUZZ_VERBOSE", "1");
    if (EnvIs("QUEUE_FILE_FUZZ_REQUIRE_OPEN", "1")) {
      atexit([] {
        if (GetEnv().items_read == 0) {
          fprintf(stderr,
                  "queue_file_fuzz: no seed opened and yielded an item: the seeds are stale "
                  "(layout change?); regenerate: ./bazelw run //fuzz:make_seeds -- "
                  "$PWD/fuzz/corpus\n");
          _exit(1);
        }
      });
    }
    // A real, freshly initialised queue supplies the mutex bytes.
    const int fd = memfd_create("queue_file_fuzz", MFD_CLOEXEC);
    channel::internal::QueueIdentity id;
    channel::internal::QueueShape shape;
    shape.max_message_bytes = 4096;
    absl::StatusOr<channel::internal::SharedMapping> m =
        channel::internal::SharedMapping::Create(fd, id, shape);
    close(fd);
    if (!m.ok()) abort();
    SharedQueue* q = m->get();
    const char* base = reinterpret_cast<const char*>(q);
    const void* locks[3] = {&q->writer.mu, &q->reader.mu, &q->accounts.mu};
    for (int i = 0; i < 3; ++i) {
      lock_offset[i] = static_cast<size_t>(static_cast<const char*>(locks[i]) - base);
      lock_bytes[i].assign(static_cast<const char*>(locks[i]),
                           sizeof(channel::internal::RobustMutex));
    }
  }
};

Env& GetEnv() {
  static Env* env = [] {
    Env* e = new Env;
    atexit([] { rmdir(GetEnv().dir.c_str()); });
    return e;
  }();
  return *env;
}

int Exercise(channel::Queue<demo::Job>& q) {
  int got = 0;
  volatile uint64_t n = static_cast<uint64_t>(q.qsize());  // unsigned: the values are untrusted
  n = n + q.empty() + q.full() + static_cast<uint64_t>(q.maxsize());
  const channel::QueueStats stats = q.stats();
  n = n + stats.items_lost + stats.resyncs + stats.torn_writes + stats.dead_processes;
  (void)n;
  for (int i = 0; i < 4; ++i) {
    auto m = q.GetNowait();
    if (!m.ok()) {
      const absl::StatusCode c = m.status().code();
      if (c != absl::StatusCode::kUnavailable && c != absl::StatusCode::kDataLoss) {
        fprintf(stderr, "GetNowait: unexpected %s\n", m.status().ToString().c_str());
        abort();
      }
      continue;
    }
    volatile uint64_t id = (*m)->getId();
    (void)id;
    ++got;
  }
  capnp::MallocMessageBuilder b;
  b.initRoot<demo::Job>().setId(1);
  const absl::Status put = q.PutNowait(b);
  if (!put.ok() && put.code() != absl::StatusCode::kResourceExhausted &&
      put.code() != absl::StatusCode::kInvalidArgument) {
    fprintf(stderr, "PutNowait: unexpected %s\n", put.ToString().c_str());
    abort();
  }
  return got;
}

void RunOnce(std::string file, bool fix_header_crc) {
  Env& env = GetEnv();
  const std::string queue_path = env.dir + "/fz.queue";
  std::string fifo_path;
  SharedHeader header;
  const bool has_header = file.size() >= sizeof header;
  if (has_header) {
    if (fix_header_crc) {
      const uint32_t crc =
          channel::internal::Crc32c(file.data(), offsetof(SharedHeader, header_crc));
      memcpy(&file[offsetof(SharedHeader, header_crc)], &crc, sizeof crc);
    }
    memcpy(&header, file.data(), sizeof header);
  }
  const bool extend = has_header && header.total_bytes > file.size() &&
                      header.total_bytes <= kMaxExtendBytes;
  // The sparse extension is zeros; make the input cover the fixed-size state first, so that the
  // mutexes below are whole (a half-input, half-zero mutex is "raw lock bytes" too).
  if (extend && file.size() < sizeof(SharedQueue)) {
    file.resize(std::min<uint64_t>(sizeof(SharedQueue), header.total_bytes), '\0');
  }
  if (!env.raw_locks) {
    for (int i = 0; i < 3; ++i) {
      if (env.lock_offset[i] + env.lock_bytes[i].size() <= file.size()) {
        memcpy(&file[env.lock_offset[i]], env.lock_bytes[i].data(), env.lock_bytes[i].size());
      }
    }
  }
  const int fd = open(queue_path.c_str(), O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  if (fd < 0) abort();
  if (write(fd, file.data(), file.size()) != static_cast<ssize_t>(file.size())) abort();
  if (extend && header.total_bytes > file.size()) {
    if (ftruncate(fd, static_cast<off_t>(header.total_bytes)) != 0) abort();
  }
  close(fd);
  if (has_header) {
    fifo_path = absl::StrFormat("%s/fz.%016x.fifo", env.dir, header.queue_id);
    mkfifo(fifo_path.c_str(), 0600);
  }
  {
    absl::StatusOr<channel::Queue<demo::Job>> q = channel::Queue<demo::Job>::Open("fz");
    const int got = q.ok() ? Exercise(*q) : 0;
    env.items_read += got;
    if (env.verbose) {
      fprintf(stderr, "queue_file_fuzz: %s header crc: Open: %s; %d item(s) read\n",
              fix_header_crc ? "fixed" : "input's", q.status().ToString().c_str(), got);
    }
  }  // closed here: flush, detach, drain
  unlink(queue_path.c_str());
  if (!fifo_path.empty()) unlink(fifo_path.c_str());
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string file(reinterpret_cast<const char*>(data), size);
  RunOnce(file, /*fix_header_crc=*/false);
  if (size >= sizeof(SharedHeader)) RunOnce(file, /*fix_header_crc=*/true);
  return 0;
}
