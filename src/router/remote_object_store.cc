#include "router/remote_object_store.h"

#include <algorithm>
#include <chrono>
#include <map>
#include <thread>

#include "proto/memcache_parser.h"
#include "router/store_client.h"

namespace bale::router {
namespace {

constexpr size_t kTailBytes = 64 << 10;  // values from here are sent without a copy

std::string NodeName(const ClusterNode& n) {
  return n.id + " (" + n.host + ":" + std::to_string(n.port) + ")";
}

bool SameAddress(const ClusterNode* a, const ClusterNode* b) {
  return a != nullptr && b != nullptr && a->host == b->host && a->port == b->port;
}

MutationResult Failed(MutationStatus status, Status error) {
  MutationResult r;
  r.status = status;
  r.error = std::move(error);
  return r;
}

}  // namespace

class RemoteObjectStore::Session final : public ObjectSession {
 public:
  Session(MapHolder* maps, const RouterOptions& options) : maps_(maps), options_(options) {}

  bool commit_pending() const override { return false; }
  Status Commit() override { return Status::OK(); }
  void TrimBuffers(size_t) override {}

  // Round batching (frontend/object_store.h): Speculate records, SendRound sends the
  // round's calls at once, Replay hands their replies out in order.
  bool batches_rounds() const override { return true; }
  void Speculate(bool on) override { mode_ = on ? Mode::kSpeculate : Mode::kDirect; }
  uint64_t speculated_calls() const override { return speculated_; }
  uint32_t recorded() const override { return static_cast<uint32_t>(round_used_); }
  void DropRecorded(uint32_t from) override { round_used_ = std::min<size_t>(round_used_, from); }
  void SendRound() override {
    if (round_used_ > 0) {
      (void)RunCalls(std::span<StoreCall>(round_.data(), round_used_), options_.store_timeout_ms);
    }
  }
  void Replay(std::span<const uint32_t> calls) override {
    mode_ = Mode::kReplay;
    replay_ = calls;
    cursor_ = 0;
  }
  void EndRound() override {
    mode_ = Mode::kDirect;
    replay_ = {};
    round_used_ = 0;
    retired_.clear();
  }
  bool speculating() const { return mode_ == Mode::kSpeculate; }
  // Counted by a speculative FlushAll or PutAtomic, which record nothing.
  void CountSpeculated() { speculated_++; }
  // The call recorded for `key` by this request's speculative run, next in order; null
  // when the request made no such call then (it is made now).
  StoreCall* Replayed(proto::FrameOp op, std::string_view key) {
    if (mode_ != Mode::kReplay || cursor_ >= replay_.size()) return nullptr;
    uint32_t i = replay_[cursor_];
    if (i >= round_used_ || round_ops_[i] != op || round_keys_[i] != key) return nullptr;
    cursor_++;
    return &round_[i];
  }
  // Before a call made now while replaying: the round's replies that views may still
  // point at are kept aside (a call empties its connection's read buffer).
  void KeepRoundReplies() {
    if (mode_ != Mode::kReplay) return;
    for (auto& [name, conn] : conns_) conn->KeepBuffer(&retired_);
  }

  StoreConnection* ConnectionTo(const ClusterNode& node) {
    std::string name = node.host + ":" + std::to_string(node.port);
    auto it = conns_.find(name);
    if (it == conns_.end()) {
      it = conns_
               .emplace(name,
                        std::make_unique<StoreConnection>(node.host, node.port, options_.limits,
                                                          options_.cluster_secret, options_.tls))
               .first;
    }
    return it->second.get();
  }

