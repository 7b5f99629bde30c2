#include "channel/internal/nats/nats_connection.h"

#include <cstdlib>
#include <mutex>
#include <vector>

#include "absl/strings/str_cat.h"

namespace channel {
namespace internal {
namespace {

// Owns a natsOptions until the connection is made.
struct OptionsDeleter {
  void operator()(natsOptions* o) const { natsOptions_Destroy(o); }
};

natsStatus Configure(natsOptions* o, const NatsAddress& a) {
  std::vector<const char*> servers;
  for (const std::string& s : a.servers) servers.push_back(s.c_str());
  natsStatus s = natsOptions_SetServers(o, servers.data(), static_cast<int>(servers.size()));
  if (s == NATS_OK) s = natsOptions_SetName(o, "typed_channel");
  if (s == NATS_OK) s = natsOptions_SetTimeout(o, kConnectTimeoutMs);
  if (s == NATS_OK) s = natsOptions_SetAllowReconnect(o, true);
  if (s == NATS_OK) s = natsOptions_SetMaxReconnect(o, -1);
  if (s == NATS_OK) s = natsOptions_SetReconnectWait(o, 100);
  // A link that silently died (a partition, not a closed socket) is noticed within ~10 s.
  if (s == NATS_OK) s = natsOptions_SetPingInterval(o, 5000);
  if (s == NATS_OK) s = natsOptions_SetMaxPingsOut(o, 2);
  // Requests issued while disconnected fail at once instead of waiting out their timeout in the
  // reconnect buffer: the caller retries on the new link (publishes carry a MsgId, so a retry
  // of a publish that was in fact stored is dropped by the server).
  if (s == NATS_OK) s = natsOptions_SetFailRequestsOnDisconnect(o, true);
  // Every call here waits for an answer: writing at once, rather than when the library's
  // flusher thread next runs, takes that thread's wake-up off each round trip.
  if (s == NATS_OK) s = natsOptions_SetSendAsap(o, true);
  if (s != NATS_OK) return s;
  if (!a.user.empty()) {
    return a.password.empty() ? natsOptions_SetToken(o, a.user.c_str())
                              : natsOptions_SetUserInfo(o, a.user.c_str(), a.password.c_str());
  }
  if (const char* creds = std::getenv("TYPED_CHANNEL_NATS_CREDS"); creds != nullptr && *creds) {
    return natsOptions_SetUserCredentialsFromFiles(o, creds, nullptr);
  }
  return NATS_OK;
}

// At exit, stops the client library's threads before it tears down its globals: left running,
// one of them can race the library's own exit handler and lock a destroyed mutex (seen as a
// glibc assertion in programs that exit right after their last NATS call). Registered after the
// library's handler, so it runs first.
void CloseLibraryAtExit() { nats_CloseAndWait(kConnectTimeoutMs); }

}  // namespace

absl::StatusOr<std::unique_ptr<NatsConnection>> NatsConnection::Connect(const NatsAddress& a) {
  natsOptions* raw = nullptr;
  natsStatus s = natsOptions_Create(&raw);
  if (s != NATS_OK) return NatsError(absl::StatusCode::kInternal, "creating options", a, s);
  std::unique_ptr<natsOptions, OptionsDeleter> options(raw);
  static std::once_flag at_exit;
  std::call_once(at_exit, [] { std::atexit(CloseLibraryAtExit); });
  s = Configure(raw, a);
  if (s != NATS_OK) {
    return NatsError(absl::StatusCode::kInvalidArgument, "configuring the connection", a, s);
  }
  std::unique_ptr<NatsConnection> c(new NatsConnection());
  s = natsConnection_Connect(&c->nc_, raw);
  if (s != NATS_OK) {
    const absl::StatusCode code =
        s == NATS_CONNECTION_AUTH_FAILED || s == NATS_NOT_PERMITTED
            ? absl::StatusCode::kPermissionDenied
            : absl::StatusCode::kUnavailable;
    return NatsError(code, "connecting", a, s);
  }
  jsOptions js_options = RequestOptions(kRequestSliceMs);
  s = natsConnection_JetStream(&c->js_, c->nc_, &js_options);
  if (s != NATS_OK) return NatsError(absl::StatusCode::kInternal, "opening JetStream", a, s);
  return c;
}

NatsConnection::~NatsConnection() {
  if (js_ != nullptr) jsCtx_Destroy(js_);
  if (nc_ != nullptr) natsConnection_Destroy(nc_);
}

jsOptions RequestOptions(int64_t wait_ms) {
  jsOptions o;
  jsOptions_Init(&o);
  o.Wait = wait_ms < 1 ? 1 : wait_ms;
  return o;
}

bool IsLinkFailure(natsStatus s) {
  return s == NATS_TIMEOUT || s == NATS_NO_RESPONDERS || s == NATS_CONNECTION_DISCONNECTED ||
         s == NATS_CONNECTION_CLOSED || s == NATS_NO_SERVER || s == NATS_IO_ERROR ||
         s == NATS_STALE_CONNECTION;
}

absl::Status NatsError(absl::StatusCode code, absl::string_view what, const NatsAddress& address,
                       natsStatus s, jsErrCode js_error) {
  // nats_GetLastError's text names servers as the library knows them: without user info.
  const char* detail = nats_GetLastError(nullptr);
  std::string text = natsStatus_GetText(s);
  if (detail != nullptr && *detail != '\0' && text != detail) absl::StrAppend(&text, ": ", detail);
  if (js_error != 0) absl::StrAppend(&text, " (JetStream error ", static_cast<int>(js_error), ")");
  return absl::Status(code, absl::StrCat("NATS queue ", address.Redacted(), ": ", what, ": ",
                                         text));
}

}  // namespace internal
}  // namespace channel
