// HttpRequestParser: incremental HTTP/1.1 request parsing for bale's HTTP face.
//
// Contract: Feed() takes bytes as they arrive and reports how many it consumed; it
// stops at the end of each request (so pipelined requests come out one at a time) and
// never reads past its input. A request over a limit, or malformed, is an error that
// carries the status to answer with (400, 413, 431); after an error the connection
// should be closed. The byte-level work is done by Node's http-parser (Debian
// libhttp-parser), a small, well-tested C parser; this class collects what it reports.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

struct http_parser;

namespace bale::proto {

struct HttpLimits {
  size_t max_header_bytes = 16 << 10;  // request line and headers: 431 beyond
  uint64_t max_body_bytes = 64 << 20;  // 413 beyond
  size_t max_headers = 64;             // 431 beyond
};

struct HttpRequest {
  std::string method;  // "GET", "PUT", ...
  std::string target;  // the request target as sent ("/o/key?x=1")
  std::vector<std::pair<std::string, std::string>> headers;  // names lower-cased
  std::string body;
  bool keep_alive = false;
  int http_minor = 1;

  // The first header with this (lower-case) name, or empty.
  std::string_view Header(std::string_view name) const;
};

enum class HttpParseStatus { kIncomplete, kRequest, kError };

struct HttpParseResult {
  HttpParseStatus status = HttpParseStatus::kIncomplete;
  size_t consumed = 0;
  int error_status = 0;  // kError: 400, 413 or 431
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
