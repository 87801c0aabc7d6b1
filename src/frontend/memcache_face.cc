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
  enum class Protocol : uint8_t { kUnknown, kText, kBinary };
  size_t OnText(std::string_view input, net::Conn& conn);
  size_t OnBinary(std::string_view input, net::Conn& conn);
  // Discards what swallow_ still owes; then whether another request may be parsed.
  bool Ready(std::string_view input, size_t* used, net::Conn& conn);

  const MemcacheService* service_;
  FaceLoop* loop_;
  Protocol protocol_ = Protocol::kUnknown;
  uint64_t swallow_ = 0;       // bytes of an oversized value still to discard
  uint64_t commit_round_ = 0;  // the group commit round this connection last held in
};

std::unique_ptr<net::Handler> MemcacheService::NewHandler(net::Loop& loop, net::Conn&) {
  return std::make_unique<MemcacheHandler>(this, &loops_->at(loop.index()));
}

size_t MemcacheHandler::OnInput(std::string_view input, net::Conn& conn) {
  if (protocol_ == Protocol::kUnknown) {
    if (input.empty()) return 0;
    // As memcached: the first byte of a connection decides its protocol for good.
    bool binary = static_cast<uint8_t>(input[0]) == proto::kBinaryRequestMagic;
    protocol_ = binary ? Protocol::kBinary : Protocol::kText;
  }
  return protocol_ == Protocol::kBinary ? OnBinary(input, conn) : OnText(input, conn);
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
  if (conn.OutputFull()) return false;
  return *used < input.size();
}

// Executes the complete text requests at the front of `input`; returns the bytes used.
size_t MemcacheHandler::OnText(std::string_view input, net::Conn& conn) {
  FaceLoop& fl = *loop_;
  uint64_t start = MonotonicNs();
  uint64_t executed = 0;
  size_t used = 0;
  while (Ready(input, &used, conn)) {
    proto::ParseResult r = proto::ParseRequest(input.substr(used), service_->limits_, &fl.request);
    if (r.status == proto::ParseStatus::kIncomplete) break;
    if (r.status == proto::ParseStatus::kClose) {
      conn.Close();
      break;
    }
    std::string& out = conn.out();
    if (r.status == proto::ParseStatus::kError) {
      ThreadStats::Add(fl.stats.client_errors);
      if (!r.noreply) out.append(r.error).append("\r\n");
      used += r.consumed;
      continue;
    }
    swallow_ = r.swallow;
    size_t reply_at = out.size();
    Outcome o =
        service_->commands_->Execute(fl.request, &out, &fl.stats, fl.session(), &conn.files());
    fl.HoldIfDirty(conn, reply_at, &commit_round_);
    executed++;
    used += r.consumed;
    if (o == Outcome::kClose) {
      conn.CloseAfterReplies(/*linger=*/false);
      used = input.size();  // nothing after quit is answered
      break;
    }
  }
  if (executed > 0) fl.stats.memcached_latency.Observe(MonotonicNs() - start, executed);
  return used;
}

// The same for binary requests: after a bad magic the connection closes, after a
// request memcached refuses with a protocol error too, once the error is sent.
size_t MemcacheHandler::OnBinary(std::string_view input, net::Conn& conn) {
  FaceLoop& fl = *loop_;
  uint64_t start = MonotonicNs();
  uint64_t executed = 0;
  size_t used = 0;
  proto::BinaryRequest req;
  while (Ready(input, &used, conn)) {
    proto::BinaryParseResult r =
        proto::ParseBinaryRequest(input.substr(used), service_->limits_, &req);
    if (r.status == proto::BinaryParseStatus::kIncomplete) break;
    if (r.status == proto::BinaryParseStatus::kClose) {
      // A bad magic: nothing more is read; what was answered before it still goes out
      // (memcached has sent it too when a NOOP flushed it).
      conn.CloseAfterReplies(/*linger=*/false);
      used = input.size();
      break;
    }
    std::string& out = conn.out();
    used += r.consumed;
    swallow_ = r.swallow;
    Outcome o = Outcome::kContinue;
    if (r.status == proto::BinaryParseStatus::kError) {
      ThreadStats::Add(fl.stats.client_errors);
      proto::AppendBinaryError(&out, req.opcode, req.opaque, r.error);
      if (r.close) o = Outcome::kClose;
    } else {
      size_t reply_at = out.size();
      o = service_->binary_.Execute(req, &out, &fl.stats, fl.session(), &conn.files());
      fl.HoldIfDirty(conn, reply_at, &commit_round_);
      executed++;
    }
    if (o == Outcome::kClose) {
      conn.CloseAfterReplies(/*linger=*/false);
      used = input.size();  // nothing after quit or a protocol error is answered
      break;
    }
  }
  if (executed > 0) fl.stats.memcached_latency.Observe(MonotonicNs() - start, executed);
  return used;
}

}  // namespace bale
