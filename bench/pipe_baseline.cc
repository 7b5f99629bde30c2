// Baseline: a bare pipe, no library. Frames are length-prefixed: [u64 length][u64 id][payload].
// The writer either does one write(2) per frame, or puts frames into a buffer and writes 64 at
// a time (fresh messages are built in that buffer); the reader reads whatever the pipe holds
// into a private buffer and parses frames from it. The pipe is enlarged to 1 MiB, as
// typed_channel does with its own, and ignores the channel's capacity: up to 1 MiB of frames
// (~16k small messages) are in flight. Point to point only: frames larger than PIPE_BUF from
// several writers could interleave.
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <string.h>
#include <unistd.h>

#include <algorithm>
#include <cstring>
#include <memory>
#include <vector>

#include "absl/strings/str_cat.h"
#include "bench/raw_message.h"
#include "bench/transport.h"

namespace bench {
namespace {

constexpr size_t kLengthBytes = 8;
constexpr int kPipeBytes = 1 << 20;
constexpr size_t kReadBufferBytes = 256 << 10;

std::string Errno(const char* what) { return absl::StrCat(what, ": ", strerror(errno)); }

class PipeProducer final : public Endpoint {
 public:
  PipeProducer(int fd, size_t payload_bytes, bool fresh, int batch_frames)
      : fd_(fd),
        payload_bytes_(payload_bytes),
        fresh_(fresh),
        message_(payload_bytes, kLengthBytes),
        batch_frames_(batch_frames) {
    const uint64_t length = message_.message_bytes();
    memcpy(message_.data(), &length, sizeof length);
    if (batch_frames_ > 1) batch_.reserve(message_.size() * static_cast<size_t>(batch_frames_));
  }

  bool Send(uint64_t id) override {
    if (batch_frames_ <= 1) {
      if (!fresh_) {
        message_.set_id(id);
        return WriteAll(message_.data(), message_.size());
      }
      std::unique_ptr<char[]> frame(new char[message_.size()]);
      WriteFrame(frame.get(), id);
      return WriteAll(frame.get(), message_.size());
    }
    if (fresh_) {
      const size_t at = batch_.size();
      batch_.resize(at + message_.size());
      WriteFrame(batch_.data() + at, id);
    } else {
      message_.set_id(id);
      batch_.insert(batch_.end(), message_.data(), message_.data() + message_.size());
    }
    if (++batched_ < batch_frames_) return true;
    return Flush();
  }
  RecvResult Recv(int, Received*) override {
    Fail("receive on a producer");
    return RecvResult::kError;
  }
  bool Flush() override {
    const bool ok = batch_.empty() || WriteAll(batch_.data(), batch_.size());
    batch_.clear();
    batched_ = 0;
    return ok;
  }
  bool Finish() override { return Flush(); }

 private:
  bool WriteAll(const char* p, size_t n) {
    while (n > 0) {
      const ssize_t w = write(fd_, p, n);
      if (w < 0) {
        if (errno == EINTR) continue;
        return Fail(Errno("write"));
      }
      p += w;
      n -= static_cast<size_t>(w);
    }
    return true;
  }

  void WriteFrame(char* dst, uint64_t id) {
    const uint64_t length = message_.message_bytes();
    memcpy(dst, &length, sizeof length);
    WriteRawMessage(dst + kLengthBytes, id, payload_bytes_);
  }

  int fd_;
  size_t payload_bytes_;
  bool fresh_;
  RawMessage message_;  // pre-built; also gives the frame's size
  int batch_frames_;
  std::vector<char> batch_;
  int batched_ = 0;
};

class PipeConsumer final : public Endpoint {
 public:
  PipeConsumer(int fd, bool fresh) : fd_(fd), fresh_(fresh), buf_(kReadBufferBytes) {}

  bool Send(uint64_t) override { return Fail("send on a consumer"); }