  // Sends the request `encode(epoch, &frame)` (plus `tail`) for `partition` to the node
  // that owns it, retrying as the contract says. OK: call_.reply is the node's reply
  // (an error frame other than WRONG_EPOCH or NOT_HELD included).
  // Speculating, it records the call instead (op and key name it for Replayed) and
  // returns OK; replaying, `replayed` (if any) is the first attempt's answer.
  template <class Encode>
  Status Call(uint32_t partition, Encode encode, std::string_view tail, proto::FrameOp op,
              std::string_view key) {
    DropPrefetch();
    StoreCall* replayed = Replayed(op, key);
    std::shared_ptr<const ClusterMap> map = maps_->Get();
    if (map == nullptr) return Status::Unavailable("the router has no cluster map yet");
    if (mode_ == Mode::kSpeculate) return Record(*map, partition, encode, tail, op, key);
    Status last;
    bool resent = false;
    // A node whose map differs is waited for until the store timeout passes; other
    // failures are retried only on another node.
    auto deadline =
        std::chrono::steady_clock::now() + std::chrono::milliseconds(options_.store_timeout_ms);
    for (int attempt = 0; attempt < 64 && std::chrono::steady_clock::now() < deadline; attempt++) {
      const ClusterNode* owner = map->OwnerOf(partition);
      if (owner == nullptr) {
        return Status::Unavailable("partition " + std::to_string(partition) +
                                   " has no store node yet");
      }
      if (replayed != nullptr) {  // the round sent it: its answer is the first attempt's
        SwapAnswer(replayed);
        replayed = nullptr;
      } else {
        call_.conn = ConnectionTo(*owner);
        call_.request.clear();
        encode(map->epoch(), &call_.request);
        call_.tail = tail;
        KeepRoundReplies();
        (void)RunCall(call_, options_.store_timeout_ms);
      }
      std::string where = "partition " + std::to_string(partition) + ", store " + NodeName(*owner);
      if (!call_.status.ok()) {
        last = Status::Unavailable(where + ": " + std::string(call_.status.message()));
        if (call_.peer_closed && !resent) {  // a pooled connection the node had closed
          resent = true;
          continue;
        }
        std::shared_ptr<const ClusterMap> newer = maps_->Get();
        if (newer->epoch() > map->epoch() && newer->OwnerOf(partition) != nullptr &&
            !SameAddress(newer->OwnerOf(partition), owner)) {
          map = std::move(newer);
          continue;
        }
        return last;
      }
      const proto::Frame& f = call_.reply;
      if (f.header.op != proto::FrameOp::kError) return Status::OK();
      if (f.header.status == proto::WireStatus::kWrongEpoch) {
        uint64_t node_epoch = f.header.epoch;
        last = Status::Unavailable(where + " is at map epoch " + std::to_string(node_epoch) +
                                   ", the router at " + std::to_string(map->epoch()));
        auto left = std::max(std::chrono::duration_cast<std::chrono::milliseconds>(
                                 deadline - std::chrono::steady_clock::now()),
                             std::chrono::milliseconds(0));
        if (node_epoch > map->epoch()) {
          map = maps_->WaitNewer(node_epoch, left);
          if (map->epoch() < node_epoch) return last;  // not caught up within the timeout
        } else {  // the node has not seen our map yet: give it a moment
          std::this_thread::sleep_for(std::min(left, std::chrono::milliseconds(20)));
          map = maps_->Get();
        }
        continue;
      }
      if (f.header.status == proto::WireStatus::kNotHeld) {
        last = Status::Unavailable(where + " does not hold it");
        std::shared_ptr<const ClusterMap> newer = maps_->Get();
        if (newer->epoch() <= map->epoch()) return last;
        map = std::move(newer);
        continue;
      }
      return Status::OK();
    }
    return last;
  }

