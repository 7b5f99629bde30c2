#include "channel/internal/nats/nats_queue.h"

#include <algorithm>
#include <chrono>
#include <random>
#include <thread>
#include <utility>

#include "absl/strings/str_cat.h"
#include "channel/internal/nats/nats_frame.h"
#include "channel/internal/wire/frame.h"

namespace channel {
namespace internal {
namespace {

constexpr char kConsumer[] = "tc";
// How long one pull request waits before the Get looks at Close() again.
constexpr int64_t kFetchSliceMs = 500;
// The longest a blocked Put or a Join sleeps without seeing an acknowledgement go by; it is how
// they notice room made by anything other than an ack (a purge, a restart).
constexpr int64_t kMaxBackoffMs = 200;
// A server-confirmed ack (TaskDone) retries over a broken link for at most this long.
constexpr int64_t kAckRetryMs = 10000;

absl::Status ClosedError() {
  return absl::FailedPreconditionError("the queue handle is closed (Close() was called)");
}

int64_t RemainingMs(const Deadline& deadline) {
  return deadline.RemainingNanos(int64_t{1} << 62) / 1000000;
}

// How long one request of a call may wait: what is left of the call, within
// [kMinRoundTripMs, kRequestSliceMs].
int64_t AttemptMs(const Deadline& deadline) {
  return std::clamp<int64_t>(RemainingMs(deadline), kMinRoundTripMs, kRequestSliceMs);
}

uint64_t RandomU64() {
  std::random_device rd;
  return (uint64_t{rd()} << 32) ^ rd();
}

// While the link is down, waits a little (bounded by the deadline) for the client to reconnect.
// TODO(perf): a reconnected-callback event instead of polling every 20 ms.
void WaitForLink(const NatsConnection& c, const Deadline& deadline) {
  if (c.connected()) return;
  std::this_thread::sleep_for(std::chrono::milliseconds(std::min<int64_t>(20, RemainingMs(deadline))));
}

// A subscription to the queue's acknowledgements, for the length of one call that waits for
// room or for Join: every ack deletes a message (WorkQueue retention).
class AckWatch {
 public:
  AckWatch(natsConnection* nc, const std::string& stream) : nc_(nc), stream_(stream) {}
  ~AckWatch() {
    if (sub_ != nullptr) natsSubscription_Destroy(sub_);
  }
  // True if an ack passed; false after `backoff_ms` or the deadline. The first call only
  // subscribes and waits 1 ms: the caller then looks again, so an ack between its last look and
  // the subscription is not missed for long.
  bool Wait(const Deadline& deadline, int64_t backoff_ms) {
    int64_t wait_ms = std::min(backoff_ms, RemainingMs(deadline));
    if (sub_ == nullptr && !failed_) {
      const std::string subject = absl::StrCat("$JS.ACK.", stream_, ".>");
      failed_ = natsConnection_SubscribeSync(&sub_, nc_, subject.c_str()) != NATS_OK;
      if (!failed_) natsConnection_FlushTimeout(nc_, std::max<int64_t>(1, wait_ms));
      return false;
    }
    if (wait_ms <= 0) return false;
    if (sub_ == nullptr) {
      std::this_thread::sleep_for(std::chrono::milliseconds(wait_ms));
      return false;
    }
    natsMsg* msg = nullptr;
    if (natsSubscription_NextMsg(&msg, sub_, wait_ms) != NATS_OK) return false;
    natsMsg_Destroy(msg);
    return true;
  }

