// Baseline: ZeroMQ over ipc:// (Unix domain sockets), through cppzmq.
//   channels: PUSH/PULL. Each consumer binds its own PULL socket; each producer's PUSH socket
//             connects to every consumer and round-robins among them (the usual N-to-M layout
//             without a broker). ZeroMQ bounds each connection separately (SNDHWM on the PUSH
//             side, RCVHWM on the PULL side, and the kernel's socket buffers), so that the
//             whole channel holds about as many messages as the others' maxsize, each of the
//             P x C connections gets maxsize / (P x C) of it: half as SNDHWM, half as RCVHWM,
//             and socket buffers at the kernel's minimum (SNDBUF = RCVBUF = 4 KiB, which the
//             kernel doubles: ~120 small messages per connection more, stated in the table).
//             --zeromq_window=per_connection restores ZeroMQ's usual setting instead: SNDHWM =
//             RCVHWM = maxsize on every connection and the kernel's default socket buffers
//             (4->4: up to 32,000 messages in flight besides the kernel's buffers).
//             A fresh message is a new zmq::message_t, built in place and handed to send().
//   S3:       REQ/REP on one socket pair.
// A ZeroMQ context must not cross fork(), so each endpoint creates its own in its process.
// Consumers (and the REP server) are opened before producers, so connects find a bound socket.
#include <stdlib.h>
#include <unistd.h>

#include <algorithm>
#include <memory>
#include <string>
#include <vector>
#include <zmq.hpp>

#include "absl/strings/str_cat.h"
#include "bench/raw_message.h"
#include "bench/transport.h"

namespace bench {
namespace {

std::string IpcPath(const ChannelSpec& spec, const std::string& suffix) {
  const char* tmp = getenv("TMPDIR");
  return absl::StrCat(tmp != nullptr && *tmp != '\0' ? tmp : "/tmp", "/tc_bench_", spec.tag,
                      suffix);
}

class ZmqEndpoint final : public Endpoint {
 public:
  // Binds to `bind` if non-empty, and connects to each of `connect`.
  // socket_buffer_bytes 0: the kernel's default.
  ZmqEndpoint(zmq::socket_type type, const std::string& bind,
              const std::vector<std::string>& connect, int hwm, int socket_buffer_bytes,
              size_t payload_bytes, bool fresh)
      : context_(1),
        socket_(context_, type),
        payload_bytes_(payload_bytes),
        fresh_(fresh),
        message_(payload_bytes) {
    socket_.set(zmq::sockopt::sndhwm, hwm);
    socket_.set(zmq::sockopt::rcvhwm, hwm);
    if (socket_buffer_bytes > 0) {
      socket_.set(zmq::sockopt::sndbuf, socket_buffer_bytes);
      socket_.set(zmq::sockopt::rcvbuf, socket_buffer_bytes);
    }
    // Producers flush everything at close; consumers drop what they did not take.
    socket_.set(zmq::sockopt::linger, type == zmq::socket_type::pull ? 0 : -1);
    if (!bind.empty()) socket_.bind("ipc://" + bind);
    for (const std::string& path : connect) socket_.connect("ipc://" + path);
  }

  bool Send(uint64_t id) override {
    try {
      zmq::send_result_t sent;
      if (fresh_) {
        zmq::message_t fresh(message_.size());
        WriteRawMessage(static_cast<char*>(fresh.data()), id, payload_bytes_);
        sent = socket_.send(fresh, zmq::send_flags::none);
      } else {
        message_.set_id(id);
        sent = socket_.send(zmq::const_buffer(message_.data(), message_.size()),
                            zmq::send_flags::none);
      }
      if (!sent) return Fail("zmq send: would block");
    } catch (const zmq::error_t& e) {
      return Fail(absl::StrCat("zmq send: ", e.what()));
    }
    return true;
  }

  RecvResult Recv(int timeout_ms, Received* out) override {
    try {
      if (timeout_ms != timeout_ms_) {
        socket_.set(zmq::sockopt::rcvtimeo, timeout_ms);
        timeout_ms_ = timeout_ms;
      }
      if (!socket_.recv(received_, zmq::recv_flags::none)) return RecvResult::kTimeout;
    } catch (const zmq::error_t& e) {
      Fail(absl::StrCat("zmq recv: ", e.what()));
      return RecvResult::kError;
    }
    if (!ParseRawMessage(static_cast<const char*>(received_.data()), received_.size(), fresh_,
                         out)) {
      Fail("short message");
      return RecvResult::kError;
    }
    return RecvResult::kOk;
  }