  // Multi-get: one call per key, sent together (RunCalls writes each node's at once).
  void Prefetch(std::string_view keys, const LookupOptions& options) {
    DropPrefetch();
    if (mode_ != Mode::kDirect) return;  // a round's calls go together anyway
    std::shared_ptr<const ClusterMap> map = maps_->Get();
    if (map == nullptr) return;
    std::string_view rest = keys, key;
    while (proto::NextToken(&rest, &key)) {
      uint32_t p = map->PartitionOf(key);
      const ClusterNode* owner = map->OwnerOf(p);
      if (owner == nullptr || key.size() > proto::kMaxFrameKey) break;
      StoreCall& c = prefetch_.emplace_back();
      c.conn = ConnectionTo(*owner);
      proto::AppendGet(&c.request, 0, map->epoch(), p, proto::GetRequest::From(key, options));
      prefetch_keys_.emplace_back(key);
    }
    if (prefetch_.size() < 2) return DropPrefetch();
    (void)RunCalls(prefetch_, options_.store_timeout_ms);
  }

  // The prefetched reply for `key` if it is the next one and usable, else null (and
  // the prefetch is dropped: the next call may reuse the connections' buffers).
  const proto::Frame* Prefetched(std::string_view key) {
    if (next_ < prefetch_.size() && prefetch_keys_[next_] == key) {
      StoreCall& c = prefetch_[next_++];
      bool retry = !c.status.ok() || (c.reply.header.op == proto::FrameOp::kError &&
                                      (c.reply.header.status == proto::WireStatus::kWrongEpoch ||
                                       c.reply.header.status == proto::WireStatus::kNotHeld));
      if (!retry) return &c.reply;
    }
    DropPrefetch();
    return nullptr;
  }

  void DropPrefetch() {
    prefetch_.clear();
    prefetch_keys_.clear();
    next_ = 0;
  }

  const proto::Frame& reply() const { return call_.reply; }

 private:
  enum class Mode { kDirect, kSpeculate, kReplay };

  template <class Encode>
  Status Record(const ClusterMap& map, uint32_t partition, Encode encode, std::string_view tail,
                proto::FrameOp op, std::string_view key) {
    speculated_++;
    const ClusterNode* owner = map.OwnerOf(partition);
    if (owner == nullptr) return Status::OK();  // replayed as a call made then
    if (round_used_ == round_.size()) {
      round_.emplace_back();
      round_ops_.emplace_back();
      round_keys_.emplace_back();
    }
    StoreCall& c = round_[round_used_];
    c.conn = ConnectionTo(*owner);
    c.request.clear();
    encode(map.epoch(), &c.request);
    c.request.append(tail);  // the round outlives the request's input: no tail by view
    c.tail = {};
    round_ops_[round_used_] = op;
    round_keys_[round_used_].assign(key);
    round_used_++;
    return Status::OK();
  }

  // The replayed call's answer as call_'s (its reply's views stay in the kept buffers).
  void SwapAnswer(StoreCall* replayed) {
    call_.conn = replayed->conn;
    call_.status = replayed->status;
    call_.peer_closed = replayed->peer_closed;
    call_.reply = replayed->reply;
  }

