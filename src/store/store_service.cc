#include "store/store_service.h"

#include <cstdio>
#include <optional>
#include <string>
#include <utility>

#include "net/conn.h"
#include "proto/handshake.h"

namespace bale {

using proto::Frame;
using proto::FrameOp;
using proto::WireStatus;

class StoreService::Handler final : public net::Handler {
 public:
  Handler(StoreService* service, LoopState* loop, net::Conn& conn);
  size_t OnInput(std::string_view input, net::Conn& conn) override;
  void OnTick(time_t now, net::Conn& conn) override;

 private:
  using Clock = std::chrono::steady_clock;
  enum class Auth : uint8_t { kServing, kHandshake, kRefused };
  // The handshake's frames at the front of input; returns the bytes used.
  size_t Handshake(std::string_view input, net::Conn& conn);
  // The failure path: logged, counted, closed on a tick after the delay.
  void Refuse(net::Conn& conn, std::string_view why);
  // Answers one well-formed frame; false if the connection must close after it.
  bool Serve(const Frame& f, const ClusterMap& map, net::Conn& conn);
  // The epoch and partition checks; false (and the error frame written) if refused.
  bool Fenced(const Frame& f, const ClusterMap& map, std::string* out);
  bool Routed(const Frame& f, const ClusterMap& map, std::string* out);
  void Get(const Frame& f, uint64_t epoch, net::Conn& conn);
  bool Mutate(const Frame& f, uint64_t epoch, net::Conn& conn);
  bool PutAtomic(const Frame& f, const ClusterMap& map, net::Conn& conn);
  void Hello(const Frame& f, std::string* out);
  void Error(std::string* out, uint64_t id, uint64_t epoch, WireStatus status,
             std::string_view message);

