#include "frontend/memcache_face.h"

#include "net/conn.h"

namespace bale {

class MemcacheHandler final : public net::Handler {
 public:
  MemcacheHandler(const MemcacheService* service, FaceLoop* loop)
      : service_(service), loop_(loop) {}
  size_t OnInput(std::string_view input, net::Conn& conn) override;

 private:
  const MemcacheService* service_;
  FaceLoop* loop_;
  uint64_t swallow_ = 0;       // bytes of an oversized value still to discard
  uint64_t commit_round_ = 0;  // the group commit round this connection last held in
};

std::unique_ptr<net::Handler> MemcacheService::NewHandler(net::Loop& loop, net::Conn&) {
  return std::make_unique<MemcacheHandler>(this, &loops_->at(loop.index()));
}

// Executes the complete requests at the front of `input`; returns the bytes used.
size_t MemcacheHandler::OnInput(std::string_view input, net::Conn& conn) {
  FaceLoop& fl = *loop_;
  uint64_t start = MonotonicNs();
  uint64_t executed = 0;
  size_t used = 0;
  while (conn.open()) {
    if (swallow_ > 0) {
      size_t avail = input.size() - used;
      size_t n = swallow_ < avail ? static_cast<size_t>(swallow_) : avail;
      used += n;
      swallow_ -= n;
      if (swallow_ > 0) break;
    }
    if (conn.closing() && !conn.peer_closed()) break;
    if (conn.OutputFull()) break;
    if (used == input.size()) break;
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

}  // namespace bale