  MapHolder* maps_;
  const RouterOptions& options_;
  std::map<std::string, std::unique_ptr<StoreConnection>> conns_;  // by host:port
  StoreCall call_;
  std::vector<StoreCall> prefetch_;
  std::vector<std::string> prefetch_keys_;
  size_t next_ = 0;
  // Round batching: the round's recorded calls (reused from round to round), what each
  // is, the replay's order, and the read buffers kept while their replies are read.
  Mode mode_ = Mode::kDirect;
  uint64_t speculated_ = 0;
  std::vector<StoreCall> round_;
  std::vector<proto::FrameOp> round_ops_;
  std::vector<std::string> round_keys_;
  size_t round_used_ = 0;
  std::span<const uint32_t> replay_;
  size_t cursor_ = 0;
  std::vector<std::string> retired_;
};

std::unique_ptr<ObjectSession> RemoteObjectStore::NewSession() {
  return std::make_unique<Session>(maps_, options_);
}

bool RemoteObjectStore::Colocated(std::string_view a, std::string_view b) const {
  std::shared_ptr<const ClusterMap> map = maps_->Get();
  return map != nullptr && map->OwnerOf(map->PartitionOf(a)) == map->OwnerOf(map->PartitionOf(b));
}

uint32_t RemoteObjectStore::PartitionOf(std::string_view key) const {
  std::shared_ptr<const ClusterMap> map = maps_->Get();
  return map == nullptr ? 0 : map->PartitionOf(key);
}

uint32_t RemoteObjectStore::partitions() const {
  std::shared_ptr<const ClusterMap> map = maps_->Get();
  return map == nullptr ? 0 : map->partition_count();
}

namespace {

Status ViewFromReply(const proto::Frame& f, ObjectView* view) {
  if (f.header.op == proto::FrameOp::kGet && f.header.status == proto::WireStatus::kOk) {
    *view = ObjectView();
    if (!proto::DecodeValue(f, view)) return Status::IOError("a malformed reply from a store");
    return Status::OK();
  }
  Status s = proto::ReplyStatus(f);
  return s.ok() ? Status::IOError("a store answered a GET with an unexpected frame") : s;
}

}  // namespace

Status RemoteObjectStore::Get(ObjectSession* session, std::string_view key,
                              const LookupOptions& options, ObjectView* view) {
  auto* s = static_cast<Session*>(session);
  if (const proto::Frame* f = s->Prefetched(key)) return ViewFromReply(*f, view);
  std::shared_ptr<const ClusterMap> map = maps_->Get();
  if (map == nullptr) return Status::Unavailable("the router has no cluster map yet");
  uint32_t p = map->PartitionOf(key);
  proto::GetRequest get = proto::GetRequest::From(key, options);
  Status st = s->Call(
      p, [&](uint64_t epoch, std::string* out) { proto::AppendGet(out, 0, epoch, p, get); }, {},
      proto::FrameOp::kGet, key);
  if (!st.ok()) return st;
  if (s->speculating()) return Status::NotFound("speculating");  // a miss changes nothing
  return ViewFromReply(s->reply(), view);
}

void RemoteObjectStore::Prefetch(ObjectSession* session, std::string_view keys,
                                 const LookupOptions& options) {
  static_cast<Session*>(session)->Prefetch(keys, options);
}

namespace {

// A MUTATE, FLUSH_ALL or PUT_ATOMIC reply (or error frame) as a result.
MutationResult ResultFromReply(const proto::Frame& f) {
  MutationResult r;
  if (f.header.op == proto::FrameOp::kError) {
    Status s = proto::ReplyStatus(f);
    return Failed(s.IsUnavailable() ? MutationStatus::kUnavailable : MutationStatus::kError, s);
  }
  if (!proto::DecodeMutationResult(f, &r)) {
    return Failed(MutationStatus::kError, Status::IOError("a malformed reply from a store"));
  }
  return r;
}

}  // namespace

void RemoteObjectStore::Mutate(ObjectSession* session, const Mutation& m,
                               MutationCompletion* done) {
  auto* s = static_cast<Session*>(session);
  std::shared_ptr<const ClusterMap> map = maps_->Get();
  if (map == nullptr) {
    return done->Done(Failed(MutationStatus::kUnavailable,
                             Status::Unavailable("the router has no cluster map yet")));
  }
  uint32_t p = map->PartitionOf(m.key);
  bool tail = m.value.size() >= kTailBytes;
  Status st = s->Call(
      p,
      [&](uint64_t epoch, std::string* out) {
        if (tail) {
          proto::AppendMutateHead(out, 0, epoch, p, m);
        } else {
          proto::AppendMutate(out, 0, epoch, p, m);
        }
      },
      tail ? m.value : std::string_view(), proto::FrameOp::kMutate, m.key);
  if (s->speculating()) st = Status::Unavailable("speculating");
  if (!st.ok()) return done->Done(Failed(MutationStatus::kUnavailable, st));
  done->Done(ResultFromReply(s->reply()));
}

void RemoteObjectStore::FlushAll(uint32_t when, ObjectSession* session, MutationCompletion* done) {
  auto* s = static_cast<Session*>(session);
  s->DropPrefetch();
  if (s->speculating()) {  // carried out when the round is replayed
    s->CountSpeculated();
    return done->Done(Failed(MutationStatus::kUnavailable, Status::Unavailable("speculating")));
  }
  s->KeepRoundReplies();
  std::shared_ptr<const ClusterMap> map = maps_->Get();
  if (map == nullptr) {
    return done->Done(Failed(MutationStatus::kUnavailable,
                             Status::Unavailable("the router has no cluster map yet")));
  }
  // Every node that owns a partition (one that owns none has nothing to hide).
  std::vector<const ClusterNode*> owners;
  std::vector<StoreCall> calls;
  for (int attempt = 0; attempt < 3; attempt++) {
    owners.clear();
    for (uint32_t o : map->owners()) {
      if (o == ClusterMap::kNoOwner) continue;
      const ClusterNode* n = &map->nodes()[o];
      if (std::find(owners.begin(), owners.end(), n) == owners.end()) owners.push_back(n);
    }
    calls.assign(owners.size(), StoreCall());
    for (size_t i = 0; i < calls.size(); i++) {
      calls[i].conn = s->ConnectionTo(*owners[i]);
      proto::AppendFlushAll(&calls[i].request, 0, map->epoch(), when);
    }
    (void)RunCalls(calls, options_.store_timeout_ms);
    uint64_t newest = 0;
    bool resend = false;
    for (const StoreCall& c : calls) {
      if (c.status.ok() && c.reply.header.op == proto::FrameOp::kError &&
          c.reply.header.status == proto::WireStatus::kWrongEpoch) {
        newest = std::max(newest, c.reply.header.epoch);
      }
      resend = resend || (!c.status.ok() && c.peer_closed);
    }
    if (newest == 0 && !resend) break;
    if (attempt == 2) break;                      // the replies as they are answer
    if (newest != 0 && newest <= map->epoch()) {  // a node behind: give it a moment
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    } else if (newest != 0) {
      std::shared_ptr<const ClusterMap> newer =
          maps_->WaitNewer(newest, std::chrono::milliseconds(options_.store_timeout_ms));
      if (newer->epoch() < newest) break;  // not caught up: the WRONG_EPOCH replies answer
      map = std::move(newer);
    }
  }
  for (size_t i = 0; i < calls.size(); i++) {
    std::string where = "flush_all on store " + NodeName(*owners[i]) + ": ";
    if (!calls[i].status.ok()) {
      return done->Done(
          Failed(MutationStatus::kUnavailable,
                 Status::Unavailable(where + std::string(calls[i].status.message()))));
    }
    MutationResult r = ResultFromReply(calls[i].reply);
    if (r.status != MutationStatus::kOk) {
      r.error = Status::IOError(where + r.error.ToString());
      return done->Done(r);
    }
  }
  done->Done(MutationResult());
}

void RemoteObjectStore::PutAtomic(std::span<BatchPut> items, ObjectSession* session,
                                  MutationCompletion* done) {
  auto* s = static_cast<Session*>(session);
  if (s->speculating()) {  // carried out when the round is replayed
    s->CountSpeculated();
    return done->Done(Failed(MutationStatus::kUnavailable, Status::Unavailable("speculating")));
  }
  std::shared_ptr<const ClusterMap> map = maps_->Get();
  if (map == nullptr || items.empty()) {
    return done->Done(Failed(MutationStatus::kUnavailable,
                             Status::Unavailable("the router has no cluster map yet")));
  }
  uint32_t first = map->PartitionOf(items[0].key);
  const ClusterNode* owner = map->OwnerOf(first);
  for (const BatchPut& item : items) {
    const ClusterNode* o = map->OwnerOf(map->PartitionOf(item.key));
    if (o != owner) {
      return done->Done(
          Failed(MutationStatus::kInvalid,
                 Status::InvalidArgument("an atomic batch must keep to one store node's partitions "
                                         "in a cluster; these keys are on several nodes")));
    }
  }
  Status st = s->Call(
      first,
      [&](uint64_t epoch, std::string* out) { proto::AppendPutAtomic(out, 0, epoch, items); }, {},
      proto::FrameOp::kPutAtomic, items[0].key);
  if (!st.ok()) return done->Done(Failed(MutationStatus::kUnavailable, st));
  const proto::Frame& f = s->reply();
  if (f.header.op == proto::FrameOp::kError) return done->Done(ResultFromReply(f));
  MutationResult r;
  if (!proto::DecodePutAtomicResult(f, &r, items)) {
    return done->Done(
        Failed(MutationStatus::kError, Status::IOError("a malformed reply from a store")));
  }
  done->Done(r);
}

std::vector<std::optional<ObjectStats>> AskNodeStats(const ClusterMap& map, int timeout_ms,
                                                     const std::string& cluster_secret,
                                                     const proto::FrameLimits& limits,
                                                     std::shared_ptr<const net::TlsContext> tls) {
  std::vector<std::unique_ptr<StoreConnection>> conns;
  std::vector<StoreCall> calls(map.nodes().size());
  for (size_t i = 0; i < calls.size(); i++) {
    const ClusterNode& n = map.nodes()[i];
    conns.push_back(std::make_unique<StoreConnection>(n.host, n.port, limits, cluster_secret, tls));
    calls[i].conn = conns.back().get();
    proto::AppendStats(&calls[i].request, 0, map.epoch());
  }
  (void)RunCalls(calls, timeout_ms);
  std::vector<std::optional<ObjectStats>> out(calls.size());
  for (size_t i = 0; i < calls.size(); i++) {
    ObjectStats s;
    if (calls[i].status.ok() && proto::DecodeStatsReply(calls[i].reply, &s)) out[i] = s;
  }
  return out;
}

ObjectStats RemoteObjectStore::Stats() const {
  ObjectStats total;
  std::shared_ptr<const ClusterMap> map = maps_->Get();
  if (map == nullptr) return total;
  total.partitions = map->partition_count();
  for (const std::optional<ObjectStats>& node :
       AskNodeStats(*map, options_.store_timeout_ms, options_.cluster_secret, options_.limits,
                    options_.tls)) {
    if (!node) continue;
    const ObjectStats& s = *node;
    total.objects += s.objects;
    total.live_objects += s.live_objects;
    total.live_bytes += s.live_bytes;
    total.expired_reads += s.expired_reads;
    total.flushed_reads += s.flushed_reads;
    if (s.oldest_mtime != 0 && (total.oldest_mtime == 0 || s.oldest_mtime < total.oldest_mtime)) {
      total.oldest_mtime = s.oldest_mtime;
    }
    total.index_bytes += s.index_bytes;
    total.segments += s.segments;
    total.disk_bytes += s.disk_bytes;
    total.dead_bytes += s.dead_bytes;
    total.unsynced_bytes += s.unsynced_bytes;
    total.compactions += s.compactions;
    total.journal_flushes += s.journal_flushes;
    total.journal_failures += s.journal_failures;
    total.corrupt_records += s.corrupt_records;
    total.damaged_partitions += s.damaged_partitions;
    total.unavailable_partitions += s.unavailable_partitions;
    total.disk_full = total.disk_full || s.disk_full;
    total.flush_all_damaged = total.flush_all_damaged || s.flush_all_damaged;
  }
  return total;
}

std::vector<PartitionHealth> RemoteObjectStore::Health() const {
  std::shared_ptr<const ClusterMap> map = maps_->Get();
  std::vector<PartitionHealth> health(map == nullptr ? 0 : map->partition_count());
  for (uint32_t p = 0; p < health.size(); p++) {
    const ClusterNode* owner = map->OwnerOf(p);
    health[p].unavailable = owner == nullptr || !owner->up;
  }
  return health;
}

}  // namespace bale::router
