#include "frontend/http_face.h"

#include "net/conn.h"

namespace bale {
namespace {
constexpr size_t kShrinkAbove = 256 << 10;
}  // namespace

class HttpHandler final : public net::Handler {
 public:
  HttpHandler(const HttpService* service, FaceLoop* loop)
      : service_(service), loop_(loop), parser_(service->limits_) {}
  size_t OnInput(std::string_view input, net::Conn& conn) override;
  void OnTick(time_t now, net::Conn& conn) override;

 private:
  // Nothing more is parsed: a body in progress gives its memory back now.
  void CloseAfterReply(net::Conn& conn) {
    conn.CloseAfterReplies(/*linger=*/true);
    parser_.Abandon();
    request_.ReleaseBody();
  }

  const HttpService* service_;
  FaceLoop* loop_;
  proto::HttpRequestParser parser_;
  proto::HttpRequest request_;
  time_t request_started_ = 0;  // when the request in progress began (408 after timeout)
  uint64_t commit_round_ = 0;   // the group commit round this connection last held in
};

std::unique_ptr<net::Handler> HttpService::NewHandler(net::Loop& loop, net::Conn&) {
  return std::make_unique<HttpHandler>(this, &loops_->at(loop.index()));
}

// The parser keeps what it needs of the input (the head and the body), so everything
// given is used unless a request is complete and output is full.
size_t HttpHandler::OnInput(std::string_view input, net::Conn& conn) {
  FaceLoop& fl = *loop_;
  HttpScratch& scratch = fl.http_scratch;
  size_t used = 0;
  while (conn.open() && !conn.closing()) {
    if (conn.OutputFull()) break;
    if (used == input.size()) break;
    bool was_idle = !parser_.InProgress();
    uint64_t start = MonotonicNs();
    proto::HttpParseResult r = parser_.Feed(input.substr(used), &request_);
    used += r.consumed;
    if (r.status == proto::HttpParseStatus::kIncomplete) {
      if (was_idle && parser_.InProgress()) request_started_ = ::time(nullptr);
      if (parser_.TakeContinue()) conn.out().append("HTTP/1.1 100 Continue\r\n\r\n");
      if (r.consumed == 0) break;
      continue;
    }
    if (r.status == proto::HttpParseStatus::kError) {
      // 503: the body would pass --http-body-budget (the client retries after a pause).
      if (r.error_status == 503) ThreadStats::Add(fl.stats.http_body_budget_refusals);
      HttpRoutes::AppendError(r.error_status, &conn.out(), &scratch);
      CloseAfterReply(conn);
      return input.size();
    }
    scratch.files = &conn.files();
    scratch.peer_loopback = conn.peer_loopback();
    std::string& out = conn.out();
    size_t reply_at = out.size();
    Outcome o = service_->routes_->Handle(request_, &out, &scratch);
    fl.HoldIfDirty(conn, reply_at, &commit_round_);
    fl.stats.http_latency.Observe(MonotonicNs() - start);
    if (scratch.text.capacity() > kShrinkAbove) std::string().swap(scratch.text);
    scratch.view.Release();
    fl.session()->TrimBuffers(kShrinkAbove);
    request_.ReleaseBody();  // a 64 MiB upload's buffer, and its share of the budget, go now
    if (o == Outcome::kClose) {
      CloseAfterReply(conn);
      return input.size();
    }
  }
  return used;
}

void HttpHandler::OnTick(time_t now, net::Conn& conn) {
  auto timeout = static_cast<time_t>(service_->settings_->timeout_s);
  if (timeout == 0 || conn.closing()) return;
  if (parser_.InProgress()) {
    if (now - request_started_ >= timeout) {
      HttpRoutes::AppendError(408, &conn.out(), &loop_->http_scratch);
      CloseAfterReply(conn);  // its body, and the body's share of the budget, go now
    }
    return;
  }
  // Between requests --http-timeout is the keep-alive timeout: idle sockets on a public
  // port must not hold connection slots for ever.
  if (!conn.has_unsent() && now - conn.last_active() > timeout) conn.KickIdle();
}

}  // namespace bale
