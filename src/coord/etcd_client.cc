#include "coord/etcd_client.h"

#include <grpcpp/grpcpp.h>

#include <fstream>
#include <numeric>
#include <sstream>
#include <utility>

#include "coord/etcd_rpc.h"
#include "coord/etcd_watch.h"

namespace bale::coord {

namespace {

namespace pb = etcdserverpb;
namespace epb = v3electionpb;

// A PEM file's text; InvalidArgument naming it (as `what`) when it cannot be read.
Status ReadPem(const std::string& path, const char* what, std::string* out) {
  out->clear();
  if (path.empty()) return Status::OK();
  std::ifstream f(path, std::ios::binary);
  std::ostringstream text;
  text << f.rdbuf();
  if (!f || text.str().find("-----BEGIN ") == std::string::npos) {
    return Status::InvalidArgument(std::string(what) + " " + path + ": not a readable PEM file");
  }
  *out = text.str();
  return Status::OK();
}

// The credentials of every channel: TLS for https:// endpoints.
Status MakeCredentials(const EtcdOptions& o, bool tls,
                       std::shared_ptr<grpc::ChannelCredentials>* out) {
  bool files = !o.ca_file.empty() || !o.cert_file.empty() || !o.key_file.empty();
  if (!tls) {
    if (files) {
      return Status::InvalidArgument("etcd TLS files given but the endpoints are not https://");
    }
    *out = grpc::InsecureChannelCredentials();
    return Status::OK();
  }
  if (o.cert_file.empty() != o.key_file.empty()) {
    return Status::InvalidArgument("etcd client certificate and key go together: both or neither");
  }
  grpc::SslCredentialsOptions ssl;
  BALE_RETURN_IF_ERROR(ReadPem(o.ca_file, "etcd CA", &ssl.pem_root_certs));
  BALE_RETURN_IF_ERROR(ReadPem(o.cert_file, "etcd client certificate", &ssl.pem_cert_chain));
  BALE_RETURN_IF_ERROR(ReadPem(o.key_file, "etcd client key", &ssl.pem_private_key));
  *out = grpc::SslCredentials(ssl);
  return Status::OK();
}

std::shared_ptr<grpc::Channel> MakeChannel(const std::shared_ptr<grpc::ChannelCredentials>& creds,
                                           const std::string& endpoint) {
  grpc::ChannelArguments args;
  // A hung etcd (stopped, or behind a dead link) is noticed within ~15 s. etcd refuses
  // pings more often than every 5 s by default.
  args.SetInt(GRPC_ARG_KEEPALIVE_TIME_MS, 10000);
  args.SetInt(GRPC_ARG_KEEPALIVE_TIMEOUT_MS, 5000);
  args.SetInt(GRPC_ARG_KEEPALIVE_PERMIT_WITHOUT_CALLS, 1);
  args.SetInt(GRPC_ARG_HTTP2_MAX_PINGS_WITHOUT_DATA, 0);
  // Reconnect within a second of etcd coming back (gRPC's default backoff reaches 120 s).
  args.SetInt(GRPC_ARG_INITIAL_RECONNECT_BACKOFF_MS, 100);
  args.SetInt(GRPC_ARG_MAX_RECONNECT_BACKOFF_MS, 1000);
  // Our own subchannels, so that a channel made afresh (ResetChannel) connects afresh.
  args.SetInt(GRPC_ARG_USE_LOCAL_SUBCHANNEL_POOL, 1);
  return grpc::CreateCustomChannel(endpoint, creds, args);
}

}  // namespace

struct EtcdClient::Stubs {
  explicit Stubs(std::shared_ptr<grpc::Channel> ch)
      : channel(std::move(ch)),
        kv(pb::KV::NewStub(channel)),
        lease(pb::Lease::NewStub(channel)),
        maintenance(pb::Maintenance::NewStub(channel)),
        auth(pb::Auth::NewStub(channel)),
        election(epb::Election::NewStub(channel)) {}
  std::chrono::steady_clock::time_point created = std::chrono::steady_clock::now();
  std::shared_ptr<grpc::Channel> channel;
  std::unique_ptr<pb::KV::Stub> kv;
  std::unique_ptr<pb::Lease::Stub> lease;
  std::unique_ptr<pb::Maintenance::Stub> maintenance;
  std::unique_ptr<pb::Auth::Stub> auth;
  std::unique_ptr<epb::Election::Stub> election;
};

namespace {

// The call Call makes for a unary RPC: `method` of the stub `stub` of the endpoint in use.
template <typename Stub, typename Req, typename Resp>
auto Unary(std::unique_ptr<Stub> EtcdClient::Stubs::*stub,
           grpc::Status (Stub::*method)(grpc::ClientContext*, const Req&, Resp*), const Req& req,
           Resp* resp) {
  return [stub, method, &req, resp](grpc::ClientContext* ctx, EtcdClient::Stubs& stubs) {
    return ((*(stubs.*stub)).*method)(ctx, req, resp);
  };
}

}  // namespace

Status ParseEndpoints(std::string_view endpoints, std::vector<std::string>* out, bool* tls) {
  out->clear();
  constexpr std::string_view kPlain = "http://", kTls = "https://";
  int schemes = 0;  // bit 1: http, bit 2: https
  while (!endpoints.empty()) {
    size_t comma = endpoints.find(',');
    std::string_view one = endpoints.substr(0, comma);
    endpoints = comma == std::string_view::npos ? std::string_view() : endpoints.substr(comma + 1);
    while (!one.empty() && one.front() == ' ') one.remove_prefix(1);
    while (!one.empty() && one.back() == ' ') one.remove_suffix(1);
    if (one.empty()) continue;
    bool secure = one.starts_with(kTls);
    if (!secure && !one.starts_with(kPlain)) {
      return Status::InvalidArgument("etcd endpoint is not http(s)://host:port: " +
                                     std::string(one));
    }
    schemes |= secure ? 2 : 1;
    one.remove_prefix(secure ? kTls.size() : kPlain.size());
    if (!one.empty() && one.back() == '/') one.remove_suffix(1);
    size_t colon = one.rfind(':');
    if (colon == std::string_view::npos || colon == 0 || colon + 1 == one.size() ||
        one.find('/') != std::string_view::npos) {
      return Status::InvalidArgument("etcd endpoint is not http(s)://host:port: " +
                                     std::string(one));
    }
    out->emplace_back(one);
  }
  if (out->empty()) return Status::InvalidArgument("no etcd endpoint given");
  if (schemes == 3) return Status::InvalidArgument("etcd endpoints mix http:// and https://");
  if (tls != nullptr) *tls = schemes == 2;
  return Status::OK();
}

std::string PrefixEnd(std::string_view prefix) {
  std::string end(prefix);
  while (!end.empty()) {
    if (static_cast<unsigned char>(end.back()) < 0xff) {
      end.back() = static_cast<char>(static_cast<unsigned char>(end.back()) + 1);
      return end;
    }
    end.pop_back();
  }
  return std::string(1, '\0');  // etcd: "\0" as range_end means every key from `key` on
}

EtcdClient::EtcdClient(const EtcdOptions& options, std::vector<std::string> endpoints,
                       std::shared_ptr<grpc::ChannelCredentials> creds)
    : options_(options),
      deadline_(options.deadline),
      endpoints_(std::move(endpoints)),
      creds_(std::move(creds)) {
  for (const std::string& e : endpoints_) {
    stubs_.push_back(std::make_unique<Stubs>(MakeChannel(creds_, e)));
  }
}

EtcdClient::~EtcdClient() = default;

Status EtcdClient::Create(const EtcdOptions& options, std::unique_ptr<EtcdClient>* out) {
  std::vector<std::string> endpoints;
  bool tls = false;
  BALE_RETURN_IF_ERROR(ParseEndpoints(options.endpoints, &endpoints, &tls));
  std::shared_ptr<grpc::ChannelCredentials> creds;
  BALE_RETURN_IF_ERROR(MakeCredentials(options, tls, &creds));
  out->reset(new EtcdClient(options, std::move(endpoints), std::move(creds)));
  return Status::OK();
}

Status EtcdClient::Connect(const EtcdOptions& options, std::unique_ptr<EtcdClient>* out) {
  std::unique_ptr<EtcdClient> client;
  BALE_RETURN_IF_ERROR(Create(options, &client));
  // Call moves on to the next endpoint on UNAVAILABLE: the first that answers is kept.
  pb::StatusRequest req;
  pb::StatusResponse resp;
  Status s = client->Call(EtcdRequest::kStatus, "status",
                          Unary(&Stubs::maintenance, &pb::Maintenance::Stub::Status, req, &resp));
  if (s.IsUnavailable()) {
    return Status::Unavailable("no etcd endpoint answers: " + std::string(s.message()));
  }
  BALE_RETURN_IF_ERROR(s);  // refused credentials: said as they are
  *out = std::move(client);
  return Status::OK();
}

uint64_t EtcdClient::requests() const {
  uint64_t total = 0;
  for (const auto& n : requests_) total += n.load(std::memory_order_relaxed);
  return total;
}

const std::string& EtcdClient::endpoint() const { return endpoints_[current_]; }

bool EtcdClient::Register(grpc::ClientContext* ctx) {
  std::lock_guard lock(inflight_mu_);
  if (aborted_) return false;
  inflight_ = ctx;
  return true;
}

void EtcdClient::Unregister() {
  std::lock_guard lock(inflight_mu_);
  inflight_ = nullptr;
}

void EtcdClient::ResetChannel(size_t i) {
  // gRPC 1.51's channel may stay in TRANSIENT_FAILURE after etcd comes back (seen when etcd
  // is restarted on the same port): a channel unused for a second is made afresh.
  auto now = std::chrono::steady_clock::now();
  if (now - stubs_[i]->created < std::chrono::seconds(1)) return;
  stubs_[i] = std::make_unique<Stubs>(MakeChannel(creds_, endpoints_[i]));
}

void EtcdClient::ClearAbort() {
  std::lock_guard lock(inflight_mu_);
  aborted_ = false;
}

void EtcdClient::Abort() {
  std::lock_guard lock(inflight_mu_);
  aborted_ = true;
  if (inflight_ != nullptr) inflight_->TryCancel();
}

namespace {

// etcd refused the call's token: authenticating again may help.
bool TokenRefused(const grpc::Status& s) {
  const std::string& m = s.error_message();
  return s.error_code() == grpc::StatusCode::UNAUTHENTICATED ||
         m.find("invalid auth token") != std::string::npos ||
         m.find("revision of auth store is old") != std::string::npos;
}

}  // namespace

template <typename Rpc>
grpc::Status EtcdClient::Attempt(EtcdRequest kind, Rpc&& rpc) {
  grpc::Status last;
  for (size_t attempt = 0; attempt < endpoints_.size(); ++attempt) {
    grpc::ClientContext ctx;
    ctx.set_deadline(std::chrono::system_clock::now() + deadline_);
    AddToken(&ctx);
    if (!Register(&ctx)) return grpc::Status(grpc::StatusCode::CANCELLED, "etcd client aborted");
    Count(kind);
    last = rpc(&ctx, *stubs_[current_]);
    Unregister();
    if (last.error_code() != grpc::StatusCode::UNAVAILABLE) break;
    ResetChannel(current_);
    current_ = (current_ + 1) % endpoints_.size();
  }
  return last;
}

template <typename Rpc>
Status EtcdClient::Call(EtcdRequest kind, std::string_view what, Rpc&& rpc) {
  BALE_RETURN_IF_ERROR(Authenticate(/*again=*/false));
  grpc::Status last = Attempt(kind, rpc);
  if (!options_.user.empty() && TokenRefused(last)) {
    BALE_RETURN_IF_ERROR(Authenticate(/*again=*/true));
    last = Attempt(kind, rpc);
  }
  return FromGrpc(last, what);
}

Status EtcdClient::Authenticate(bool again) {
  if (options_.user.empty() || (!token_.empty() && !again)) return Status::OK();
  token_.clear();
  pb::AuthenticateRequest req;
  req.set_name(options_.user);
  req.set_password(options_.password);
  pb::AuthenticateResponse resp;
  grpc::Status s = Attempt(EtcdRequest::kAuthenticate,
                           Unary(&Stubs::auth, &pb::Auth::Stub::Authenticate, req, &resp));
  BALE_RETURN_IF_ERROR(FromGrpc(s, "authenticate as " + options_.user));
  token_ = resp.token();
  return Status::OK();
}

void EtcdClient::AddToken(grpc::ClientContext* ctx) const {
  if (!token_.empty()) ctx->AddMetadata("token", token_);
}

Status EtcdClient::Put(std::string_view key, std::string_view value, int64_t lease_id) {
  pb::PutRequest req;
  req.set_key(std::string(key));
  req.set_value(std::string(value));
  req.set_lease(lease_id);
  pb::PutResponse resp;
  return Call(EtcdRequest::kPut, "put", Unary(&Stubs::kv, &pb::KV::Stub::Put, req, &resp));
}

Status EtcdClient::Get(std::string_view key, std::string* value, int64_t* mod_revision,
                       int64_t* header_revision) {
  pb::RangeRequest req;
  req.set_key(std::string(key));
  pb::RangeResponse resp;
  BALE_RETURN_IF_ERROR(
      Call(EtcdRequest::kRange, "get", Unary(&Stubs::kv, &pb::KV::Stub::Range, req, &resp)));
  if (header_revision != nullptr) *header_revision = resp.header().revision();
  if (resp.kvs_size() == 0) return Status::NotFound(key);
  if (value != nullptr) *value = resp.kvs(0).value();
  if (mod_revision != nullptr) *mod_revision = resp.kvs(0).mod_revision();
  return Status::OK();
}

Status EtcdClient::Range(std::string_view prefix, std::vector<KeyValue>* out,
                         int64_t* header_revision) {
  pb::RangeRequest req;
  req.set_key(prefix.empty() ? std::string(1, '\0') : std::string(prefix));
  req.set_range_end(PrefixEnd(prefix));
  pb::RangeResponse resp;
  BALE_RETURN_IF_ERROR(
      Call(EtcdRequest::kRange, "range", Unary(&Stubs::kv, &pb::KV::Stub::Range, req, &resp)));
  out->clear();
  for (const auto& kv : resp.kvs()) {
    out->push_back(
        KeyValue{kv.key(), kv.value(), kv.create_revision(), kv.mod_revision(), kv.lease()});
  }
  if (header_revision != nullptr) *header_revision = resp.header().revision();
  return Status::OK();
}

Status EtcdClient::Delete(std::string_view key) {
  pb::DeleteRangeRequest req;
  req.set_key(std::string(key));
  pb::DeleteRangeResponse resp;
  return Call(EtcdRequest::kDelete, "delete",
              Unary(&Stubs::kv, &pb::KV::Stub::DeleteRange, req, &resp));
}

Status EtcdClient::Compact(int64_t revision) {
  pb::CompactionRequest req;
  req.set_revision(revision);
  pb::CompactionResponse resp;
  return Call(EtcdRequest::kCompact, "compact",
              Unary(&Stubs::kv, &pb::KV::Stub::Compact, req, &resp));
}

Status EtcdClient::PutIf(std::string_view key, std::string_view value,
                         int64_t expected_mod_revision, bool* succeeded, int64_t* new_revision,
                         int64_t lease_id) {
  pb::TxnRequest req;
  pb::Compare* cmp = req.add_compare();
  cmp->set_key(std::string(key));
  cmp->set_result(pb::Compare::EQUAL);
  if (expected_mod_revision == 0) {
    cmp->set_target(pb::Compare::CREATE);  // create_revision 0: the key is absent
    cmp->set_create_revision(0);
  } else {
    cmp->set_target(pb::Compare::MOD);
    cmp->set_mod_revision(expected_mod_revision);
  }
  pb::PutRequest* put = req.add_success()->mutable_request_put();
  put->set_key(std::string(key));
  put->set_value(std::string(value));
  put->set_lease(lease_id);
  req.add_failure()->mutable_request_range()->set_key(std::string(key));
  pb::TxnResponse resp;
  BALE_RETURN_IF_ERROR(
      Call(EtcdRequest::kTxn, "txn", Unary(&Stubs::kv, &pb::KV::Stub::Txn, req, &resp)));
  *succeeded = resp.succeeded();
  if (resp.succeeded()) {
    *new_revision = resp.header().revision();
  } else {
    const auto& range = resp.responses(0).response_range();
    *new_revision = range.kvs_size() == 0 ? 0 : range.kvs(0).mod_revision();
  }
  return Status::OK();
}

Status EtcdClient::GrantLease(int64_t ttl_seconds, int64_t* id, int64_t* granted_ttl) {
  pb::LeaseGrantRequest req;
  req.set_ttl(ttl_seconds);
  pb::LeaseGrantResponse resp;
  BALE_RETURN_IF_ERROR(Call(EtcdRequest::kLease, "lease grant",
                            Unary(&Stubs::lease, &pb::Lease::Stub::LeaseGrant, req, &resp)));
  if (!resp.error().empty()) return Status::IOError("etcd lease grant: " + resp.error());
  *id = resp.id();
  *granted_ttl = resp.ttl();
  return Status::OK();
}

Status EtcdClient::KeepAliveOnce(int64_t id, int64_t* ttl) {
  pb::LeaseKeepAliveResponse resp;
  bool answered = false;
  BALE_RETURN_IF_ERROR(Call(EtcdRequest::kKeepAlive, "lease keep-alive",
                            [&](grpc::ClientContext* ctx, Stubs& stubs) {
                              auto stream = stubs.lease->LeaseKeepAlive(ctx);
                              pb::LeaseKeepAliveRequest req;
                              req.set_id(id);
                              if (stream->Write(req)) answered = stream->Read(&resp);
                              stream->WritesDone();
                              if (answered) ctx->TryCancel();  // nothing more to read
                              grpc::Status s = stream->Finish();
                              return answered ? grpc::Status::OK : s;
                            }));
  if (!answered) return Status::Unavailable("etcd lease keep-alive: no answer");
  if (resp.ttl() <= 0) return Status::NotFound("etcd lease " + std::to_string(id) + " is gone");
  *ttl = resp.ttl();
  return Status::OK();
}

Status EtcdClient::RevokeLease(int64_t id) {
  pb::LeaseRevokeRequest req;
  req.set_id(id);
  pb::LeaseRevokeResponse resp;
  return Call(EtcdRequest::kLease, "lease revoke",
              Unary(&Stubs::lease, &pb::Lease::Stub::LeaseRevoke, req, &resp));
}

Status EtcdClient::Watch(std::string_view key, bool prefix, int64_t start_revision,
                         std::unique_ptr<EtcdWatch>* out) {
  Status s = WatchOnce(key, prefix, start_revision, out);
  // etcd cancels a watch whose stream's token it does not know as "permission denied".
  std::string_view m = s.message();
  if (!s.ok() && !options_.user.empty() &&
      (m.find("auth token") != m.npos || m.find("permission denied") != m.npos)) {
    BALE_RETURN_IF_ERROR(Authenticate(/*again=*/true));
    s = WatchOnce(key, prefix, start_revision, out);
  }
  return s;
}

Status EtcdClient::WatchOnce(std::string_view key, bool prefix, int64_t start_revision,
                             std::unique_ptr<EtcdWatch>* out) {
  BALE_RETURN_IF_ERROR(Authenticate(/*again=*/false));
  auto stream = std::make_unique<EtcdWatch::Stream>(stubs_[current_]->channel);
  AddToken(&stream->ctx);
  // Abort cancels the stream while it is being set up (not after: Next is the owner's).
  if (!Register(&stream->ctx)) return Status::Unavailable("etcd client aborted");
  Count(EtcdRequest::kWatch);
  std::unique_ptr<EtcdWatch> watch(new EtcdWatch(std::move(stream)));
  Status s = watch->Start(std::string(key), prefix ? PrefixEnd(key) : std::string(), start_revision,
                          deadline_);
  Unregister();
  if (s.ok()) *out = std::move(watch);
  return s;
}

Status EtcdClient::Campaign(std::string_view name, std::string_view value, int64_t lease_id,
                            std::chrono::milliseconds deadline, LeaderKey* out) {
  epb::CampaignRequest req;
  req.set_name(std::string(name));
  req.set_value(std::string(value));
  req.set_lease(lease_id);
  epb::CampaignResponse resp;
  BALE_RETURN_IF_ERROR(Authenticate(/*again=*/false));
  grpc::ClientContext ctx;
  ctx.set_deadline(std::chrono::system_clock::now() + deadline);
  AddToken(&ctx);
  if (!Register(&ctx)) return Status::Unavailable("etcd client aborted");
  Count(EtcdRequest::kElection);
  grpc::Status s = stubs_[current_]->election->Campaign(&ctx, req, &resp);
  Unregister();
  BALE_RETURN_IF_ERROR(FromGrpc(s, "campaign"));
  const auto& leader = resp.leader();
  *out = LeaderKey{leader.name(), leader.key(), leader.rev(), leader.lease()};
  return Status::OK();
}

Status EtcdClient::Leader(std::string_view name, std::string* value) {
  epb::LeaderRequest req;
  req.set_name(std::string(name));
  epb::LeaderResponse resp;
  BALE_RETURN_IF_ERROR(Call(EtcdRequest::kElection, "leader",
                            Unary(&Stubs::election, &epb::Election::Stub::Leader, req, &resp)));
  *value = resp.kv().value();
  return Status::OK();
}

Status EtcdClient::Resign(const LeaderKey& leader) {
  epb::ResignRequest req;
  epb::LeaderKey* key = req.mutable_leader();
  key->set_name(leader.name);
  key->set_key(leader.key);
  key->set_rev(leader.rev);
  key->set_lease(leader.lease);
  epb::ResignResponse resp;
  return Call(EtcdRequest::kElection, "resign",
              Unary(&Stubs::election, &epb::Election::Stub::Resign, req, &resp));
}

}  // namespace bale::coord
