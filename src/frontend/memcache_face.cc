#include "frontend/memcache_face.h"

#include <algorithm>

#include "net/conn.h"
#include "proto/memcache_binary.h"

namespace bale {

class MemcacheHandler final : public net::Handler, public FaceReplay {
 public:
  MemcacheHandler(const MemcacheService* service, FaceLoop* loop)
      : service_(service), loop_(loop) {}
  size_t OnInput(std::string_view input, net::Conn& conn) override;
  void Replay(const DeferredRequests& d, std::string* out, FaceLoop& fl) override;

 private:
  using Step = MemcacheService::Step;
  enum class Protocol : uint8_t { kUnknown, kText, kBinary };
  // Discards what swallow_ still owes; then whether another request may be parsed.
  bool Ready(std::string_view input, size_t* used, net::Conn& conn);
  // The request at the front of `input`, answered now.
  Step RunNow(std::string_view input, net::Conn& conn);
  // The same with round batching (object_store.h): run speculatively, and deferred to
  // the round's end if it calls the store, or if an earlier request of this connection
  // was (replies leave in order).
  Step RunBatched(std::string_view input, net::Conn& conn);

  const MemcacheService* service_;
  FaceLoop* loop_;
  Protocol protocol_ = Protocol::kUnknown;
  uint64_t swallow_ = 0;       // bytes of an oversized value still to discard
  uint64_t commit_round_ = 0;  // the group commit round this connection last held in
  uint64_t defer_round_ = 0;   // the round this connection last deferred requests in
  size_t defer_index_ = 0;     // ... and their record (FaceLoop::deferred)
  OpenGet get_;                // the text multi-get being answered a part at a time
  // In this round's deferred bytes: a part of get_ that goes on in a later round.
  size_t open_part_at_ = std::string::npos;
};

std::unique_ptr<net::Handler> MemcacheService::NewHandler(net::Loop& loop, net::Conn&) {
  return std::make_unique<MemcacheHandler>(this, &loops_->at(loop.index()));
}

namespace {

// Whether the space-separated `keys` are more than n.
bool MoreKeysThan(std::string_view keys, size_t n) {
  std::string_view key;
  for (size_t i = 0; i <= n; i++) {
    if (!proto::NextToken(&keys, &key)) return false;
  }
  return true;
}

}  // namespace

MemcacheService::Step MemcacheService::RunText(std::string_view input, std::string* out,
                                               ThreadStats* stats, ObjectSession* session,
                                               std::vector<FileSend>* files, FaceLoop& fl,
                                               OpenGet* get) const {
  proto::Request& req = fl.request;
  GetPart part;
  part.max_bytes = kMultiGetPartBytes;
  Step step{Step::kDone};
  if (get != nullptr && get->open()) {  // the next part of the multi-get at the front
    step.consumed = get->consumed;
    if (get->failed) {  // its reply has ended
      *get = OpenGet();
      return step;
    }
    req = proto::Request();
    req.command = get->command;
    req.exptime = get->exptime;
    req.keys = input.substr(get->keys_at, get->keys_size);
    part.from = get->next;
    part.max_keys = get->part_keys;
  } else {
    proto::ParseResult r = proto::ParseRequest(input, limits_, &req);
    if (r.status == proto::ParseStatus::kIncomplete) return Step{Step::kIncomplete};
    if (r.status == proto::ParseStatus::kClose) return Step{Step::kCloseNow};
    step.consumed = r.consumed;
    if (r.status == proto::ParseStatus::kError) {
      ThreadStats::Add(stats->client_errors);
      if (!r.noreply) out->append(r.error).append("\r\n");
      return step;
    }
    step.swallow = r.swallow;
    step.executed = true;
    if (get == nullptr || !proto::IsRetrieval(req.command)) {
      step.outcome = commands_->Execute(req, out, stats, session, files);
      return step;
    }
    // Where the values are not known when a part runs, a long get starts small.
    bool blind = session->batches_rounds() && MoreKeysThan(req.keys, kMultiGetPartKeys);
    part.max_keys = blind ? kMultiGetFirstPartKeys : kMultiGetPartKeys;
  }
  step.executed = true;
  commands_->Execute(req, out, stats, session, files, &part);
  if (part.done) {
    *get = OpenGet();
    return step;
  }
  get->command = req.command;
  get->exptime = req.exptime;
  get->consumed = step.consumed;
  get->keys_at = static_cast<size_t>(req.keys.data() - input.data());
  get->keys_size = req.keys.size();
  get->next = part.next;
  get->part_keys = part.max_keys;
  return Step{Step::kPart, 0, 0, true};
}

void MemcacheService::AppendPart(const proto::Request& req, size_t from, size_t to,
                                 std::string* out) {
  using proto::Command;
  switch (req.command) {
    case Command::kGets:
      out->append("gets ");
      break;
    case Command::kGat:
      out->append("gat ").append(std::to_string(req.exptime)).append(" ");
      break;
    case Command::kGats:
      out->append("gats ").append(std::to_string(req.exptime)).append(" ");
      break;
    default:
      out->append("get ");
  }
  out->append(req.keys.substr(from, to - from)).append("\r\n");
}

// After a bad magic the connection closes, after a request memcached refuses with a
// protocol error too, once the error is sent.
MemcacheService::Step MemcacheService::RunBinary(std::string_view input, std::string* out,
                                                 ThreadStats* stats, ObjectSession* session,
                                                 std::vector<FileSend>* files) const {
  proto::BinaryRequest req;
  proto::BinaryParseResult r = proto::ParseBinaryRequest(input, limits_, &req);
  if (r.status == proto::BinaryParseStatus::kIncomplete) return Step{Step::kIncomplete};
  // A bad magic: nothing more is read; what was answered before it still goes out
  // (memcached has sent it too when a NOOP flushed it).
  if (r.status == proto::BinaryParseStatus::kClose) return Step{Step::kCloseAfterReplies};
  Step step{Step::kDone, r.consumed, r.swallow};
  if (r.status == proto::BinaryParseStatus::kError) {
    ThreadStats::Add(stats->client_errors);
    proto::AppendBinaryError(out, req.opcode, req.opaque, r.error);
    if (r.close) step.outcome = Outcome::kClose;
    return step;
  }
  step.executed = true;
  step.outcome = binary_.Execute(req, out, stats, session, files);
  return step;
}

MemcacheService::Step MemcacheService::Run(bool binary, std::string_view input, std::string* out,
                                           ThreadStats* stats, ObjectSession* session,
                                           std::vector<FileSend>* files, FaceLoop& fl,
                                           OpenGet* get) const {
  return binary ? RunBinary(input, out, stats, session, files)
                : RunText(input, out, stats, session, files, fl, get);
}

void MemcacheService::Replay(const DeferredRequests& d, std::string* out, FaceLoop& fl,
                             size_t open_part_at, ReplayedPart* replayed) const {
  std::string_view input = d.bytes;
  uint64_t executed = 0;
  for (size_t used = 0; used < input.size();) {
    std::string_view rest = input.substr(used);
    Step st;
    if (used == open_part_at) {  // its get's END comes with its last part
      proto::ParseResult r = proto::ParseRequest(rest, limits_, &fl.request);
      if (r.status != proto::ParseStatus::kRequest) break;  // cannot be: AppendPart made it
      GetPart part;
      part.last = false;
      size_t before = out->size();
      commands_->Execute(fl.request, out, &fl.stats, fl.session(), nullptr, &part);
      *replayed = ReplayedPart{part.keys, out->size() - before, part.failed};
      st = Step{Step::kDone, r.consumed, 0, true};
    } else {
      st = Run(d.binary, rest, out, &fl.stats, fl.session(), nullptr, fl);
    }
    if (st.kind != Step::kDone) break;  // cannot be: these bytes parsed before
    used += st.consumed;
    executed += st.executed ? 1 : 0;
  }
  if (executed > 0) fl.stats.memcached_latency.Observe(MonotonicNs() - d.start_ns, executed);
}

void MemcacheHandler::Replay(const DeferredRequests& d, std::string* out, FaceLoop& fl) {
  MemcacheService::ReplayedPart part;
  service_->Replay(d, out, fl, open_part_at_, &part);
  if (open_part_at_ == std::string::npos) return;
  open_part_at_ = std::string::npos;
  if (part.failed) {
    get_.failed = true;        // the keys after that part go unanswered
  } else if (part.keys > 0) {  // the next part: what fits kMultiGetPartBytes at this rate
    size_t per_key = std::max<size_t>(1, (part.bytes + part.keys - 1) / part.keys);
    get_.part_keys = std::clamp(kMultiGetPartBytes / per_key, size_t{1}, kMultiGetPartKeys);
  }
}

size_t MemcacheHandler::OnInput(std::string_view input, net::Conn& conn) {
  if (protocol_ == Protocol::kUnknown) {
    if (input.empty()) return 0;
    // As memcached: the first byte of a connection decides its protocol for good.
    bool binary = static_cast<uint8_t>(input[0]) == proto::kBinaryRequestMagic;
    protocol_ = binary ? Protocol::kBinary : Protocol::kText;
  }
  FaceLoop& fl = *loop_;
  bool batched = fl.session()->batches_rounds();
  uint64_t start = MonotonicNs();
  uint64_t executed = 0;
  size_t used = 0;
  while (Ready(input, &used, conn)) {
    std::string_view rest = input.substr(used);
    Step st = batched ? RunBatched(rest, conn) : RunNow(rest, conn);
    if (st.kind == Step::kIncomplete) break;
    if (st.kind == Step::kPart) continue;  // the next part once the output has room (Ready)
    bool deferring = defer_round_ == fl.round();
    if (st.kind == Step::kCloseNow && !deferring) {
      conn.Close();
      break;
    }
    if (st.kind != Step::kDone || st.outcome == Outcome::kClose) {
      conn.CloseAfterReplies(/*linger=*/false);
      used = input.size();  // nothing after quit or a protocol error is answered
      break;
    }
    used += st.consumed;
    swallow_ = st.swallow;
    executed += st.executed && !deferring ? 1 : 0;
  }
  // Requests parsed from one read are timed together (deferred ones when replayed).
  if (executed > 0) fl.stats.memcached_latency.Observe(MonotonicNs() - start, executed);
  return used;
}

bool MemcacheHandler::Ready(std::string_view input, size_t* used, net::Conn& conn) {
  if (!conn.open()) return false;
  if (swallow_ > 0) {
    size_t avail = input.size() - *used;
    size_t n = swallow_ < avail ? static_cast<size_t>(swallow_) : avail;
    *used += n;
    swallow_ -= n;
    if (swallow_ > 0) return false;
  }
  if (conn.closing() && !conn.peer_closed()) return false;
  if (conn.OutputFull() || conn.input_paused()) return false;
  return *used < input.size();
}

MemcacheHandler::Step MemcacheHandler::RunNow(std::string_view input, net::Conn& conn) {
  FaceLoop& fl = *loop_;
  size_t reply_at = conn.out().size();
  Step st = service_->Run(protocol_ == Protocol::kBinary, input, &conn.out(), &fl.stats,
                          fl.session(), &conn.files(), fl, &get_);
  if (st.executed) fl.HoldIfDirty(conn, reply_at, &commit_round_);
  return st;
}

MemcacheHandler::Step MemcacheHandler::RunBatched(std::string_view input, net::Conn& conn) {
  FaceLoop& fl = *loop_;
  ObjectSession* session = fl.session();
  bool binary = protocol_ == Protocol::kBinary;
  bool deferring = defer_round_ == fl.round();
  uint32_t first_call = session->recorded();
  uint64_t calls_before = session->speculated_calls();
  const OpenGet before = get_;
  fl.speculative_out.clear();
  session->Speculate(true);
  Step st = service_->Run(binary, input, &fl.speculative_out, &fl.speculative_stats, session,
                          nullptr, fl, &get_);
  session->Speculate(false);
  if (st.kind != Step::kDone && st.kind != Step::kPart) return st;
  if (before.failed) return st;  // the rest of a get whose reply ended: nothing to answer
  if (!deferring && session->speculated_calls() == calls_before) {
    get_ = before;
    return RunNow(input, conn);  // nothing of the store: answered now, for real
  }
  if (!deferring) {
    defer_index_ = fl.Defer(conn, conn.out().size(), this, binary);
    defer_round_ = fl.round();
    open_part_at_ = std::string::npos;
  }
  DeferredRequests& d = fl.deferred(defer_index_);
  if (st.kind == Step::kPart || before.open()) {
    // A part of a multi-get answered in parts: its keys alone are replayed, and the round
    // takes no more of this connection's requests (the next part needs this one sent).
    size_t to = st.kind == Step::kPart ? get_.next : fl.request.keys.size();
    if (st.kind == Step::kPart) open_part_at_ = d.bytes.size();
    MemcacheService::AppendPart(fl.request, before.open() ? before.next : 0, to, &d.bytes);
  } else {
    d.bytes.append(input.substr(0, st.consumed));
  }
  d.requests++;
  uint32_t recorded = session->recorded() - first_call;
  if (d.barrier) {
    session->DropRecorded(first_call);  // made when replayed, after the barrier's call
  } else {
    for (uint32_t i = first_call; i < session->recorded(); i++) d.calls.push_back(i);
    d.barrier = session->speculated_calls() - calls_before > recorded;
  }
  if (st.kind == Step::kPart || d.requests >= kMaxDeferredRequests ||
      d.calls.size() >= kMaxDeferredCalls || d.bytes.size() >= kMaxDeferredBytes) {
    conn.PauseInput();
  }
  return st;
}

}  // namespace bale
