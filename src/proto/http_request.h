// HttpRequestParser: incremental HTTP/1.1 request parsing for bale's HTTP face.
//
// Contract: Feed() takes bytes as they arrive and reports how many it consumed; it
// stops at the end of each request (so pipelined requests come out one at a time) and
// never reads past its input. A request over a limit, or malformed, is an error that
// carries the status to answer with (400, 413, 431, 503); after an error the connection
// should be closed. With a body budget (HttpLimits::body_budget, shared by every
// connection), a body is admitted when its head arrives, for its Content-Length, or
// chunk by chunk as a chunked body grows; one the budget cannot hold is the error 503
// (and no 100 Continue). The body's share travels with it (HttpRequest::
// body_reservation) until ReleaseBody; after an error, or on Abandon, the parser frees
// the body it was building and its share at once. The byte-level work is done by
// Node's http-parser (Debian libhttp-parser), a small, well-tested C parser; this class
// collects what it reports.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "base/memory_budget.h"

struct http_parser;

namespace bale::proto {

struct HttpLimits {
  size_t max_header_bytes = 16 << 10;  // request line and headers: 431 beyond
  uint64_t max_body_bytes = 64 << 20;  // 413 beyond
  size_t max_headers = 64;             // 431 beyond
  // Memory for bodies, shared with the other connections: 503 when it is taken.
  // nullptr: no bound but max_body_bytes.
  MemoryBudget* body_budget = nullptr;
};

struct HttpRequest {
  std::string method;  // "GET", "PUT", ...
  std::string target;  // the request target as sent ("/o/key?x=1")
  std::vector<std::pair<std::string, std::string>> headers;  // names lower-cased
  std::string body;
  // The share of HttpLimits::body_budget that `body` holds (its capacity).
  MemoryBudget::Reservation body_reservation;
  bool keep_alive = false;
  int http_minor = 1;

  // The first header with this (lower-case) name, or empty.
  std::string_view Header(std::string_view name) const;
  // Frees the body's memory and gives its share of the budget back.
  void ReleaseBody() {
    std::string().swap(body);
    body_reservation.Reset();
  }
};

enum class HttpParseStatus { kIncomplete, kRequest, kError };

struct HttpParseResult {
  HttpParseStatus status = HttpParseStatus::kIncomplete;
  size_t consumed = 0;
  int error_status = 0;  // kError: 400, 413, 431 or 503
};

class HttpRequestParser {
 public:
  explicit HttpRequestParser(const HttpLimits& limits = HttpLimits());
  ~HttpRequestParser();
  HttpRequestParser(const HttpRequestParser&) = delete;
  HttpRequestParser& operator=(const HttpRequestParser&) = delete;

  // Parses from `data`. On kRequest, *out holds the request and the parser is ready for
  // the next one; on kIncomplete all of `data` was consumed and more is needed.
  HttpParseResult Feed(std::string_view data, HttpRequest* out);
  // True between the first byte of a request and its end (a request timeout applies).
  bool InProgress() const { return header_bytes_ > 0 || !building_.body.empty(); }
  // True once per request that asked "Expect: 100-continue" and whose head has been
  // read without its body: the server should answer "100 Continue" now.
  bool TakeContinue() {
    bool c = continue_;
    continue_ = false;
    return c;
  }
  // Drops the request in progress, freeing its body and the body's share of the
  // budget: the connection is closing (a timeout) and will not feed more.
  void Abandon() { Reset(); }

 private:
  friend struct HttpCallbacks;
  void Reset();

  HttpLimits limits_;
  http_parser* parser_;
  HttpRequest* current_ = nullptr;
  HttpRequest building_;
  bool in_value_ = false;
  size_t header_bytes_ = 0;
  bool complete_ = false;
  bool continue_ = false;
  int error_status_ = 0;
};

}  // namespace bale::proto