  StoreService* service_;
  LoopState* loop_;
  uint64_t commit_round_ = 0;  // the group commit round this connection last held in
  Auth auth_ = Auth::kServing;
  std::optional<proto::ServerHandshake> handshake_;
  Clock::time_point since_;  // accepted (kHandshake), refused (kRefused)
};

std::vector<StoreServiceCounters::Named> StoreServiceCounters::List() const {
  auto v = [](const std::atomic<uint64_t>& c) { return c.load(std::memory_order_relaxed); };
  return {
      {"frames", "well-formed request frames", v(frames)},
      {"gets", "GET frames", v(gets)},
      {"mutations", "MUTATE, FLUSH_ALL and PUT_ATOMIC frames", v(mutations)},
      {"wrong_epoch", "requests refused for another map epoch", v(wrong_epoch)},
      {"not_held", "requests for a partition not held here", v(not_held)},
      {"bad_frame", "malformed frames and unsupported versions", v(bad_frame)},
      {"too_large", "frames past --max-frame", v(too_large)},
      {"bad_request", "well-formed requests refused (key in another partition)", v(bad_request)},
      {"unavailable", "answers that a partition is unavailable", v(unavailable)},
      {"commit_failures", "group commits that failed", v(commit_failures)},
      {"auth_ok", "connections that passed the cluster handshake", v(auth_ok)},
      {"auth_failures", "connections refused by the cluster handshake or TLS, or timed out",
       v(auth_failures)},
      {"tls_failures", "connections whose TLS handshake failed or timed out", v(tls_failures)},
  };
}

StoreService::StoreService(ObjectStore* store, std::shared_ptr<const ClusterMap> map,
                           proto::FrameLimits limits, StoreAuth auth)
    : store_(store), map_(std::move(map)), limits_(limits), auth_(std::move(auth)) {}

StoreService::~StoreService() = default;

void StoreService::AttachLoop(net::Loop& loop) {
  auto index = static_cast<size_t>(loop.index());
  if (loops_.size() <= index) loops_.resize(index + 1);
  loops_[index] = std::make_unique<LoopState>(store_, &counters_);
  loop.AddRoundHook(loops_[index].get());
}

std::unique_ptr<net::Handler> StoreService::NewHandler(net::Loop& loop, net::Conn& conn) {
  return std::make_unique<Handler>(this, loops_[static_cast<size_t>(loop.index())].get(), conn);
}

void StoreService::OnTlsFailure(net::Conn& conn, std::string_view why) {
  StoreServiceCounters::Add(counters_.auth_failures);
  StoreServiceCounters::Add(counters_.tls_failures);
  Log("refused " + conn.PeerAddress() + ": TLS handshake failed (" + std::string(why) +
      "); closing it");
}

void StoreService::Log(const std::string& line) const {
  if (auth_.log) return auth_.log(line);
  std::fprintf(stderr, "bale store: %s\n", line.c_str());
}

void StoreService::LoopState::OnRoundEnd(net::Loop& loop) {
  bool pending = session->commit_pending();
  if (!pending && held.empty()) return;
  bool ok = !pending || session->Commit().ok();
  if (!ok) StoreServiceCounters::Add(counters_->commit_failures);
  held.Settle(loop, ok);
}

StoreService::Handler::Handler(StoreService* service, LoopState* loop, net::Conn& conn)
    : service_(service), loop_(loop), since_(Clock::now()) {
  if (service_->auth_.secret.empty()) return;
  auth_ = Auth::kHandshake;
  proto::Nonce nonce;
  Status s = proto::NewNonce(&nonce);
  if (s.ok()) {
    handshake_.emplace(service_->auth_.secret, nonce);
  } else {
    Refuse(conn, s.ToString());
  }
}

size_t StoreService::Handler::Handshake(std::string_view input, net::Conn& conn) {
  // Tight limits: an unauthenticated peer makes the node buffer nothing large.
  proto::FrameLimits limits{proto::kMaxHandshakeFrame};
  size_t used = 0;
  while (auth_ == Auth::kHandshake && used < input.size()) {
    Frame f;
    proto::DecodeResult r = proto::DecodeFrame(input.substr(used), limits, &f);
    if (r.status == proto::DecodeStatus::kNeedMore) break;
    if (r.status == proto::DecodeStatus::kBad) {
      Refuse(conn, "a bad frame before the cluster handshake (" + std::string(r.message) + ")");
      break;
    }
    used += f.size;
    std::string_view why;
    switch (handshake_->OnFrame(f, &conn.out(), &why)) {
      case proto::HandshakeResult::kContinue:
        break;
      case proto::HandshakeResult::kDone:
        auth_ = Auth::kServing;
        handshake_.reset();
        StoreServiceCounters::Add(service_->counters_.auth_ok);
        break;
      case proto::HandshakeResult::kFailed:
        Refuse(conn, why);
        break;
    }
  }
  return auth_ == Auth::kRefused ? input.size() : used;
}

void StoreService::Handler::Refuse(net::Conn& conn, std::string_view why) {
  auth_ = Auth::kRefused;
  handshake_.reset();
  since_ = Clock::now();
  StoreServiceCounters::Add(service_->counters_.auth_failures);
  service_->Log("refused " + conn.PeerAddress() + ": " + std::string(why) +
                "; closing it without an answer");
}

void StoreService::Handler::OnTick(time_t, net::Conn& conn) {
  if (auth_ == Auth::kServing) return;
  auto elapsed = std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now() - since_);
  const StoreAuth& a = service_->auth_;
  if (auth_ == Auth::kRefused && elapsed.count() >= a.failure_delay_ms) return conn.Close();
  if (auth_ == Auth::kHandshake && elapsed.count() >= a.handshake_timeout_ms) {
    Refuse(conn, "no cluster handshake within " + std::to_string(a.handshake_timeout_ms) + " ms");
    conn.Close();  // it waited long enough
  }
}