  RecvResult Recv(int timeout_ms, Received* out) override {
    for (;;) {
      size_t need = kLengthBytes;
      if (tail_ - head_ >= kLengthBytes) {
        uint64_t length;
        memcpy(&length, buf_.data() + head_, sizeof length);
        need = kLengthBytes + length;
        if (tail_ - head_ >= need) {
          if (!ParseRawMessage(buf_.data() + head_ + kLengthBytes, length, fresh_, out)) {
            Fail("short frame");
            return RecvResult::kError;
          }
          head_ += need;
          if (head_ == tail_) head_ = tail_ = 0;
          return RecvResult::kOk;
        }
      }
      MakeRoom(need);
      if (timeout_ms >= 0) {
        pollfd p{fd_, POLLIN, 0};
        const int r = poll(&p, 1, timeout_ms);
        if (r == 0) return RecvResult::kTimeout;
        if (r < 0 && errno != EINTR) {
          Fail(Errno("poll"));
          return RecvResult::kError;
        }
      }
      const ssize_t n = read(fd_, buf_.data() + tail_, buf_.size() - tail_);
      if (n < 0 && errno == EINTR) continue;
      if (n <= 0) {
        Fail(n == 0 ? std::string("pipe closed") : Errno("read"));
        return RecvResult::kError;
      }
      tail_ += static_cast<size_t>(n);
    }
  }

 private:
  // Makes room for a frame of `need` bytes starting at head_.
  void MakeRoom(size_t need) {
    if (buf_.size() - head_ >= need && tail_ < buf_.size()) return;
    memmove(buf_.data(), buf_.data() + head_, tail_ - head_);
    tail_ -= head_;
    head_ = 0;
    if (buf_.size() < need) buf_.resize(need);
  }

  int fd_;
  bool fresh_;
  std::vector<char> buf_;
  size_t head_ = 0;
  size_t tail_ = 0;
};

class PipeChannel final : public Channel {
 public:
  PipeChannel(int read_fd, int write_fd, const ChannelSpec& spec, int batch_frames)
      : read_fd_(read_fd), write_fd_(write_fd), spec_(spec), batch_frames_(batch_frames) {}
  ~PipeChannel() override {
    close(read_fd_);
    close(write_fd_);
  }
  absl::StatusOr<std::unique_ptr<Endpoint>> OpenProducer(int) override {
    return std::unique_ptr<Endpoint>(
        new PipeProducer(write_fd_, spec_.payload_bytes, spec_.fresh_messages, batch_frames_));
  }
  absl::StatusOr<std::unique_ptr<Endpoint>> OpenConsumer(int) override {
    return std::unique_ptr<Endpoint>(new PipeConsumer(read_fd_, spec_.fresh_messages));
  }

 private:
  int read_fd_;
  int write_fd_;
  ChannelSpec spec_;
  int batch_frames_;
};

class PipeSystem final : public System {
 public:
  explicit PipeSystem(int batch_frames) : batch_frames_(batch_frames) {}
  std::string name() const override {
    return batch_frames_ > 1 ? "bare_pipe_batched" : "bare_pipe";
  }
  absl::StatusOr<std::unique_ptr<Channel>> MakeChannel(const ChannelSpec& spec) override {
    if (spec.producers != 1 || spec.consumers != 1) {
      return absl::UnimplementedError("a bare pipe is point to point");
    }
    int fds[2];
    if (pipe2(fds, O_CLOEXEC) != 0) return absl::InternalError(Errno("pipe2"));
    fcntl(fds[1], F_SETPIPE_SZ, kPipeBytes);  // best effort, like typed_channel
    return std::unique_ptr<Channel>(new PipeChannel(fds[0], fds[1], spec, batch_frames_));
  }

 private:
  int batch_frames_;
};

}  // namespace

std::unique_ptr<System> MakePipeSystem(int batch_frames) {
  return std::make_unique<PipeSystem>(batch_frames);
}

}  // namespace bench
