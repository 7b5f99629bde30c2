#include "channel/internal/pipe/named_store.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <unistd.h>

#include <utility>

#include "absl/strings/ascii.h"
#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "channel/internal/pipe/pipe_queue.h"
#include "channel/internal/shm/liveness.h"

namespace channel {
namespace internal {
namespace {

constexpr size_t kMaxNameChars = 200;

absl::Status ErrnoStatus(absl::string_view what, absl::string_view path) {
  const int e = errno;
  const std::string msg = absl::StrCat(what, " ", path, ": ", strerror(e));
  switch (e) {
    case EACCES:
    case EPERM:
      return absl::PermissionDeniedError(msg);
    case ENOSPC:
    case EMFILE:
    case ENFILE:
    case ENOMEM:
      return absl::ResourceExhaustedError(msg);
    default:
      return absl::InternalError(msg);
  }
}

// A queue file must be ours and private: anything else is either another user's queue or an
// attempt to make us follow it.
absl::Status CheckOwned(const struct stat& st, absl::string_view path) {
  if (st.st_uid != geteuid()) {
    return absl::PermissionDeniedError(
        absl::StrCat(path, " is owned by uid ", st.st_uid, ", not by this user (uid ",
                     geteuid(), "); typed_channel only opens its own user's queues"));
  }
  if ((st.st_mode & 077) != 0) {
    return absl::PermissionDeniedError(absl::StrFormat(
        "%s has mode %04o: group/other access is not allowed (chmod go= it)", std::string(path),
        st.st_mode & 07777));
  }
  return absl::OkStatus();
}

std::string QueuePath(const std::string& dir, absl::string_view name) {
  return absl::StrCat(dir, "/", name, ".queue");
}

std::string FifoPath(const std::string& dir, absl::string_view name, uint64_t queue_id) {
  return absl::StrFormat("%s/%s.%016x.fifo", dir, std::string(name), queue_id);
}

// Opens both ends of a queue's FIFO: a non-blocking read end (succeeds with no writer), then the
// write end (which then never blocks in open).
absl::StatusOr<PipeEnds> OpenFifo(const std::string& path) {
  PipeEnds ends;
  ends.read_fd = open(path.c_str(), O_RDONLY | O_NONBLOCK | O_CLOEXEC | O_NOFOLLOW);
  if (ends.read_fd < 0) {
    if (errno == ENOENT) return absl::NotFoundError(absl::StrCat(path, " was unlinked"));
    return ErrnoStatus("opening", path);
  }
  struct stat st;
  if (fstat(ends.read_fd, &st) != 0 || !S_ISFIFO(st.st_mode)) {
    close(ends.read_fd);
    return absl::FailedPreconditionError(absl::StrCat(path, " is not a FIFO"));
  }
  if (absl::Status owned = CheckOwned(st, path); !owned.ok()) {
    close(ends.read_fd);
    return owned;
  }
  ends.write_fd = open(path.c_str(), O_WRONLY | O_CLOEXEC | O_NOFOLLOW);
  if (ends.write_fd < 0) {
    absl::Status s = ErrnoStatus("opening", path);
    close(ends.read_fd);
    return s;
  }
  ends.capacity = EnlargePipe(ends.write_fd);
  return ends;
}

// Registers this process as attached. With the reader lock held. Returns true when no other live
// process was attached: the queue was cold, and whatever its FIFO held died with it.
bool AttachLocked(SharedQueue* q) {
  const pid_t self = getpid();
  bool cold = true;
  int mine = -1;
  int free_slot = -1;
  for (int i = 0; i < kMaxSlots; ++i) {
    AttachedProcess& a = q->attached[i];
    if (a.pid == self && a.start_time == ProcessStartTime(self)) {
      mine = i;
    } else if (a.pid != 0 && ProcessAlive(a.pid, a.start_time)) {
      cold = false;
    } else {
      a.pid = 0;  // dead or free
      if (free_slot < 0) free_slot = i;
    }
  }
  if (mine >= 0) {
    ++q->attached[mine].count;
    return false;
  }
  if (free_slot >= 0) {
    q->attached[free_slot] = AttachedProcess{self, 1, ProcessStartTime(self)};
  }
  // TODO(robustness): with more than kMaxSlots live processes attached, the extra ones are not
  // recorded, so a last close among them may skip the drain.
  return cold;
}

// Unregisters this process's handle. With the reader lock held. True when this was the last
// handle of the last live process: its caller must keep the FIFO's bytes.
bool DetachLocked(SharedQueue* q) {
  const pid_t self = getpid();
  bool others = false;
  for (int i = 0; i < kMaxSlots; ++i) {
    AttachedProcess& a = q->attached[i];
    if (a.pid == self) {
      if (--a.count == 0) a.pid = 0;
      if (a.pid != 0) others = true;
    } else if (a.pid != 0 && ProcessAlive(a.pid, a.start_time)) {
      others = true;
    }
  }
  return !others;
}

// The FIFO of queue `name` whose header says `queue_id`.
absl::StatusOr<PipeEnds> OpenQueueFifo(const std::string& dir, absl::string_view name,
                                       uint64_t queue_id) {
  absl::StatusOr<PipeEnds> fifo = OpenFifo(FifoPath(dir, name, queue_id));
  if (!fifo.ok() && absl::IsNotFound(fifo.status())) {
    return absl::NotFoundError(absl::StrCat("queue \"", name, "\" was unlinked"));
  }
  return fifo;
}

absl::StatusOr<std::shared_ptr<QueueBackend>> Attach(SharedMapping mapping, const std::string& dir,
                                                     absl::string_view name) {
  SharedQueue* q = mapping.get();
  absl::StatusOr<PipeEnds> fifo = OpenQueueFifo(dir, name, q->header.queue_id);
  if (!fifo.ok()) return fifo.status();
  // Attach before the queue handle exists, so that a failure leaves nothing behind.
  bool cold = false;
  absl::Status locked = PipeReader(q, fifo->read_fd)
                            .WithLock(Deadline::After(absl::Seconds(10)),
                                      [&] { cold = AttachLocked(q); });
  if (!locked.ok()) {
    close(fifo->read_fd);
    close(fifo->write_fd);
    return absl::Status(locked.code(), absl::StrCat("queue \"", name, "\": ", locked.message()));
  }
  std::shared_ptr<PipeQueue> queue = PipeQueue::Adopt(
      std::move(mapping), *fifo, [](PipeQueue& self) {
        SharedQueue* shared = self.shared();
        self.reader()
            .WithLock(Deadline::Never(),
                      [&] {
                        if (DetachLocked(shared)) self.reader().DrainPipeLocked();
                      })
            .IgnoreError();
      });
  // Every process that had the queue open died: whatever its FIFO held died with it. Items in
  // staging survive; the reaper releases dead processes' unwritten reservations.
  if (cold) queue->DeclareWrittenItemsLost();
  return std::shared_ptr<QueueBackend>(std::move(queue));
}

}  // namespace

absl::Status ValidateQueueName(absl::string_view name) {
  bool ok = !name.empty() && name.size() <= kMaxNameChars && name[0] != '.';
  for (char c : name) {
    ok = ok && (absl::ascii_isalnum(static_cast<unsigned char>(c)) || c == '.' || c == '_' ||
                c == '-');
  }
  if (!ok) {
    return absl::InvalidArgumentError(absl::StrCat(
        "invalid queue name \"", absl::CHexEscape(name.substr(0, kMaxNameChars)),
        "\": use 1 to 200 characters of [A-Za-z0-9._-], not starting with '.'"));
  }
  return absl::OkStatus();
}

absl::StatusOr<std::string> QueueDirectory() {
  const char* env = getenv("TYPED_CHANNEL_DIR");
  const bool from_env = env != nullptr && env[0] != '\0';
  const std::string dir =
      from_env ? std::string(env) : absl::StrCat("/dev/shm/typed_channel-", geteuid());
  // Every refusal names the directory, where it came from, and a way out. A private
  // subdirectory is the fix suggested for a shared directory: typed_channel creates it 0700.
  const std::string which = from_env ? absl::StrCat("TYPED_CHANNEL_DIR=", dir)
                                     : absl::StrCat("the default queue directory ", dir);
  const std::string trimmed = dir.substr(0, dir.find_last_not_of('/') + 1);  // "" for "/"
  const std::string subdir = absl::StrCat(trimmed, "/typed_channel-", geteuid());
  const std::string use_subdir = absl::StrCat(
      "set TYPED_CHANNEL_DIR to a private subdirectory such as ", subdir,
      " (typed_channel creates the last component, mode 0700)");
  if (mkdir(dir.c_str(), 0700) != 0 && errno != EEXIST) {
    const int e = errno;
    const size_t slash = trimmed.find_last_of('/');
    const std::string parent = slash == std::string::npos ? "." : dir.substr(0, slash + 1);
    const std::string cannot = absl::StrCat(which, ": cannot create the queue directory: ",
                                            strerror(e), "; ");
    switch (e) {
      case ENOENT:
        return absl::FailedPreconditionError(absl::StrCat(
            cannot, "its parent ", parent,
            " does not exist (only the last component is created): create the parent "
            "(mkdir -p) or point TYPED_CHANNEL_DIR at a directory that exists"));
      case ENOTDIR:
        return absl::FailedPreconditionError(
            absl::StrCat(cannot, "a component of the path is not a directory: point "
                                 "TYPED_CHANNEL_DIR at a directory"));
      case EACCES:
      case EPERM:
      case EROFS:
        return absl::PermissionDeniedError(absl::StrCat(
            cannot, "point TYPED_CHANNEL_DIR at a directory this user may create or write, "
                    "e.g. one under $HOME"));
      default:
        errno = e;
        return ErrnoStatus(absl::StrCat(which, ": creating the queue directory"), dir);
    }
  }
  struct stat st;
  if (lstat(dir.c_str(), &st) != 0) return ErrnoStatus("checking", dir);
  if (S_ISLNK(st.st_mode)) {
    return absl::FailedPreconditionError(absl::StrCat(
        which, " is a symlink; the queue directory must be a real directory: point "
               "TYPED_CHANNEL_DIR at the directory it names, or ",
        use_subdir));
  }
  if (!S_ISDIR(st.st_mode)) {
    return absl::FailedPreconditionError(absl::StrCat(which, " is not a directory"));
  }
  if (st.st_uid != geteuid()) {
    return absl::PermissionDeniedError(absl::StrCat(
        which, " is owned by uid ", st.st_uid, ", not by this user (uid ", geteuid(),
        "); the queue directory must be this user's own: ", use_subdir));
  }
  if ((st.st_mode & 077) != 0) {
    // A world-writable or sticky directory (/tmp, /dev/shm) is shared by design: making it
    // private would break every other user of it, so the only advice is a subdirectory.
    const bool shared = (st.st_mode & (S_ISVTX | S_IWOTH)) != 0;
    return absl::PermissionDeniedError(absl::StrFormat(
        "%s has mode %04o: the queue directory must have no group or other access; %s%s", which,
        st.st_mode & 07777, use_subdir,
        shared ? "" : absl::StrCat(", or, if only this user uses ", dir, ", chmod go= it")));
  }
  return dir;
}

absl::StatusOr<std::shared_ptr<QueueBackend>> CreateNamedQueue(absl::string_view name,
                                                               const QueueIdentity& identity,
                                                               const QueueShape& shape) {
  if (absl::Status s = ValidateQueueName(name); !s.ok()) return s;
  absl::StatusOr<std::string> dir = QueueDirectory();
  if (!dir.ok()) return dir.status();

  uint64_t nonce = 0;
  getrandom(&nonce, sizeof nonce, 0);
  const std::string tmp = absl::StrFormat("%s/.%s.%016x.tmp", *dir, std::string(name), nonce);
  const int fd = open(tmp.c_str(), O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0600);
  if (fd < 0) return ErrnoStatus("creating", tmp);
  QueueShape persistent = shape;
  persistent.persistent = true;
  absl::StatusOr<SharedMapping> mapping = SharedMapping::Create(fd, identity, persistent);
  close(fd);
  if (!mapping.ok()) {
    unlink(tmp.c_str());
    return mapping.status();
  }
  const std::string fifo = FifoPath(*dir, name, (*mapping)->header.queue_id);
  if (mkfifo(fifo.c_str(), 0600) != 0) {
    absl::Status s = ErrnoStatus("creating", fifo);
    unlink(tmp.c_str());
    return s;
  }
  // Publishing is the link: it fails if the name exists, and an Open never sees a half-made queue.
  const std::string path = QueuePath(*dir, name);
  if (link(tmp.c_str(), path.c_str()) != 0) {
    const int e = errno;
    unlink(tmp.c_str());
    unlink(fifo.c_str());
    if (e == EEXIST) {
      return absl::AlreadyExistsError(
          absl::StrCat("a queue named \"", name, "\" already exists in ", *dir));
    }
    errno = e;
    return ErrnoStatus("publishing", path);
  }
  unlink(tmp.c_str());
  return Attach(*std::move(mapping), *dir, name);
}

absl::StatusOr<MappedNamedQueue> MapNamedQueue(absl::string_view name) {
  if (absl::Status s = ValidateQueueName(name); !s.ok()) return s;
  absl::StatusOr<std::string> dir = QueueDirectory();
  if (!dir.ok()) return dir.status();
  const std::string path = QueuePath(*dir, name);
  const int fd = open(path.c_str(), O_RDWR | O_CLOEXEC | O_NOFOLLOW);
  if (fd < 0) {
    if (errno == ENOENT) {
      return absl::NotFoundError(absl::StrCat("no queue named \"", name, "\" in ", *dir));
    }
    if (errno == ELOOP) {
      return absl::FailedPreconditionError(
          absl::StrCat(path, " is a symlink; refusing to follow it"));
    }
    return ErrnoStatus("opening", path);
  }
  struct stat st;
  absl::Status checked = fstat(fd, &st) != 0 ? ErrnoStatus("checking", path)
                         : !S_ISREG(st.st_mode)
                             ? absl::FailedPreconditionError(absl::StrCat(path, " is not a file"))
                             : CheckOwned(st, path);
  if (!checked.ok()) {
    close(fd);
    return checked;
  }
  absl::StatusOr<SharedMapping> mapping = SharedMapping::Attach(fd);
  close(fd);
  if (!mapping.ok()) {
    return absl::Status(mapping.status().code(),
                        absl::StrCat("queue \"", name, "\": ", mapping.status().message()));
  }
  return MappedNamedQueue{*dir, *std::move(mapping)};
}

absl::StatusOr<PipeEnds> OpenNamedQueueFifo(const MappedNamedQueue& queue,
                                            absl::string_view name) {
  return OpenQueueFifo(queue.dir, name, queue.mapping->header.queue_id);
}

absl::StatusOr<std::shared_ptr<QueueBackend>> OpenNamedQueue(absl::string_view name,
                                                             const QueueIdentity& identity) {
  absl::StatusOr<MappedNamedQueue> mapped = MapNamedQueue(name);
  if (!mapped.ok()) return mapped.status();
  const QueueIdentity found = mapped->mapping.identity();
  if (found.kind != identity.kind || found.type_id != identity.type_id) {
    return absl::FailedPreconditionError(absl::StrCat(
        "queue \"", name, "\" is a ", DescribeIdentity(found), "; it cannot be opened as a ",
        DescribeIdentity(identity)));
  }
  return Attach(std::move(mapped->mapping), mapped->dir, name);
}

absl::Status UnlinkNamedQueue(absl::string_view name) {
  if (absl::Status s = ValidateQueueName(name); !s.ok()) return s;
  absl::StatusOr<std::string> dir = QueueDirectory();
  if (!dir.ok()) return dir.status();
  const std::string path = QueuePath(*dir, name);
  // Learn the FIFO's name before the .queue file goes; garbage files are removed all the same.
  uint64_t queue_id = 0;
  bool have_id = false;
  const int fd = open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
  if (fd >= 0) {
    SharedHeader h;
    if (pread(fd, &h, sizeof h, 0) == static_cast<ssize_t>(sizeof h) && h.magic == kSharedMagic) {
      queue_id = h.queue_id;
      have_id = true;
    }
    close(fd);
  }
  if (unlink(path.c_str()) != 0) {
    if (errno == ENOENT) {
      return absl::NotFoundError(absl::StrCat("no queue named \"", name, "\" in ", *dir));
    }
    return ErrnoStatus("unlinking", path);
  }
  if (have_id) unlink(FifoPath(*dir, name, queue_id).c_str());
  return absl::OkStatus();
}

}  // namespace internal
}  // namespace channel
