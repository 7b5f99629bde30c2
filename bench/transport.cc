#include "bench/transport.h"

#include <utility>

namespace bench {
namespace {

// One endpoint made of two: sends go to `out`, receives come from `in`.
class PairedEndpoint final : public Endpoint {
 public:
  PairedEndpoint(std::unique_ptr<Endpoint> out, std::unique_ptr<Endpoint> in)
      : out_(std::move(out)), in_(std::move(in)) {}
  bool Send(uint64_t id) override { return out_->Send(id) || Fail(out_->error()); }
  RecvResult Recv(int timeout_ms, Received* out) override {
    const RecvResult r = in_->Recv(timeout_ms, out);
    if (r == RecvResult::kError) Fail(in_->error());
    return r;
  }
  bool Flush() override { return out_->Flush() || Fail(out_->error()); }
  bool Finish() override {
    const bool in_ok = in_->Finish() || Fail(in_->error());
    const bool out_ok = out_->Finish() || Fail(out_->error());
    return in_ok && out_ok;
  }

 private:
  std::unique_ptr<Endpoint> out_;
  std::unique_ptr<Endpoint> in_;
};

class TwoChannelLink final : public Link {
 public:
  TwoChannelLink(std::unique_ptr<Channel> request, std::unique_ptr<Channel> response)
      : request_(std::move(request)), response_(std::move(response)) {}

  absl::StatusOr<std::unique_ptr<Endpoint>> OpenClient() override {
    return Pair(request_->OpenProducer(0), response_->OpenConsumer(0));
  }
  absl::StatusOr<std::unique_ptr<Endpoint>> OpenServer() override {
    return Pair(response_->OpenProducer(0), request_->OpenConsumer(0));
  }

 private:
  static absl::StatusOr<std::unique_ptr<Endpoint>> Pair(
      absl::StatusOr<std::unique_ptr<Endpoint>> out, absl::StatusOr<std::unique_ptr<Endpoint>> in) {
    if (!out.ok()) return out.status();
    if (!in.ok()) return in.status();
    return std::unique_ptr<Endpoint>(new PairedEndpoint(*std::move(out), *std::move(in)));
  }
  std::unique_ptr<Channel> request_;
  std::unique_ptr<Channel> response_;
};

}  // namespace

absl::StatusOr<std::unique_ptr<Link>> System::MakeLink(const ChannelSpec& spec) {
  ChannelSpec request = spec;
  request.tag += "-req";
  ChannelSpec response = spec;
  response.tag += "-rep";
  absl::StatusOr<std::unique_ptr<Channel>> a = MakeChannel(request);
  if (!a.ok()) return a.status();
  absl::StatusOr<std::unique_ptr<Channel>> b = MakeChannel(response);
  if (!b.ok()) return b.status();
  return std::unique_ptr<Link>(new TwoChannelLink(*std::move(a), *std::move(b)));
}

}  // namespace bench
