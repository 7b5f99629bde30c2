// NatsConnection: one connection to a NATS server (or cluster) and its JetStream context, with
// the options every typed_channel handle uses, and the mapping of client errors to statuses.
//
// Connecting is bounded (kConnectTimeoutMs per server tried); once connected the client
// reconnects by itself, for ever, to any server of the URL or of the cluster, while calls stay
// bounded by their own deadlines (requests fail at once while disconnected, so a caller retries
// rather than waiting on a dead link).
//
// Credentials: the URL's user info (user:password, or a token), else the .creds file named by
// $TYPED_CHANNEL_NATS_CREDS. Neither ever reaches a status message: messages name the address by
// NatsAddress::Redacted(), and the client library is given the servers without user info.
//
// Thread safety: the connection and the JetStream context are thread-safe (nats.c).
#ifndef CHANNEL_INTERNAL_NATS_NATS_CONNECTION_H_
#define CHANNEL_INTERNAL_NATS_NATS_CONNECTION_H_

#include <nats/nats.h>

#include <cstdint>
#include <memory>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "channel/internal/nats/nats_url.h"

namespace channel {
namespace internal {

inline constexpr int64_t kConnectTimeoutMs = 2000;
// The longest any one request (publish, fetch, ack, stream info) waits for its answer; a call
// with a longer timeout retries in steps of this.
inline constexpr int64_t kRequestSliceMs = 2000;
// A call that must ask the server (a zero timeout included) gets at least this long for the
// round trip: a nowait call still needs one answer to know whether the queue is empty or full.
inline constexpr int64_t kMinRoundTripMs = 500;

class NatsConnection {
 public:
  static absl::StatusOr<std::unique_ptr<NatsConnection>> Connect(const NatsAddress& address);
  ~NatsConnection();
  NatsConnection(const NatsConnection&) = delete;
  NatsConnection& operator=(const NatsConnection&) = delete;

  natsConnection* nc() const { return nc_; }
  jsCtx* js() const { return js_; }
  bool connected() const { return natsConnection_Status(nc_) == NATS_CONN_STATUS_CONNECTED; }
  int64_t max_payload() const { return natsConnection_GetMaxPayload(nc_); }

 private:
  NatsConnection() = default;
  natsConnection* nc_ = nullptr;
  jsCtx* js_ = nullptr;
};

// jsOptions whose requests wait at most `wait_ms` (at least 1).
jsOptions RequestOptions(int64_t wait_ms);

// A status for a failed client call: `code` chosen by the caller's context, message
// "<what> on <redacted address>: <client text> [(JetStream error N)]".
absl::Status NatsError(absl::StatusCode code, absl::string_view what, const NatsAddress& address,
                       natsStatus s, jsErrCode js_error = static_cast<jsErrCode>(0));

// True for failures of the link rather than of the request: the caller may retry on the
// reconnected link until its deadline.
bool IsLinkFailure(natsStatus s);

}  // namespace internal
}  // namespace channel

#endif  // CHANNEL_INTERNAL_NATS_NATS_CONNECTION_H_
