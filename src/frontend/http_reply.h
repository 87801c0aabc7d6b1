// HttpRoutes::Reply: one HTTP/1.1 response written straight into the connection's
// output buffer: Start (status line, Server, Date), any Header, then Finish (type,
// length, connection, body) or FinishHead (no body). A HEAD request gets the same head
// without the body. Private to the HTTP face's files.
#pragma once

#include <string>
#include <string_view>

#include "frontend/http_routes.h"
#include "proto/http_fields.h"

namespace bale {

// Appends `s` as a JSON string literal (quotes included), escaping as RFC 8259 asks;
// bytes that are not valid UTF-8 are escaped as \u00XX of their byte value.
void AppendJsonString(std::string_view s, std::string* out);

struct HttpRoutes::Reply {
  Reply(const proto::HttpRequest* req, std::string* out, HttpScratch* scratch)
      : req(req), out(out), scratch(scratch), close(!req->keep_alive) {}

  void Start(int code) {
    status = code;
    out->append("HTTP/1.1 ").append(std::to_string(code)).push_back(' ');
    out->append(proto::StatusText(code)).append("\r\nServer: bale\r\nDate: ");
    out->append(Date(::time(nullptr))).append("\r\n");
  }
  void Header(std::string_view name, std::string_view value) {
    out->append(name).append(": ").append(value).append("\r\n");
  }
  // Ends the head for a reply without a body (204, 304).
  void FinishHead() {
    Connection();
    out->append("\r\n");
  }
  void Finish(std::string_view content_type, std::string_view body) {
    FinishWithoutBody(content_type, body.size());
    if (req->method != "HEAD") out->append(body);
  }
  // The head of a reply whose body the caller sends another way (sendfile).
  void FinishWithoutBody(std::string_view content_type, uint64_t length) {
    Header("Content-Type", content_type);
    Header("Content-Length", std::to_string(length));
    Connection();
    out->append("\r\n");
  }
  void Connection() {
    if (close) {
      out->append("Connection: close\r\n");
    } else if (req->http_minor == 0) {
      out->append("Connection: keep-alive\r\n");
    }
  }
  void Error(int code, std::string_view reason) {
    Start(code);
    if (code == 503) Header("Retry-After", "1");  // busy for now: try again in a second
    std::string body = "{\"error\":";
    AppendJsonString(reason, &body);
    body.append("}\n");
    if (code == 400 || code == 408 || code == 413 || code == 431 || code == 503) close = true;
    Finish("application/json", body);
  }
  // The one answer to every miss, so that a wrong cookie looks like a missing object.
  void NotFound() {
    Start(404);
    Finish("application/json", "{\"error\":\"not found\"}\n");
  }
  void NotAllowed(std::string_view allow) {
    Start(405);
    Header("Allow", allow);
    Finish("application/json", "{\"error\":\"method not allowed\"}\n");
  }
  void StoreError(const Status& s) {
    ThreadStats::Add(scratch->stats->server_errors);
    if (s.IsNoSpace()) return Error(507, "out of disk space");
    if (s.IsUnavailable()) {
      // A damaged partition: not a miss, and not busy (no Retry-After, the connection
      // stays open: other keys are served).
      Start(503);
      std::string body = "{\"error\":";
      AppendJsonString(s.message(), &body);
      body.append("}\n");
      return Finish("application/json", body);
    }
    if (s.IsInvalidArgument()) return Error(400, s.message());
    Error(500, s.ToString());
  }
  // A mutation that failed in the store (kNoSpace, kUnavailable, kError).
  void StoreError(const MutationResult& m) { StoreError(m.error); }
  // An IMF-fixdate; the current second's is cached.
  std::string_view Date(time_t t) {
    if (t == scratch->date_second && scratch->date_len != 0) {
      return std::string_view(scratch->date, scratch->date_len);
    }
    if (t != ::time(nullptr)) {
      other_len = proto::FormatHttpDate(t, other);
      return std::string_view(other, other_len);
    }
    scratch->date_second = t;
    scratch->date_len = proto::FormatHttpDate(t, scratch->date);
    return std::string_view(scratch->date, scratch->date_len);
  }

  const proto::HttpRequest* req;
  std::string* out;
  HttpScratch* scratch;
  int status = 0;
  HttpRoute route = HttpRoute::kOther;
  bool close;
  char other[32] = {};
  size_t other_len = 0;
};

}  // namespace bale
