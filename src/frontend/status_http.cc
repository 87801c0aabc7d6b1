#include "frontend/status_http.h"

#include "net/conn.h"
#include "proto/http_fields.h"
#include "proto/http_request.h"

namespace bale {
namespace {

void Reply(net::Conn& conn, const StatusPage& page, bool head, bool keep_alive) {
  std::string& out = conn.out();
  out += "HTTP/1.1 " + std::to_string(page.status) + " ";
  out += proto::StatusText(page.status);
  out += "\r\n";
  out += "Content-Type: " + page.content_type + "\r\n";
  out += "Content-Length: " + std::to_string(page.body.size()) + "\r\n";
  out += keep_alive ? "Connection: keep-alive\r\n\r\n" : "Connection: close\r\n\r\n";
  if (!head) out += page.body;
}

class StatusHandler final : public net::Handler {
 public:
  explicit StatusHandler(const StatusHttpService::Pages& pages) : pages_(pages) {
    limits_.max_body_bytes = 0;
    parser_ = std::make_unique<proto::HttpRequestParser>(limits_);
  }

  size_t OnInput(std::string_view input, net::Conn& conn) override {
    size_t used = 0;
    while (used < input.size() && !conn.closing() && !conn.OutputFull()) {
      proto::HttpParseResult r = parser_->Feed(input.substr(used), &request_);
      used += r.consumed;
      if (r.status == proto::HttpParseStatus::kIncomplete) break;
      if (r.status == proto::HttpParseStatus::kError) {
        Reply(conn, StatusPage{r.error_status, "text/plain", "bad request\n"}, false, false);
        conn.CloseAfterReplies(true);
        return input.size();
      }
      Answer(conn);
    }
    return used;
  }

 private:
  void Answer(net::Conn& conn) {
    bool head = request_.method == "HEAD";
    bool keep_alive = request_.keep_alive;
    StatusPage page;
    if (request_.method != "GET" && !head) {
      page = StatusPage{405, "text/plain", "only GET and HEAD\n"};
    } else {
      std::string_view path = request_.target;
      path = path.substr(0, path.find('?'));
      page = pages_(path);
    }
    Reply(conn, page, head, keep_alive);
    if (!keep_alive) conn.CloseAfterReplies(false);
    request_.ReleaseBody();
  }

  const StatusHttpService::Pages& pages_;
  proto::HttpLimits limits_;
  std::unique_ptr<proto::HttpRequestParser> parser_;
  proto::HttpRequest request_;
};

}  // namespace

std::unique_ptr<net::Handler> StatusHttpService::NewHandler(net::Loop&, net::Conn&) {
  return std::make_unique<StatusHandler>(pages_);
}

}  // namespace bale