size_t StoreService::Handler::OnInput(std::string_view input, net::Conn& conn) {
  if (auth_ == Auth::kRefused) return input.size();  // discarded until the close
  size_t used = auth_ == Auth::kHandshake ? Handshake(input, conn) : 0;
  if (auth_ != Auth::kServing) return used;
  std::shared_ptr<const ClusterMap> map = service_->map();  // one map per input batch
  while (conn.open() && !conn.closing() && !conn.OutputFull() && used < input.size()) {
    Frame f;
    proto::DecodeResult r = proto::DecodeFrame(input.substr(used), service_->limits_, &f);
    if (r.status == proto::DecodeStatus::kNeedMore) break;
    if (r.status == proto::DecodeStatus::kBad) {
      Error(&conn.out(), 0, map->epoch(), r.error, r.message);
      conn.CloseAfterReplies(/*linger=*/false);
      return input.size();
    }
    used += f.size;
    StoreServiceCounters::Add(service_->counters_.frames);
    size_t reply_at = conn.out().size();
    bool keep = Serve(f, *map, conn);
    if (loop_->session->commit_pending()) loop_->held.Hold(conn, reply_at, &commit_round_);
    if (!keep) {
      conn.CloseAfterReplies(/*linger=*/false);
      return input.size();
    }
  }
  return used;
}

bool StoreService::Handler::Serve(const Frame& f, const ClusterMap& map, net::Conn& conn) {
  std::string* out = &conn.out();
  uint64_t id = f.header.request_id, epoch = map.epoch();
  if (f.header.reply()) {
    Error(out, id, epoch, WireStatus::kBadFrame, "a reply sent to a store node");
    return false;
  }
  switch (f.header.op) {
    case FrameOp::kHello:
      Hello(f, out);
      return true;
    case FrameOp::kStats:
      proto::AppendStatsReply(out, id, epoch, service_->store_->Stats());
      return true;
    case FrameOp::kGet:
      if (Fenced(f, map, out) && Routed(f, map, out)) Get(f, epoch, conn);
      return true;
    case FrameOp::kMutate:
      return !Fenced(f, map, out) || !Routed(f, map, out) || Mutate(f, epoch, conn);
    case FrameOp::kFlushAll:
      return !Fenced(f, map, out) || Mutate(f, epoch, conn);
    case FrameOp::kPutAtomic:
      return !Fenced(f, map, out) || PutAtomic(f, map, conn);
    case FrameOp::kError:
      break;
  }
  Error(out, id, epoch, WireStatus::kBadFrame, "not a request");
  return false;
}

bool StoreService::Handler::Fenced(const Frame& f, const ClusterMap& map, std::string* out) {
  if (f.header.epoch == map.epoch()) return true;
  Error(out, f.header.request_id, map.epoch(), WireStatus::kWrongEpoch,
        "frame epoch " + std::to_string(f.header.epoch) + ", node epoch " +
            std::to_string(map.epoch()));
  return false;
}

bool StoreService::Handler::Routed(const Frame& f, const ClusterMap& map, std::string* out) {
  uint32_t p = f.header.partition;
  if (!map.Holds(p)) {
    Error(out, f.header.request_id, map.epoch(), WireStatus::kNotHeld,
          "partition " + std::to_string(p) + " is not held here");
    return false;
  }
  if (f.key.empty() || map.PartitionOf(f.key) != p) {
    Error(out, f.header.request_id, map.epoch(), WireStatus::kBadRequest,
          "the key is not in partition " + std::to_string(p));
    return false;
  }
  return true;
}

void StoreService::Handler::Get(const Frame& f, uint64_t epoch, net::Conn& conn) {
  uint64_t id = f.header.request_id;
  proto::GetRequest get;
  if (!proto::DecodeGet(f, &get)) {
    Error(&conn.out(), id, epoch, WireStatus::kBadFrame, "bad GET extras");
    conn.CloseAfterReplies(/*linger=*/false);
    return;
  }
  StoreServiceCounters::Add(service_->counters_.gets);
  ObjectView v;
  Status s = service_->store_->Get(loop_->session.get(), get.key, get.options(), &v);
  std::string& out = conn.out();
  if (s.ok()) {
    if (v.fd >= 0 && v.value.size() >= kValueSendfileBytes) {
      proto::AppendValueHead(&out, id, epoch, v);
      conn.files().push_back(
          net::FileSend{out.size(), v.hold, v.fd, v.value_offset, v.value.size()});
    } else {
      proto::AppendValue(&out, id, epoch, v);
    }
    v.Release();
    return;
  }
  WireStatus w = s.IsNotFound()      ? WireStatus::kNotFound
                 : s.IsCorruption()  ? WireStatus::kCorruption
                 : s.IsUnavailable() ? WireStatus::kUnavailable
                                     : WireStatus::kError;
  if (w == WireStatus::kUnavailable) StoreServiceCounters::Add(service_->counters_.unavailable);
  proto::AppendGetMiss(&out, id, epoch, w, s.message());
}

