#include "frontend/memcache_face.h"

#include "net/conn.h"
#include "proto/memcache_binary.h"

namespace bale {

class MemcacheHandler final : public net::Handler {
 public:
  MemcacheHandler(const MemcacheService* service, FaceLoop* loop)
      : service_(service), loop_(loop) {}
  size_t OnInput(std::string_view input, net::Conn& conn) override;

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
};

std::unique_ptr<net::Handler> MemcacheService::NewHandler(net::Loop& loop, net::Conn&) {
  return std::make_unique<MemcacheHandler>(this, &loops_->at(loop.index()));
}

MemcacheService::Step MemcacheService::RunText(std::string_view input, std::string* out,
                                               ThreadStats* stats, ObjectSession* session,
                                               std::vector<FileSend>* files, FaceLoop& fl) const {
  proto::ParseResult r = proto::ParseRequest(input, limits_, &fl.request);
  if (r.status == proto::ParseStatus::kIncomplete) return Step{Step::kIncomplete};
  if (r.status == proto::ParseStatus::kClose) return Step{Step::kCloseNow};
  Step step{Step::kDone, r.consumed};
  if (r.status == proto::ParseStatus::kError) {
    ThreadStats::Add(stats->client_errors);
    if (!r.noreply) out->append(r.error).append("\r\n");
    return step;
  }
  step.swallow = r.swallow;
  step.executed = true;
  step.outcome = commands_->Execute(fl.request, out, stats, session, files);
  return step;
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
                                           std::vector<FileSend>* files, FaceLoop& fl) const {
  return binary ? RunBinary(input, out, stats, session, files)
                : RunText(input, out, stats, session, files, fl);
}

void MemcacheService::Replay(const DeferredRequests& d, std::string* out, FaceLoop& fl) const {
  std::string_view input = d.bytes;
  uint64_t executed = 0;
  for (size_t used = 0; used < input.size();) {
    Step st = Run(d.binary, input.substr(used), out, &fl.stats, fl.session(), nullptr, fl);
    if (st.kind != Step::kDone) break;  // cannot be: these bytes parsed before
    used += st.consumed;
    executed += st.executed ? 1 : 0;
  }
  if (executed > 0) fl.stats.memcached_latency.Observe(MonotonicNs() - d.start_ns, executed);
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
                          fl.session(), &conn.files(), fl);
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
  fl.speculative_out.clear();
  session->Speculate(true);
  Step st = service_->Run(binary, input, &fl.speculative_out, &fl.speculative_stats, session,
                          nullptr, fl);
  session->Speculate(false);
  if (st.kind != Step::kDone) return st;
  if (!deferring && session->speculated_calls() == calls_before) {
    return RunNow(input, conn);  // nothing of the store: answered now, for real
  }
  if (!deferring) {
    defer_index_ = fl.Defer(conn, conn.out().size(), service_, binary);
    defer_round_ = fl.round();
  }
  DeferredRequests& d = fl.deferred(defer_index_);
  d.bytes.append(input.substr(0, st.consumed));
  d.requests++;
  uint32_t recorded = session->recorded() - first_call;
  if (d.barrier) {
    session->DropRecorded(first_call);  // made when replayed, after the barrier's call
  } else {
    for (uint32_t i = first_call; i < session->recorded(); i++) d.calls.push_back(i);
    d.barrier = session->speculated_calls() - calls_before > recorded;
  }
  if (d.requests >= kMaxDeferredRequests || d.bytes.size() >= kMaxDeferredBytes) {
    conn.PauseInput();
  }
  return st;
}

}  // namespace bale
