// typed_channel as a benchmark System: Queue<demo::Small> (JoinableQueue for S4), anonymous,
// created by the coordinator and inherited by the forked children, used as a program would.
// A fresh message is a new capnp::MallocMessageBuilder per Put, its first segment sized for the
// message (as a program that knows its message size would); its data is written by FillPayload
// and the consumer checksums the data in the Message it got.
#include <capnp/message.h>

#include <algorithm>
#include <cstring>
#include <memory>
#include <type_traits>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/types/optional.h"
#include "bench/payload.h"
#include "bench/transport.h"
#include "channel/channel.h"
#include "schema/demo.capnp.h"

namespace bench {
namespace {

template <typename Q>
constexpr bool kJoinable = std::is_same_v<Q, channel::JoinableQueue<demo::Small>>;

absl::Duration Timeout(int timeout_ms) {
  return timeout_ms < 0 ? absl::InfiniteDuration() : absl::Milliseconds(timeout_ms);
}

// Q is channel::Queue<demo::Small> or channel::JoinableQueue<demo::Small>. The endpoint uses
// the queue handle of its process (the child's copy of the channel) and destroys that handle in
// Finish(), which flushes what it put.
template <typename Q>
class TcEndpoint final : public Endpoint {
 public:
  TcEndpoint(absl::optional<Q>* queue, size_t payload_bytes, bool fresh)
      : queue_(queue),
        payload_bytes_(payload_bytes),
        fresh_(fresh),
        builder_(std::make_unique<capnp::MallocMessageBuilder>(SegmentWords(payload_bytes))) {
    root_ = builder_->initRoot<demo::Small>();
    kj::ArrayPtr<kj::byte> data = root_.initData(static_cast<unsigned>(payload_bytes));
    for (size_t i = 0; i < data.size(); ++i) data[i] = static_cast<kj::byte>(i * 7 + 1);
  }

  bool Send(uint64_t id) override {
    absl::Status s;
    if (fresh_) {
      capnp::MallocMessageBuilder message(SegmentWords(payload_bytes_));
      demo::Small::Builder root = message.initRoot<demo::Small>();
      root.setId(id);
      kj::ArrayPtr<kj::byte> data = root.initData(static_cast<unsigned>(payload_bytes_));
      FillPayload(data.begin(), data.size(), id);
      s = (*queue_)->Put(message);
    } else {
      root_.setId(id);
      // Put serializes now; the builder is reused for the next message.
      s = (*queue_)->Put(*builder_);
    }
    return s.ok() || Fail(absl::StrCat("Put: ", s.ToString()));
  }

  RecvResult Recv(int timeout_ms, Received* out) override {
    absl::StatusOr<channel::Message<demo::Small>> m = (*queue_)->Get(Timeout(timeout_ms));
    if (!m.ok()) {
      if (channel::IsEmpty(m.status())) return RecvResult::kTimeout;
      Fail(absl::StrCat("Get: ", m.status().ToString()));
      return RecvResult::kError;
    }
    out->id = (*m)->getId();
    capnp::Data::Reader data = (*m)->getData();
    out->data_bytes = data.size();
    if (fresh_) out->checksum = PayloadChecksum(data.begin(), data.size());
    return RecvResult::kOk;
  }

  bool TaskDone() override {
    if constexpr (kJoinable<Q>) {
      absl::Status s = (*queue_)->TaskDone();
      return s.ok() || Fail(absl::StrCat("TaskDone: ", s.ToString()));
    }
    return true;
  }

  bool Finish() override {
    queue_->reset();  // destroying the handle flushes this process's feeder
    return true;
  }

 private:
  // The message's size in words, with room for the root struct and pointers.
  static unsigned SegmentWords(size_t payload_bytes) {
    return static_cast<unsigned>(payload_bytes / sizeof(capnp::word) + 16);
  }

  absl::optional<Q>* queue_;
  size_t payload_bytes_;
  bool fresh_;
  // Pre-built messages; behind a pointer: kj destructors may throw, which an Endpoint's destructor must not declare.
  std::unique_ptr<capnp::MallocMessageBuilder> builder_;
  demo::Small::Builder root_ = nullptr;
};

template <typename Q>
class TcChannel final : public Channel {
 public:
  TcChannel(Q queue, const ChannelSpec& spec) : queue_(std::move(queue)), spec_(spec) {}

  absl::StatusOr<std::unique_ptr<Endpoint>> OpenProducer(int) override { return Open(); }
  absl::StatusOr<std::unique_ptr<Endpoint>> OpenConsumer(int) override { return Open(); }
  bool native_join() const override { return kJoinable<Q>; }
  absl::Status Join(absl::Duration timeout) override {
    if constexpr (kJoinable<Q>) {
      return queue_->Join(timeout);
    }
    return Channel::Join(timeout);
  }

 private:
  absl::StatusOr<std::unique_ptr<Endpoint>> Open() {
    if (!queue_.has_value()) return absl::FailedPreconditionError("queue already finished");
    return std::unique_ptr<Endpoint>(
        new TcEndpoint<Q>(&queue_, spec_.payload_bytes, spec_.fresh_messages));
  }
  absl::optional<Q> queue_;
  ChannelSpec spec_;
};

class TypedChannelSystem final : public System {
 public:
  std::string name() const override { return "typed_channel"; }

  absl::StatusOr<std::unique_ptr<Channel>> MakeChannel(const ChannelSpec& spec) override {
    channel::QueueOptions options;
    options.maxsize = spec.capacity;
    if (spec.joinable) return Make<channel::JoinableQueue<demo::Small>>(options, spec);
    return Make<channel::Queue<demo::Small>>(options, spec);
  }

 private:
  template <typename Q>
  static absl::StatusOr<std::unique_ptr<Channel>> Make(const channel::QueueOptions& options,
                                                       const ChannelSpec& spec) {
    absl::StatusOr<Q> q = Q::Create(options);
    if (!q.ok()) return q.status();
    return std::unique_ptr<Channel>(new TcChannel<Q>(*std::move(q), spec));
  }
};

}  // namespace

std::unique_ptr<System> MakeTypedChannelSystem() { return std::make_unique<TypedChannelSystem>(); }

}  // namespace bench