// MUTATE and FLUSH_ALL.
bool StoreService::Handler::Mutate(const Frame& f, uint64_t epoch, net::Conn& conn) {
  uint64_t id = f.header.request_id;
  FrameOp op = f.header.op;
  Mutation m;
  uint32_t when = 0;
  bool ok = op == FrameOp::kMutate ? proto::DecodeMutate(f, &m) : proto::DecodeFlushAll(f, &when);
  if (!ok) {
    Error(&conn.out(), id, epoch, WireStatus::kBadFrame, "bad MUTATE or FLUSH_ALL extras");
    return false;
  }
  StoreServiceCounters::Add(service_->counters_.mutations);
  auto reply = [&](const MutationResult& r) {
    if (r.status == MutationStatus::kUnavailable) {
      StoreServiceCounters::Add(service_->counters_.unavailable);
    }
    proto::AppendResult(&conn.out(), op, id, epoch, r);
  };
  CallbackCompletion<decltype(reply)> done(reply);
  if (op == FrameOp::kMutate) {
    service_->store_->Mutate(loop_->session.get(), m, &done);
  } else {
    service_->store_->FlushAll(when, loop_->session.get(), &done);
  }
  return true;
}

bool StoreService::Handler::PutAtomic(const Frame& f, const ClusterMap& map, net::Conn& conn) {
  uint64_t id = f.header.request_id, epoch = map.epoch();
  std::vector<BatchPut> items;
  if (!proto::DecodePutAtomic(f, &items)) {
    Error(&conn.out(), id, epoch, WireStatus::kBadFrame, "bad PUT_ATOMIC body");
    return false;
  }
  for (const BatchPut& b : items) {
    uint32_t p = map.PartitionOf(b.key);
    if (!map.Holds(p)) {
      Error(&conn.out(), id, epoch, WireStatus::kNotHeld,
            "partition " + std::to_string(p) + " is not held here");
      return true;
    }
  }
  StoreServiceCounters::Add(service_->counters_.mutations);
  auto reply = [&](const MutationResult& r) {
    proto::AppendPutAtomicResult(&conn.out(), id, epoch, r, items);
  };
  CallbackCompletion<decltype(reply)> done(reply);
  service_->store_->PutAtomic(items, loop_->session.get(), &done);
  return true;
}

void StoreService::Handler::Hello(const Frame& f, std::string* out) {
  proto::Hello peer;
  if (!proto::DecodeHello(f, &peer) || peer.min_version > proto::kFrameVersion ||
      peer.max_version < proto::kFrameVersion) {
    Error(out, f.header.request_id, 0, WireStatus::kUnsupportedVersion,
          "this node speaks version 1 only");
    return;
  }
  proto::AppendHello(out, f.header.request_id, proto::Hello{}, /*reply=*/true);
}

void StoreService::Handler::Error(std::string* out, uint64_t id, uint64_t epoch, WireStatus status,
                                  std::string_view message) {
  StoreServiceCounters& c = service_->counters_;
  switch (status) {
    case WireStatus::kWrongEpoch:
      StoreServiceCounters::Add(c.wrong_epoch);
      break;
    case WireStatus::kNotHeld:
      StoreServiceCounters::Add(c.not_held);
      break;
    case WireStatus::kTooLarge:
      StoreServiceCounters::Add(c.too_large);
      break;
    case WireStatus::kBadRequest:
      StoreServiceCounters::Add(c.bad_request);
      break;
    default:
      StoreServiceCounters::Add(c.bad_frame);
      break;
  }
  proto::AppendError(out, id, epoch, status, message);
}

}  // namespace bale