  bool Finish() override {
    try {
      socket_.close();
      context_.close();  // waits for the linger period: producers deliver everything
    } catch (const zmq::error_t& e) {
      return Fail(absl::StrCat("zmq close: ", e.what()));
    }
    return true;
  }

 private:
  zmq::context_t context_;
  zmq::socket_t socket_;
  size_t payload_bytes_;
  bool fresh_;
  RawMessage message_;  // pre-built
  zmq::message_t received_;
  int timeout_ms_ = -1;
};

template <typename... Args>
absl::StatusOr<std::unique_ptr<Endpoint>> MakeEndpoint(Args&&... args) {
  try {
    return std::unique_ptr<Endpoint>(new ZmqEndpoint(std::forward<Args>(args)...));
  } catch (const zmq::error_t& e) {
    return absl::InternalError(absl::StrCat("zmq socket setup: ", e.what()));
  }
}

class ZmqChannel final : public Channel {
 public:
  ZmqChannel(const ChannelSpec& spec, bool shared_window)
      : spec_(spec), shared_window_(shared_window) {
    for (int i = 0; i < spec.consumers; ++i) {
      consumer_paths_.push_back(IpcPath(spec, absl::StrCat("_c", i)));
    }
  }
  ~ZmqChannel() override {
    for (const std::string& path : consumer_paths_) unlink(path.c_str());
  }
  absl::StatusOr<std::unique_ptr<Endpoint>> OpenProducer(int) override {
    return MakeEndpoint(zmq::socket_type::push, std::string(), consumer_paths_, Hwm(),
                        SocketBufferBytes(), spec_.payload_bytes, spec_.fresh_messages);
  }
  absl::StatusOr<std::unique_ptr<Endpoint>> OpenConsumer(int index) override {
    return MakeEndpoint(zmq::socket_type::pull, consumer_paths_.at(index),
                        std::vector<std::string>(), Hwm(), SocketBufferBytes(),
                        spec_.payload_bytes, spec_.fresh_messages);
  }

 private:
  // Shared window: maxsize shared over the P x C connections, half on each side.
  int Hwm() const {
    if (!shared_window_) return static_cast<int>(spec_.capacity);
    const int64_t connections = static_cast<int64_t>(spec_.producers) * spec_.consumers;
    return static_cast<int>(std::max<int64_t>(1, spec_.capacity / (2 * connections)));
  }
  int SocketBufferBytes() const { return shared_window_ ? 4096 : 0; }
  ChannelSpec spec_;
  bool shared_window_;
  std::vector<std::string> consumer_paths_;
};

class ZmqLink final : public Link {
 public:
  explicit ZmqLink(const ChannelSpec& spec) : spec_(spec), path_(IpcPath(spec, "_rr")) {}
  ~ZmqLink() override { unlink(path_.c_str()); }
  absl::StatusOr<std::unique_ptr<Endpoint>> OpenClient() override {
    return MakeEndpoint(zmq::socket_type::req, std::string(), std::vector<std::string>{path_},
                        static_cast<int>(spec_.capacity), 0, spec_.payload_bytes,
                        spec_.fresh_messages);
  }
  absl::StatusOr<std::unique_ptr<Endpoint>> OpenServer() override {
    return MakeEndpoint(zmq::socket_type::rep, path_, std::vector<std::string>(),
                        static_cast<int>(spec_.capacity), 0, spec_.payload_bytes,
                        spec_.fresh_messages);
  }

 private:
  ChannelSpec spec_;
  std::string path_;
};

class ZmqSystem final : public System {
 public:
  explicit ZmqSystem(bool shared_window) : shared_window_(shared_window) {}
  std::string name() const override { return "zeromq"; }
  absl::StatusOr<std::unique_ptr<Channel>> MakeChannel(const ChannelSpec& spec) override {
    return std::unique_ptr<Channel>(new ZmqChannel(spec, shared_window_));
  }
  absl::StatusOr<std::unique_ptr<Link>> MakeLink(const ChannelSpec& spec) override {
    return std::unique_ptr<Link>(new ZmqLink(spec));
  }

 private:
  bool shared_window_;
};

}  // namespace

std::unique_ptr<System> MakeZmqSystem(bool shared_window) {
  return std::make_unique<ZmqSystem>(shared_window);
}

}  // namespace bench
