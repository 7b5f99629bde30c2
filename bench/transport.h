// The small interface every C++ system under test implements (typed_channel and the baselines).
//
// A message is always "a u64 id plus `payload_bytes` of data". How it is made depends on
// ChannelSpec::fresh_messages:
//   fresh (S1, S2): as a program makes them. Every Send builds a new message: typed_channel a
//     new capnp::MallocMessageBuilder, the others a freshly allocated buffer (ZeroMQ a new
//     zmq::message_t; the batched pipe appends to its batch buffer), with every payload byte
//     written by FillPayload (payload.h); every Recv reads every payload byte into
//     Received::checksum.
//   pre-built (S3, S4, S5, and S1/S2 under --prebuilt): a system builds its payload once per
//     sending endpoint and stamps a fresh id each time, and receivers do not read the payload,
//     so what is measured is the system's own work: encoding and framing, copies,
//     synchronisation, system calls, wake-ups, and (typed_channel) validation.
//
// Lifecycle of one scenario run (see scenarios.cc):
//   coordinator: System::MakeChannel(spec) (or MakeLink), before forking;
//   each child:  OpenProducer(i) / OpenConsumer(i) (or OpenClient/OpenServer) on its inherited
//                copy, then Send/Recv, then (senders) Flush() and wait until the receivers have
//                everything, then Finish(), then _exit;
//   coordinator: destroys the channel (removes any named resources).
#ifndef BENCH_TRANSPORT_H_
#define BENCH_TRANSPORT_H_

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"

namespace bench {

struct ChannelSpec {
  size_t payload_bytes = 48;  // data bytes per message, besides the id
  int64_t capacity = 1000;    // bound in messages (the queue's maxsize)
  int producers = 1;
  int consumers = 1;
  bool joinable = false;  // S4: consumers mark items done, the coordinator joins
  bool fresh_messages = false;  // see the top of this file
  std::string tag;        // unique per run: for names of shared objects, sockets, files
};

enum class RecvResult { kOk, kTimeout, kError };

struct Received {
  uint64_t id = 0;
  size_t data_bytes = 0;  // the size of the message's data (besides the id)
  uint64_t checksum = 0;  // PayloadChecksum of the data; set only with fresh_messages
};

// One process's end of a channel. Used by one thread.
class Endpoint {
 public:
  virtual ~Endpoint() = default;
  // Sends one message carrying `id`. False on error (see error()).
  virtual bool Send(uint64_t id) = 0;
  // Receives one message; timeout_ms < 0 waits for ever. On kOk, *out is set.
  virtual RecvResult Recv(int timeout_ms, Received* out) = 0;
  // Marks the last received item done (joinable channels with native_join() only).
  virtual bool TaskDone() { return true; }
  // Makes everything sent so far deliverable (a batching sender writes its partial batch).
  // Producers call it when they have sent their share, then stay until the receivers have it.
  virtual bool Flush() { return true; }
  // Flushes everything sent and releases the endpoint; called once before the process exits.
  virtual bool Finish() { return true; }
  const std::string& error() const { return error_; }

 protected:
  bool Fail(std::string message) {
    error_ = std::move(message);
    return false;
  }
  std::string error_;
};

// A channel made by the coordinator and inherited by its children through fork().
class Channel {
 public:
  virtual ~Channel() = default;
  virtual absl::StatusOr<std::unique_ptr<Endpoint>> OpenProducer(int index) = 0;
  virtual absl::StatusOr<std::unique_ptr<Endpoint>> OpenConsumer(int index) = 0;
  // Whether TaskDone()/Join() are the system's own (typed_channel's JoinableQueue). Otherwise
  // the scenario driver emulates them with a shared counter.
  virtual bool native_join() const { return false; }
  // In the coordinator, for native_join() channels: waits until every item put is done.
  virtual absl::Status Join(absl::Duration timeout) {
    return absl::UnimplementedError("no native Join");
  }
};

// A request/response pair of endpoints for the ping-pong scenario: the client sends and then
// receives, the server receives and then sends.
class Link {
 public:
  virtual ~Link() = default;
  virtual absl::StatusOr<std::unique_ptr<Endpoint>> OpenClient() = 0;
  virtual absl::StatusOr<std::unique_ptr<Endpoint>> OpenServer() = 0;
};

class System {
 public:
  virtual ~System() = default;
  virtual std::string name() const = 0;
  virtual absl::StatusOr<std::unique_ptr<Channel>> MakeChannel(const ChannelSpec& spec) = 0;
  // Default: two channels, one each way (client = producer of the first and consumer of the
  // second). ZeroMQ overrides it with REQ/REP.
  virtual absl::StatusOr<std::unique_ptr<Link>> MakeLink(const ChannelSpec& spec);
};

// The systems (one file each).
std::unique_ptr<System> MakeTypedChannelSystem();
// batch_frames == 1: one write(2) per message; > 1: frames are written batch_frames at a time.
std::unique_ptr<System> MakePipeSystem(int batch_frames);
std::unique_ptr<System> MakeBoostSystem();
// shared_window: the channel's capacity shared out over its connections (zmq_baseline.cc);
// otherwise every connection gets the whole capacity as its HWMs.
std::unique_ptr<System> MakeZmqSystem(bool shared_window);

}  // namespace bench

#endif  // BENCH_TRANSPORT_H_
