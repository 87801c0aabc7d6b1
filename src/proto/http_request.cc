#include "proto/http_request.h"

#include <http_parser.h>
#include <strings.h>

#include <algorithm>
#include <cctype>

namespace bale::proto {

std::string_view HttpRequest::Header(std::string_view name) const {
  for (const auto& [k, v] : headers) {
    if (k == name) return v;
  }
  return {};
}

// http-parser's callbacks, given access to the parser object through `data`.
struct HttpCallbacks {
  static HttpRequestParser* Self(http_parser* p) {
    return static_cast<HttpRequestParser*>(p->data);
  }

  // Counts request-line and header bytes against the limit; 431 beyond it.
  static bool Charge(HttpRequestParser* s, size_t n) {
    s->header_bytes_ += n;
    if (s->header_bytes_ > s->limits_.max_header_bytes) {
      s->error_status_ = 431;
      return false;
    }
    return true;
  }

  static int OnUrl(http_parser* p, const char* at, size_t n) {
    HttpRequestParser* s = Self(p);
    if (!Charge(s, n)) return 1;
    s->building_.target.append(at, n);
    return 0;
  }

  static int OnHeaderField(http_parser* p, const char* at, size_t n) {
    HttpRequestParser* s = Self(p);
    if (!Charge(s, n)) return 1;
    if (s->in_value_ || s->building_.headers.empty()) {
      if (s->building_.headers.size() == s->limits_.max_headers) {
        s->error_status_ = 431;
        return 1;
      }
      s->building_.headers.emplace_back();
      s->in_value_ = false;
    }
    std::string& name = s->building_.headers.back().first;
    for (size_t i = 0; i < n; i++) {
      name.push_back(static_cast<char>(std::tolower(static_cast<unsigned char>(at[i]))));
    }
    return 0;
  }

  static int OnHeaderValue(http_parser* p, const char* at, size_t n) {
    HttpRequestParser* s = Self(p);
    if (!Charge(s, n)) return 1;
    s->in_value_ = true;
    s->building_.headers.back().second.append(at, n);
    return 0;
  }

  static int OnHeadersComplete(http_parser* p) {
    HttpRequestParser* s = Self(p);
    s->building_.method = http_method_str(static_cast<http_method>(p->method));
    s->building_.keep_alive = http_should_keep_alive(p) != 0;
    s->building_.http_minor = p->http_minor;
    if ((p->flags & F_CONTENTLENGTH) && p->content_length > s->limits_.max_body_bytes) {
      s->error_status_ = 413;
      return -1;
    }
    // An announced body is admitted whole, now, and given its memory in one piece (no
    // copies as it grows); a chunked one grows in OnBody.
    if ((p->flags & F_CONTENTLENGTH) && p->content_length > 0) {
      if (!s->building_.body_reservation.GrowTo(p->content_length)) {
        s->error_status_ = 503;
        return -1;
      }
      s->building_.body.reserve(p->content_length);
    }
    std::string_view expect = s->building_.Header("expect");
    bool has_body = (p->flags & F_CHUNKED) || ((p->flags & F_CONTENTLENGTH) && p->content_length);
    s->continue_ = has_body && expect.size() == 12 && (expect[0] == '1') &&
                   strncasecmp(expect.data(), "100-continue", 12) == 0;
    return 0;
  }

  static int OnBody(http_parser* p, const char* at, size_t n) {
    HttpRequestParser* s = Self(p);
    std::string& body = s->building_.body;
    uint64_t need = body.size() + n;
    if (need > s->limits_.max_body_bytes) {
      s->error_status_ = 413;
      return 1;
    }
    if (need > s->building_.body_reservation.bytes()) {
      // A chunked body outgrows its share (one with a Content-Length never does): it
      // grows by doubling, as the string would, with the budget asked first.
      constexpr uint64_t kFirstGrowth = 64 << 10;
      uint64_t grown = std::max<uint64_t>(kFirstGrowth, 2 * s->building_.body_reservation.bytes());
      grown = std::max(need, std::min(grown, s->limits_.max_body_bytes));
      if (!s->building_.body_reservation.GrowTo(grown)) {
        s->error_status_ = 503;
        return 1;
      }
      body.reserve(grown);
    }
    body.append(at, n);
    return 0;
  }

  static int OnMessageComplete(http_parser* p) {
    HttpRequestParser* s = Self(p);
    s->complete_ = true;
    http_parser_pause(p, 1);  // stop here: the next request is parsed by the next Feed
    return 0;
  }

  static const http_parser_settings& Settings() {
    static const http_parser_settings settings = [] {
      http_parser_settings st;
      http_parser_settings_init(&st);
      st.on_url = OnUrl;
      st.on_header_field = OnHeaderField;
      st.on_header_value = OnHeaderValue;
      st.on_headers_complete = OnHeadersComplete;
      st.on_body = OnBody;
      st.on_message_complete = OnMessageComplete;
      return st;
    }();
    return settings;
  }
};

HttpRequestParser::HttpRequestParser(const HttpLimits& limits)
    : limits_(limits), parser_(new http_parser) {
  http_parser_init(parser_, HTTP_REQUEST);
  parser_->data = this;
  building_.body_reservation = MemoryBudget::Reservation(limits_.body_budget);
}

HttpRequestParser::~HttpRequestParser() { delete parser_; }

void HttpRequestParser::Reset() {
  building_ = HttpRequest();  // a body still here (an error, Abandon) is freed
  building_.body_reservation = MemoryBudget::Reservation(limits_.body_budget);
  in_value_ = false;
  header_bytes_ = 0;
  complete_ = false;
  continue_ = false;
  error_status_ = 0;
}

HttpParseResult HttpRequestParser::Feed(std::string_view data, HttpRequest* out) {
  HttpParseResult r;
  if (HTTP_PARSER_ERRNO(parser_) == HPE_PAUSED) http_parser_pause(parser_, 0);
  size_t n = http_parser_execute(parser_, &HttpCallbacks::Settings(), data.data(), data.size());
  http_errno err = HTTP_PARSER_ERRNO(parser_);
  if (complete_) {
    // A pause stops the parser on the byte after the message; count that message only.
    r.status = HttpParseStatus::kRequest;
    r.consumed = n;
    *out = std::move(building_);
    Reset();
    return r;
  }
  if (err != HPE_OK && err != HPE_PAUSED) {
    r.status = HttpParseStatus::kError;
    r.error_status = error_status_ != 0 ? error_status_ : 400;
    if (err == HPE_HEADER_OVERFLOW) r.error_status = 431;
    r.consumed = n;
    building_.ReleaseBody();  // nothing more is parsed: the memory goes now
    return r;
  }
  r.consumed = n;
  return r;
}

}  // namespace bale::proto
