// NatsAddress: what a queue name of the form nats://... says (see docs/distributed.md).
//
//   nats://[USER[:PASSWORD]@]HOST:PORT[,HOST:PORT...]/NAME[?OPTION=VALUE&...]
//
// USER alone (no ':') is a token. USER and PASSWORD may be percent-encoded. NAME is 1..200
// characters of [A-Za-z0-9_-] (JetStream stream names allow no '.'). Options, all optional:
//   replicas=1..5        the stream's replica count (an R3 stream needs a 3-server cluster)
//   storage=file|memory  where the server keeps the stream (default file: survives a restart)
//   ack_wait_ms=N        how long a delivered item stays with its consumer before it is
//                        delivered again if not acknowledged (default 30000)
// Only CreateNamed uses the options; Open and Unlink ignore them (the stream has its own).
//
// Secrets (password, token) never appear in Redacted() nor in any status this file returns.
#ifndef CHANNEL_INTERNAL_NATS_NATS_URL_H_
#define CHANNEL_INTERNAL_NATS_NATS_URL_H_

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace channel {
namespace internal {

inline constexpr absl::string_view kNatsScheme = "nats://";

struct NatsAddress {
  std::vector<std::string> servers;  // "nats://HOST:PORT", without user info
  std::string user;                  // empty: none
  std::string password;              // empty with a non-empty user: `user` is a token
  std::string name;                  // the queue's name
  int replicas = 1;
  bool memory_storage = false;
  int64_t ack_wait_ms = 30000;

  // The address without user info or options, for messages: nats://h1:4222,h2:4222/NAME.
  std::string Redacted() const;
  std::string stream() const { return "TC_" + name; }          // the JetStream stream
  std::string subject() const { return "typed_channel." + name; }  // what Put publishes to
};

// True if `name` selects this transport (starts with nats://).
bool IsNatsName(absl::string_view name);

// kInvalidArgument saying what is wrong (without echoing user info).
absl::StatusOr<NatsAddress> ParseNatsUrl(absl::string_view url);

}  // namespace internal
}  // namespace channel

#endif  // CHANNEL_INTERNAL_NATS_NATS_URL_H_