 private:
  natsConnection* const nc_;
  const std::string& stream_;
  natsSubscription* sub_ = nullptr;
  bool failed_ = false;
};

// The next backoff after a wait that did (true) or did not see an ack.
int64_t NextBackoff(bool saw_ack, int64_t backoff_ms) {
  return saw_ack ? 1 : std::min(backoff_ms * 2, kMaxBackoffMs);
}

// Failures no retry can mend: the request itself is wrong or forbidden.
bool IsPermanentFailure(natsStatus s) {
  return s == NATS_NOT_PERMITTED || s == NATS_INVALID_ARG || s == NATS_MAX_PAYLOAD ||
         s == NATS_INVALID_SUBSCRIPTION || s == NATS_CONNECTION_CLOSED || s == NATS_NO_MEMORY;
}

bool StreamMissing(natsStatus s, jsErrCode err) {
  return err == JSStreamNotFoundErr || (s == NATS_NOT_FOUND && err == 0);
}

// Stream info for Create and Open, retried over transient failures (a cluster still electing
// its leaders answers nothing for a few seconds) for at most kLookupBudgetMs.
constexpr int64_t kLookupBudgetMs = 15000;
natsStatus LookUpStream(jsStreamInfo** si, jsCtx* js, const std::string& stream, jsErrCode* err) {
  const Deadline deadline = Deadline::After(absl::Milliseconds(kLookupBudgetMs));
  for (;;) {
    jsOptions o = RequestOptions(AttemptMs(deadline));
    const natsStatus s = js_GetStreamInfo(si, js, stream.c_str(), &o, err);
    if (!IsLinkFailure(s) || deadline.expired()) return s;
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
}

absl::Status MissingError(const NatsAddress& a) {
  return absl::NotFoundError(absl::StrCat("NATS queue ", a.Redacted(), " does not exist (no stream ",
                                          a.stream(), ")"));
}

}  // namespace

NatsQueue::NatsQueue(std::unique_ptr<NatsConnection> connection, NatsAddress address,
                     NatsQueueHeader header)
    : connection_(std::move(connection)),
      address_(std::move(address)),
      header_(std::move(header)),
      stream_(address_.stream()),
      subject_(address_.subject()),
      msg_id_prefix_(absl::StrCat(absl::Hex(RandomU64(), absl::kZeroPad16), "-")) {}

NatsQueue::~NatsQueue() { Release(); }

absl::StatusOr<std::shared_ptr<QueueBackend>> NatsQueue::Create(absl::string_view url,
                                                                const QueueIdentity& identity,
                                                                const QueueShape& shape) {
  absl::StatusOr<NatsAddress> a = ParseNatsUrl(url);
  if (!a.ok()) return a.status();
  absl::StatusOr<std::unique_ptr<NatsConnection>> c = NatsConnection::Connect(*a);
  if (!c.ok()) return c.status();
  jsCtx* js = (*c)->js();
  jsOptions o = RequestOptions(kRequestSliceMs);
  const std::string stream = a->stream(), subject = a->subject();
  jsStreamInfo* si = nullptr;
  jsErrCode err = static_cast<jsErrCode>(0);
  natsStatus s = LookUpStream(&si, js, stream, &err);
  if (s == NATS_OK) {
    jsStreamInfo_Destroy(si);
    return absl::AlreadyExistsError(absl::StrCat("NATS queue ", a->Redacted(), " already exists"));
  }
  if (!StreamMissing(s, err)) {
    return NatsError(absl::StatusCode::kUnavailable, "looking up the stream", *a, s, err);
  }

  NatsQueueHeader header;
  header.identity = identity;
  header.maxsize = shape.maxsize;
  header.max_message_bytes = shape.max_message_bytes;
  const std::string description = EncodeNatsDescription(header, RandomU64());
  const char* subjects[] = {subject.c_str()};
  jsStreamConfig cfg;
  jsStreamConfig_Init(&cfg);
  cfg.Name = stream.c_str();
  cfg.Description = description.c_str();
  cfg.Subjects = subjects;
  cfg.SubjectsLen = 1;
  cfg.Retention = js_WorkQueuePolicy;
  cfg.Discard = js_DiscardNew;
  cfg.MaxMsgs = shape.maxsize > 0 ? shape.maxsize : -1;
  cfg.MaxMsgSize = static_cast<int32_t>(std::min<int64_t>(
      (*c)->max_payload(), static_cast<int64_t>(kFrameHeaderBytes + shape.max_message_bytes)));
  cfg.Storage = a->memory_storage ? js_MemoryStorage : js_FileStorage;
  cfg.Replicas = a->replicas;
  s = js_AddStream(&si, js, &cfg, &o, &err);
  if (s != NATS_OK) {
    if (err == JSStreamNameExistErr) {
      return absl::AlreadyExistsError(
          absl::StrCat("NATS queue ", a->Redacted(), " already exists"));
    }
    return NatsError(IsLinkFailure(s) ? absl::StatusCode::kUnavailable
                                      : absl::StatusCode::kFailedPrecondition,
                     "creating the stream", *a, s, err);
  }
  jsStreamInfo_Destroy(si);

  jsConsumerConfig cc;
  jsConsumerConfig_Init(&cc);
  cc.Durable = kConsumer;
  cc.AckPolicy = js_AckExplicit;
  cc.AckWait = a->ack_wait_ms * 1000000;
  cc.MaxDeliver = -1;
  cc.MaxAckPending = -1;
  cc.MaxWaiting = 4096;  // pull requests outstanding at once: one per consuming handle
  cc.DeliverPolicy = js_DeliverAll;
  jsConsumerInfo* ci = nullptr;
  s = js_AddConsumer(&ci, js, stream.c_str(), &cc, &o, &err);
  if (s != NATS_OK) {
    absl::Status failed = NatsError(absl::StatusCode::kUnavailable, "creating the consumer", *a, s, err);
    js_DeleteStream(js, stream.c_str(), &o, nullptr);
    return failed;
  }
  jsConsumerInfo_Destroy(ci);
  return std::shared_ptr<QueueBackend>(new NatsQueue(*std::move(c), *std::move(a), header));
}

absl::StatusOr<std::shared_ptr<QueueBackend>> NatsQueue::Open(absl::string_view url,
                                                              const QueueIdentity& identity) {
  absl::StatusOr<NatsAddress> a = ParseNatsUrl(url);
  if (!a.ok()) return a.status();
  absl::StatusOr<std::unique_ptr<NatsConnection>> c = NatsConnection::Connect(*a);
  if (!c.ok()) return c.status();
  jsStreamInfo* si = nullptr;
  jsErrCode err = static_cast<jsErrCode>(0);
  natsStatus s = LookUpStream(&si, (*c)->js(), a->stream(), &err);
  if (s != NATS_OK) {
    if (StreamMissing(s, err)) return MissingError(*a);
    return NatsError(absl::StatusCode::kUnavailable, "looking up the stream", *a, s, err);
  }
  const char* description = si->Config != nullptr ? si->Config->Description : nullptr;
  absl::StatusOr<NatsQueueHeader> found =
      ParseNatsDescription(description != nullptr ? description : "");
  jsStreamInfo_Destroy(si);
  if (!found.ok()) {
    return absl::FailedPreconditionError(
        absl::StrCat("NATS queue ", a->Redacted(), ": ", found.status().message()));
  }
  if (found->identity.kind != identity.kind || found->identity.type_id != identity.type_id) {
    return absl::FailedPreconditionError(absl::StrCat(
        "queue \"", a->Redacted(), "\" is a ", DescribeIdentity(found->identity),
        "; it cannot be opened as a ", DescribeIdentity(identity)));
  }
  return std::shared_ptr<QueueBackend>(new NatsQueue(*std::move(c), *std::move(a), *found));
}

absl::Status NatsQueue::Unlink(absl::string_view url) {
  absl::StatusOr<NatsAddress> a = ParseNatsUrl(url);
  if (!a.ok()) return a.status();
  absl::StatusOr<std::unique_ptr<NatsConnection>> c = NatsConnection::Connect(*a);
  if (!c.ok()) return c.status();
  jsOptions o = RequestOptions(kRequestSliceMs);
  jsErrCode err = static_cast<jsErrCode>(0);
  natsStatus s = js_DeleteStream((*c)->js(), a->stream().c_str(), &o, &err);
  if (s == NATS_OK) return absl::OkStatus();
  if (StreamMissing(s, err)) return MissingError(*a);
  return NatsError(absl::StatusCode::kUnavailable, "deleting the stream", *a, s, err);
}

absl::Status NatsQueue::Put(size_t payload_bytes, absl::FunctionRef<void(char*)> encode,
                            const Deadline& deadline) {
  if (closed_) return ClosedError();
  if (payload_bytes > header_.max_message_bytes) {
    return absl::InvalidArgumentError(
        absl::StrCat("message is ", payload_bytes, " bytes serialized; this queue's ",
                     "max_message_bytes is ", header_.max_message_bytes));
  }
  thread_local std::string frame;
  EncodeNatsFrame(payload_bytes, encode, &frame);
  const int64_t max_payload = connection_->max_payload();
  if (static_cast<int64_t>(frame.size()) > max_payload) {
    return absl::InvalidArgumentError(absl::StrCat(
        "message is ", payload_bytes, " bytes serialized; the NATS server's max_payload allows ",
        max_payload - static_cast<int64_t>(kFrameHeaderBytes), " (see docs/distributed.md)"));
  }
  // The same MsgId on every attempt: the server drops a retry of a publish it already stored
  // (its answer was lost), within the stream's duplicate window (2 minutes).
  const std::string msg_id = absl::StrCat(msg_id_prefix_, next_msg_id_.fetch_add(1));
  jsPubOptions po;
  jsPubOptions_Init(&po);
  po.MsgId = msg_id.c_str();
  po.ExpectStream = stream_.c_str();
  AckWatch acks(connection_->nc(), stream_);
  int64_t backoff_ms = 1;
  for (;;) {
    if (closed_) return ClosedError();
    // Nothing is published while the link is down: the client would keep it in its reconnect
    // buffer and send it later, after this Put may have given up.
    if (!connection_->connected()) {
      if (deadline.expired()) return Unreachable("Put");
      WaitForLink(*connection_, deadline);
      continue;
    }
    po.MaxWait = AttemptMs(deadline);
    jsPubAck* ack = nullptr;
    jsErrCode err = static_cast<jsErrCode>(0);
    const natsStatus s = js_Publish(&ack, connection_->js(), subject_.c_str(), frame.data(),
                                    static_cast<int>(frame.size()), &po, &err);
    if (ack != nullptr) jsPubAck_Destroy(ack);
    if (s == NATS_OK) return absl::OkStatus();
    if (err == JSStreamStoreFailedErr) {  // DiscardNew refused it: the queue is full
      if (deadline.expired()) {
        return absl::ResourceExhaustedError(absl::StrCat(
            "NATS queue ", address_.Redacted(), " is full (maxsize ", header_.maxsize, ")"));
      }
      backoff_ms = NextBackoff(acks.Wait(deadline, backoff_ms), backoff_ms);
      continue;
    }
    if (err == JSStreamMessageExceedsMaximumErr) {
      return NatsError(absl::StatusCode::kInvalidArgument, "publishing", address_, s, err);
    }
    if (err == JSStreamNotFoundErr || (s == NATS_NO_RESPONDERS && Unlinked())) {
      return MissingError(address_);
    }
    if (IsPermanentFailure(s)) {
      return NatsError(absl::StatusCode::kInternal, "publishing", address_, s, err);
    }
    // Anything else passes (a lost link, a cluster electing a stream leader): retry until the
    // deadline; the MsgId makes the retry safe.
    if (deadline.expired()) {
      return absl::DeadlineExceededError(absl::StrCat(
          "NATS queue ", address_.Redacted(), ": no server confirmed the Put within the timeout (",
          natsStatus_GetText(s), "); the item may or may not be in the queue"));
    }
    Pause(deadline, &backoff_ms);
  }
}

bool NatsQueue::Unlinked() {
  return connection_->connected() &&
         absl::IsNotFound(
             StreamMessages(Deadline::After(absl::Milliseconds(kMinRoundTripMs))).status());
}

void NatsQueue::Pause(const Deadline& deadline, int64_t* backoff_ms) {
  if (!connection_->connected()) return WaitForLink(*connection_, deadline);
  std::this_thread::sleep_for(
      std::chrono::milliseconds(std::min(*backoff_ms, RemainingMs(deadline))));
  *backoff_ms = NextBackoff(false, *backoff_ms);
}

absl::Status NatsQueue::Unreachable(absl::string_view call) const {
  return absl::DeadlineExceededError(absl::StrCat("NATS queue ", address_.Redacted(), ": ", call,
                                                  " timed out with no server reachable"));
}

absl::Status NatsQueue::BindConsumer() {
  jsOptions o = RequestOptions(kRequestSliceMs);
  jsSubOptions so;
  jsSubOptions_Init(&so);
  so.Stream = stream_.c_str();
  so.Consumer = kConsumer;
  jsErrCode err = static_cast<jsErrCode>(0);
  const natsStatus s =
      js_PullSubscribe(&pull_, connection_->js(), subject_.c_str(), kConsumer, &o, &so, &err);
  if (s == NATS_OK) return absl::OkStatus();
  pull_ = nullptr;
  if (StreamMissing(s, err)) return MissingError(address_);
  if (err == JSConsumerNotFoundErr) {
    // Open can see the stream before its creator has added the consumer.
    if (Unlinked()) return MissingError(address_);
    return absl::UnavailableError("queue is empty (it is still being created)");
  }
  return NatsError(IsLinkFailure(s) ? absl::StatusCode::kDeadlineExceeded
                                    : absl::StatusCode::kInternal,
                   "subscribing to the queue's consumer", address_, s, err);
}

absl::Status NatsQueue::PutMany(size_t count,
                                absl::FunctionRef<absl::Status(size_t index, ItemSink sink)> item,
                                const Deadline& deadline, size_t* put) {
  *put = 0;
  for (size_t i = 0; i < count; ++i) {
    absl::Status s = item(i, [&](size_t payload_bytes, absl::FunctionRef<void(char*)> encode) {
      return Put(payload_bytes, encode, deadline);
    });
    if (!s.ok()) return s;
    ++*put;
  }
  return absl::OkStatus();
}

absl::Status NatsQueue::GetMany(size_t max_items, const Deadline& deadline,
                                std::vector<Payload>* out) {
  if (max_items == 0) return absl::OkStatus();
  absl::StatusOr<Payload> one = Get(deadline);
  if (!one.ok()) return one.status();
  out->push_back(*std::move(one));
  return absl::OkStatus();
}

void NatsQueue::Unget(std::vector<Payload> payloads) {
  std::lock_guard<std::mutex> lock(mu_);
  for (auto it = payloads.rbegin(); it != payloads.rend(); ++it) {
    ungot_.push_front(std::move(*it));
  }
}

absl::StatusOr<int> NatsQueue::ReadableFd() {
  return absl::UnimplementedError("a NATS queue has no readable descriptor (docs/distributed.md)");
}

absl::Status NatsQueue::Shutdown(bool) {
  return absl::UnimplementedError("Shutdown is not available on NATS queues yet");
}

absl::StatusOr<Payload> NatsQueue::Get(const Deadline& deadline) {
  if (closed_) return ClosedError();
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (!ungot_.empty()) {
      Payload p = std::move(ungot_.front());
      ungot_.pop_front();
      return p;
    }
  }
  {
    // One Fetch at a time per subscription (nats.c's rule). A condition variable rather than a
    // timed mutex: the wait stays bounded and Close() is seen within 50 ms.
    std::unique_lock<std::mutex> lock(fetch_mu_);
    while (fetching_) {
      if (closed_) return ClosedError();
      if (deadline.expired()) {
        return absl::UnavailableError("queue is empty (another Get on this handle held it)");
      }
      fetch_cv_.wait_for(lock, std::chrono::milliseconds(
                                   std::clamp<int64_t>(RemainingMs(deadline), 1, 50)));
    }
    fetching_ = true;
  }
  struct EndFetch {
    NatsQueue* q;
    ~EndFetch() {
      std::lock_guard<std::mutex> lock(q->fetch_mu_);
      q->fetching_ = false;
      q->fetch_cv_.notify_one();
    }
  } end_fetch{this};
  int64_t backoff_ms = 1;
  while (pull_ == nullptr) {
    absl::Status bound = BindConsumer();
    if (bound.ok()) break;
    if (!absl::IsUnavailable(bound) || deadline.expired()) return bound;
    if (closed_) return ClosedError();
    Pause(deadline, &backoff_ms);
  }
  for (;;) {
    if (closed_) return ClosedError();
    // No pull request while the link is down: a buffered one would be sent on reconnect and its
    // item delivered to this handle after the Get gave up.
    if (!connection_->connected()) {
      if (deadline.expired()) return Unreachable("Get");
      WaitForLink(*connection_, deadline);
      continue;
    }
    const int64_t remaining_ms = RemainingMs(deadline);
    jsFetchRequest req;
    jsFetchRequest_Init(&req);
    req.Batch = 1;
    // No time left: ask once, without waiting on the server side.
    req.NoWait = remaining_ms <= 0;
    req.Expires = (req.NoWait ? kMinRoundTripMs : std::min(remaining_ms, kFetchSliceMs)) * 1000000;
    natsMsgList list;
    const natsStatus s = natsSubscription_FetchRequest(&list, pull_, &req);
    if (s == NATS_OK && list.Count > 0) {
      natsMsg* msg = list.Msgs[0];
      list.Msgs[0] = nullptr;
      natsMsgList_Destroy(&list);
      return Take(msg);
    }
    if (s == NATS_OK) natsMsgList_Destroy(&list);
    const bool nothing = s == NATS_OK || s == NATS_TIMEOUT || s == NATS_NOT_FOUND;
    if (!nothing && IsPermanentFailure(s)) {
      return NatsError(absl::StatusCode::kInternal, "fetching", address_, s);
    }
    if (!nothing && Unlinked()) return MissingError(address_);
    if (req.NoWait || deadline.expired()) {
      if (nothing && connection_->connected()) return absl::UnavailableError("queue is empty");
      return absl::DeadlineExceededError(absl::StrCat(
          "NATS queue ", address_.Redacted(), ": no server answered within the timeout (",
          natsStatus_GetText(s), ")"));
    }
    if (!nothing) Pause(deadline, &backoff_ms);
  }
}

absl::StatusOr<Payload> NatsQueue::Take(natsMsg* msg) {
  absl::StatusOr<Payload> payload =
      DecodeNatsFrame(natsMsg_GetData(msg), static_cast<size_t>(natsMsg_GetDataLength(msg)),
                      header_.max_message_bytes);
  const bool settle_now = !payload.ok() || header_.identity.kind == QueueKind::kQueue;
  if (settle_now) {
    // A foreign message is dropped (acked: WorkQueue retention deletes it), like an undecodable
    // frame in a pipe. A plain Queue's item is the consumer's from here. The ack is not waited
    // for (a round trip per Get, half of S1's rate): if it is lost with the link, the server
    // delivers the item again after ack_wait (at-least-once); Release flushes the last ones.
    natsMsg_Ack(msg, nullptr);
    unflushed_acks_.store(true, std::memory_order_relaxed);
    natsMsg_Destroy(msg);
    if (!payload.ok()) {
      foreign_messages_.fetch_add(1, std::memory_order_relaxed);
      return absl::DataLossError(absl::StrCat("NATS queue ", address_.Redacted(),
                                              ": dropped a message that is not a typed_channel "
                                              "item: ",
                                              payload.status().message()));
    }
    return payload;
  }
  std::lock_guard<std::mutex> lock(mu_);
  delivered_.push_back(msg);
  return payload;
}

absl::Status NatsQueue::TaskDone() {
  natsMsg* msg = nullptr;
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (delivered_.empty()) {
      return absl::OutOfRangeError(
          "task_done() called too many times: this handle holds no item it got and has not "
          "marked done (on NATS, TaskDone acknowledges an item got through the same handle)");
    }
    msg = delivered_.front();
    delivered_.pop_front();
  }
  const Deadline deadline = Deadline::After(absl::Milliseconds(kAckRetryMs));
  natsStatus s;
  jsErrCode err = static_cast<jsErrCode>(0);
  for (;;) {
    jsOptions o = RequestOptions(AttemptMs(deadline));
    s = natsMsg_AckSync(msg, &o, &err);
    if (s == NATS_OK || !IsLinkFailure(s) || deadline.expired()) break;
    WaitForLink(*connection_, deadline);
  }
  uint64_t stream_seq = 0;
  if (jsMsgMetaData* meta = nullptr; natsMsg_GetMetaData(&meta, msg) == NATS_OK) {
    stream_seq = meta->Sequence.Stream;
    jsMsgMetaData_Destroy(meta);
  }
  natsMsg_Destroy(msg);
  if (s == NATS_OK && stream_seq != 0) s = AwaitRemoval(stream_seq, deadline);
  if (s == NATS_OK) return absl::OkStatus();
  return NatsError(absl::StatusCode::kUnavailable,
                   "acknowledging an item (TaskDone); unconfirmed, it may be delivered again",
                   address_, s, err);
}

natsStatus NatsQueue::AwaitRemoval(uint64_t stream_seq, const Deadline& deadline) {
  // A stream leader confirms an ack before its replicas have it: if it dies then, the new leader
  // delivers the item again. The message's removal from the stream (WorkQueue retention) is
  // applied only once the stream's replicas agreed, so an item no longer in the stream will not
  // come back. Usually the first look already finds it gone.
  int64_t backoff_ms = 1;
  for (;;) {
    jsOptions o = RequestOptions(AttemptMs(deadline));
    natsMsg* m = nullptr;
    jsErrCode err = static_cast<jsErrCode>(0);
    const natsStatus s = js_GetMsg(&m, connection_->js(), stream_.c_str(), stream_seq, &o, &err);
    if (m != nullptr) natsMsg_Destroy(m);
    if (err == JSNoMessageFoundErr || (s == NATS_NOT_FOUND && err == 0)) return NATS_OK;
    if (deadline.expired()) return s == NATS_OK ? NATS_TIMEOUT : s;
    Pause(deadline, &backoff_ms);
  }
}

absl::StatusOr<int64_t> NatsQueue::StreamMessages(const Deadline& deadline) {
  jsOptions o = RequestOptions(AttemptMs(deadline));
  jsStreamInfo* si = nullptr;
  jsErrCode err = static_cast<jsErrCode>(0);
  const natsStatus s = js_GetStreamInfo(&si, connection_->js(), stream_.c_str(), &o, &err);
  if (s != NATS_OK) {
    if (StreamMissing(s, err)) return MissingError(address_);
    return NatsError(absl::StatusCode::kUnavailable, "reading the stream's state", address_, s,
                     err);
  }
  const int64_t n = static_cast<int64_t>(si->State.Msgs);
  jsStreamInfo_Destroy(si);
  last_qsize_.store(n, std::memory_order_relaxed);
  return n;
}

int64_t NatsQueue::qsize() {
  absl::StatusOr<int64_t> n = StreamMessages(Deadline::After(absl::Milliseconds(kRequestSliceMs)));
  return n.ok() ? *n : last_qsize_.load(std::memory_order_relaxed);
}

int64_t NatsQueue::unfinished() { return qsize(); }

absl::Status NatsQueue::Join(const Deadline& deadline) {
  AckWatch acks(connection_->nc(), stream_);
  int64_t backoff_ms = 1;
  for (;;) {
    absl::StatusOr<int64_t> n = StreamMessages(deadline);
    if (n.ok() && *n == 0) return absl::OkStatus();
    if (absl::IsNotFound(n.status())) return n.status();
    if (deadline.expired()) {
      return absl::DeadlineExceededError(
          n.ok() ? absl::StrCat("Join timed out with ", *n, " items unfinished")
                 : absl::StrCat("Join timed out: ", n.status().message()));
    }
    if (!n.ok()) WaitForLink(*connection_, deadline);
    backoff_ms = NextBackoff(acks.Wait(deadline, backoff_ms), backoff_ms);
  }
}

QueueStats NatsQueue::stats() {
  QueueStats s;
  s.resyncs = foreign_messages_.load(std::memory_order_relaxed);
  return s;
}

absl::Status NatsQueue::JoinThread() {
  if (!closed_) return absl::FailedPreconditionError("JoinThread() requires Close() first");
  return absl::OkStatus();  // every Put returned after the server stored its item
}

void NatsQueue::Release() {
  std::deque<natsMsg*> undone;
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (released_) return;
    released_ = true;
    undone.swap(delivered_);
  }
  // Items got and never marked done go back to the queue at once rather than after ack_wait.
  for (natsMsg* msg : undone) {
    natsMsg_Nak(msg, nullptr);
    natsMsg_Destroy(msg);
  }
  if (!undone.empty() || unflushed_acks_.load(std::memory_order_relaxed)) {
    natsConnection_FlushTimeout(connection_->nc(), kMinRoundTripMs);
  }
  // The handle is going away: no Get runs any more (the caller owns the last reference).
  if (pull_ != nullptr) natsSubscription_Destroy(pull_);
  pull_ = nullptr;
}

}  // namespace internal
}  // namespace channel
