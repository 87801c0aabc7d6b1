// HttpService: the HTTP face as a net::Service: one HttpHandler per connection feeds its
// own parser (proto/http_request.h) and answers each request with HttpRoutes.
//
// Contract: calls proto's HTTP parser, HttpRoutes and net's service.h/conn.h; knows
// nothing of sockets. Answers "100 Continue" when asked, 503 past the body budget, 408
// when a request is not complete within timeout_s of its first byte, closes a
// keep-alive connection idle for timeout_s, and closes with a linger after an error or
// "Connection: close". A request's body is released as soon as it is answered. In
// kSync durability a write's reply is held for the loop's group commit (face_loop.h).
#pragma once

#include <memory>
#include <string_view>

#include "base/memory_budget.h"
#include "frontend/face_loop.h"
#include "frontend/http_routes.h"
#include "net/service.h"
#include "proto/http_request.h"

namespace bale {

class HttpService final : public net::Service {
 public:
  // `budget`: drawn from by every connection's request bodies.
  HttpService(HttpRoutes* routes, const HttpSettings* settings, MemoryBudget* budget,
              FaceLoops* loops)
      : routes_(routes), settings_(settings), loops_(loops) {
    limits_.max_body_bytes = settings->max_body_bytes;
    limits_.body_budget = budget;
  }

  void AttachLoop(net::Loop& loop) override { loops_->Attach(loop); }
  std::unique_ptr<net::Handler> NewHandler(net::Loop& loop, net::Conn& conn) override;
  std::string_view TooManyConnections() const override {
    return "HTTP/1.1 503 Service Unavailable\r\nContent-Type: application/json\r\n"
           "Content-Length: 37\r\nConnection: close\r\n\r\n"
           "{\"error\":\"too many open connections\"}";
  }

 private:
  friend class HttpHandler;
  HttpRoutes* routes_;
  const HttpSettings* settings_;
  FaceLoops* loops_;
  proto::HttpLimits limits_;
};

}  // namespace bale
