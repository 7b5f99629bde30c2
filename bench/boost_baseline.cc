// Baseline: Boost.Interprocess message_queue, a bounded MPMC queue of fixed-size slots in POSIX
// shared memory (process-shared mutex and condition variables). Created by the coordinator
// (maxsize messages of id + payload bytes), opened by name in each child, removed at the end.
// A fresh message is built in a new heap buffer, which send() copies into a slot; receive()
// copies a slot into the endpoint's buffer.
#include <boost/date_time/posix_time/posix_time_types.hpp>
#include <boost/interprocess/ipc/message_queue.hpp>
#include <memory>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "bench/raw_message.h"
#include "bench/transport.h"

namespace bench {
namespace {

namespace bip = boost::interprocess;

class BoostEndpoint final : public Endpoint {
 public:
  BoostEndpoint(const std::string& name, size_t payload_bytes, bool fresh)
      : queue_(bip::open_only, name.c_str()),
        payload_bytes_(payload_bytes),
        fresh_(fresh),
        message_(payload_bytes),
        receive_buf_(kRawIdBytes + payload_bytes) {}

  bool Send(uint64_t id) override {
    std::unique_ptr<char[]> fresh;
    const char* data = message_.data();
    if (fresh_) {
      fresh.reset(new char[message_.size()]);
      WriteRawMessage(fresh.get(), id, payload_bytes_);
      data = fresh.get();
    } else {
      message_.set_id(id);
    }
    try {
      queue_.send(data, message_.size(), 0);
    } catch (const bip::interprocess_exception& e) {
      return Fail(absl::StrCat("send: ", e.what()));
    }
    return true;
  }

  RecvResult Recv(int timeout_ms, Received* out) override {
    bip::message_queue::size_type received = 0;
    unsigned int priority = 0;
    try {
      if (timeout_ms < 0) {
        queue_.receive(receive_buf_.data(), receive_buf_.size(), received, priority);
      } else {
        const auto deadline = boost::posix_time::microsec_clock::universal_time() +
                              boost::posix_time::milliseconds(timeout_ms);
        if (!queue_.timed_receive(receive_buf_.data(), receive_buf_.size(), received, priority,
                                  deadline)) {
          return RecvResult::kTimeout;
        }
      }
    } catch (const bip::interprocess_exception& e) {
      Fail(absl::StrCat("receive: ", e.what()));
      return RecvResult::kError;
    }
    if (!ParseRawMessage(receive_buf_.data(), received, fresh_, out)) {
      Fail("short message");
      return RecvResult::kError;
    }
    return RecvResult::kOk;
  }

 private:
  bip::message_queue queue_;
  size_t payload_bytes_;
  bool fresh_;
  RawMessage message_;  // pre-built
  std::vector<char> receive_buf_;
};

class BoostChannel final : public Channel {
 public:
  BoostChannel(std::string name, const ChannelSpec& spec) : name_(std::move(name)), spec_(spec) {}
  ~BoostChannel() override { bip::message_queue::remove(name_.c_str()); }

  absl::StatusOr<std::unique_ptr<Endpoint>> OpenProducer(int) override { return Open(); }
  absl::StatusOr<std::unique_ptr<Endpoint>> OpenConsumer(int) override { return Open(); }

 private:
  absl::StatusOr<std::unique_ptr<Endpoint>> Open() {
    try {
      return std::unique_ptr<Endpoint>(
          new BoostEndpoint(name_, spec_.payload_bytes, spec_.fresh_messages));
    } catch (const bip::interprocess_exception& e) {
      return absl::InternalError(absl::StrCat("message_queue open ", name_, ": ", e.what()));
    }
  }
  std::string name_;
  ChannelSpec spec_;
};

class BoostSystem final : public System {
 public:
  std::string name() const override { return "boost"; }
  absl::StatusOr<std::unique_ptr<Channel>> MakeChannel(const ChannelSpec& spec) override {
    const std::string name = absl::StrCat("tc_bench_", spec.tag);
    bip::message_queue::remove(name.c_str());
    try {
      bip::message_queue create(bip::create_only, name.c_str(),
                                static_cast<bip::message_queue::size_type>(spec.capacity),
                                kRawIdBytes + spec.payload_bytes);
    } catch (const bip::interprocess_exception& e) {
      return absl::InternalError(absl::StrCat("message_queue create ", name, ": ", e.what()));
    }
    return std::unique_ptr<Channel>(new BoostChannel(name, spec));
  }
};

}  // namespace

std::unique_ptr<System> MakeBoostSystem() { return std::make_unique<BoostSystem>(); }

}  // namespace bench
