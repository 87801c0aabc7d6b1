#include "store/store_service.h"

#include <string>
#include <utility>

#include "net/conn.h"

namespace bale {

using proto::Frame;
using proto::FrameOp;
using proto::WireStatus;

class StoreService::Handler final : public net::Handler {
 public:
  Handler(StoreService* service, LoopState* loop) : service_(service), loop_(loop) {}
  size_t OnInput(std::string_view input, net::Conn& conn) override;

 private:
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
};

StoreService::StoreService(ObjectStore* store, std::shared_ptr<const ClusterMap> map,
                           proto::FrameLimits limits)
    : store_(store), map_(std::move(map)), limits_(limits) {}

StoreService::~StoreService() = default;

void StoreService::AttachLoop(net::Loop& loop) {
  auto index = static_cast<size_t>(loop.index());
  if (loops_.size() <= index) loops_.resize(index + 1);
  loops_[index] = std::make_unique<LoopState>(store_, &counters_);
  loop.AddRoundHook(loops_[index].get());
}

std::unique_ptr<net::Handler> StoreService::NewHandler(net::Loop& loop, net::Conn&) {
  return std::make_unique<Handler>(this, loops_[static_cast<size_t>(loop.index())].get());
}

void StoreService::LoopState::OnRoundEnd(net::Loop& loop) {
  bool pending = session->commit_pending();
  if (!pending && held.empty()) return;
  bool ok = !pending || session->Commit().ok();
  if (!ok) StoreServiceCounters::Add(counters_->commit_failures);
  held.Settle(loop, ok);
}

size_t StoreService::Handler::OnInput(std::string_view input, net::Conn& conn) {
  std::shared_ptr<const ClusterMap> map = service_->map();  // one map per input batch
  size_t used = 0;
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
