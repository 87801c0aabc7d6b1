// libFuzzer target for the memcached protocol parser (built and run by scripts/fuzz).
//
// The input is a byte stream as a client might send it. It is parsed the way a
// connection does (advance by `consumed`, then discard `swallow` bytes), checking the
// parser's contract at every step, and then fed again split in two at a position taken
// from the data, which must give the same sequence of results.
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "proto/memcache_parser.h"

namespace {

using bale::proto::Command;
using bale::proto::IsStorage;
using bale::proto::kMaxKeyLength;
using bale::proto::ParseRequest;
using bale::proto::ParseResult;
using bale::proto::ParserLimits;
using bale::proto::ParseStatus;
using bale::proto::Request;

#define FUZZ_CHECK(cond)                                                            \
  do {                                                                              \
    if (!(cond)) {                                                                  \
      std::fprintf(stderr, "%s:%d: check failed: %s\n", __FILE__, __LINE__, #cond); \
      std::abort();                                                                 \
    }                                                                               \
  } while (0)

ParserLimits Limits() {
  ParserLimits limits;
  limits.max_item_size = 4096;
  limits.max_line = 2048;
  limits.max_get_line = 8192;
  return limits;
}

// A copy of some bytes in a heap block of exactly their size, so that ASan reports any
// read past the end.
class Exact {
 public:
  explicit Exact(std::string_view s) : size_(s.size()), buf_(new char[s.empty() ? 1 : s.size()]) {
    if (!s.empty()) std::memcpy(buf_.get(), s.data(), s.size());
  }
  std::string_view view() const { return std::string_view(buf_.get(), size_); }

 private:
  size_t size_;
  std::unique_ptr<char[]> buf_;
};

bool Within(std::string_view v, std::string_view outer) {
  if (v.empty()) return true;
  return v.data() >= outer.data() && v.data() + v.size() <= outer.data() + outer.size();
}

// One parse step as a comparable string (views by content, not by address).
std::string Describe(const ParseResult& r, const Request& req) {
  std::string s;
  s += static_cast<char>('0' + static_cast<int>(r.status));
  s += ' ';
  s += std::to_string(r.consumed);
  s += ' ';
  s += std::to_string(r.swallow);
  if (r.status == ParseStatus::kError) {
    s.append(" E ").append(r.error).append(r.noreply ? " q" : "");
  } else if (r.status == ParseStatus::kRequest) {
    s += " C" + std::to_string(static_cast<int>(req.command));
    for (std::string_view v : {req.key, req.keys, req.data, req.args}) {
      s += ' ';
      s += std::to_string(v.size());
      s += ':';
      s.append(v);
    }
    s += ' ' + std::to_string(req.flags) + ' ' + std::to_string(req.exptime) + ' ' +
         std::to_string(req.cas) + ' ' + std::to_string(req.delta) + ' ' +
         std::to_string(req.bytes) + ' ' + std::to_string(req.number);
    s += req.has_number ? 'n' : '-';
    s += req.noreply ? 'q' : '-';
    s += req.too_large ? 'L' : '-';
  }
  return s;
}

// Parses the start of `rest` and checks the contract.
ParseResult Step(std::string_view rest, Request* req) {
  const ParserLimits limits = Limits();
  ParseResult r = ParseRequest(rest, limits, req);
  FUZZ_CHECK(r.consumed <= rest.size());
  switch (r.status) {
    case ParseStatus::kIncomplete:
    case ParseStatus::kClose:
      FUZZ_CHECK(r.consumed == 0);
      FUZZ_CHECK(r.swallow == 0);
      break;
    case ParseStatus::kError:
      FUZZ_CHECK(r.consumed > 0);
      FUZZ_CHECK(r.swallow == 0);
      FUZZ_CHECK(!r.error.empty());
      break;
    case ParseStatus::kRequest: {
      FUZZ_CHECK(r.consumed > 0);
      std::string_view mine = rest.substr(0, r.consumed);
      FUZZ_CHECK(Within(req->key, mine));
      FUZZ_CHECK(Within(req->keys, mine));
      FUZZ_CHECK(Within(req->data, mine));
      FUZZ_CHECK(Within(req->args, mine));
      FUZZ_CHECK(req->key.size() <= kMaxKeyLength);
      FUZZ_CHECK((r.swallow > 0) == req->too_large);
      bool has_data = IsStorage(req->command) || req->command == Command::kMetaSet;
      if (req->too_large) {
        FUZZ_CHECK(has_data);
        FUZZ_CHECK(req->bytes > limits.max_item_size);
        FUZZ_CHECK(r.swallow == uint64_t{req->bytes} + 2);
        FUZZ_CHECK(req->data.empty());
      } else if (has_data) {
        FUZZ_CHECK(req->data.size() == req->bytes);
        // The data block ends the request, followed by its "\r\n".
        const char* end = req->data.data() + req->data.size();
        FUZZ_CHECK(end + 2 == rest.data() + r.consumed);
        FUZZ_CHECK(end[0] == '\r' && end[1] == '\n');
      }
      break;
    }
  }
  if (r.status == ParseStatus::kRequest || r.status == ParseStatus::kError) {
    // A request is decided by its own bytes: alone it parses the same, and any shorter
    // prefix of it is incomplete.
    Exact alone(rest.substr(0, r.consumed));
    Request again;
    ParseResult r2 = ParseRequest(alone.view(), limits, &again);
    FUZZ_CHECK(Describe(r2, again) == Describe(r, *req));
    Exact shorter(rest.substr(0, r.consumed - 1));
    ParseResult r3 = ParseRequest(shorter.view(), limits, &again);
    FUZZ_CHECK(r3.status == ParseStatus::kIncomplete);
  }
  return r;
}

// Parses a whole stream the simple way; stops at the first incomplete or close.
std::vector<std::string> ParseStream(std::string_view input) {
  std::vector<std::string> seen;
  uint64_t swallow = 0;
  while (!input.empty()) {
    if (swallow > 0) {
      size_t n = swallow < input.size() ? static_cast<size_t>(swallow) : input.size();
      input.remove_prefix(n);
      swallow -= n;
      continue;
    }
    Request req;
    ParseResult r = Step(input, &req);
    seen.push_back(Describe(r, req));
    if (r.status == ParseStatus::kIncomplete || r.status == ParseStatus::kClose) break;
    input.remove_prefix(r.consumed);
    swallow = r.swallow;
  }
  return seen;
}

// A connection buffer fed in chunks: parse as far as possible, keep the remainder.
class Conn {
 public:
  void Feed(std::string_view bytes) {
    if (closed_) return;
    buf_.append(bytes);
    for (;;) {
      if (swallow_ > 0) {
        size_t n = swallow_ < buf_.size() ? static_cast<size_t>(swallow_) : buf_.size();
        buf_.erase(0, n);
        swallow_ -= n;
        if (swallow_ > 0) return;
      }
      if (buf_.empty()) return;
      Exact input(buf_);
      Request req;
      ParseResult r = Step(input.view(), &req);
      if (r.status == ParseStatus::kIncomplete) return;
      seen_.push_back(Describe(r, req));
      if (r.status == ParseStatus::kClose) {
        closed_ = true;
        return;
      }
      buf_.erase(0, r.consumed);
      swallow_ = r.swallow;
    }
  }

  // What the stream parse reports at the end: the final incomplete step, if any.
  std::vector<std::string> Finish() {
    std::vector<std::string> out = seen_;
    if (!closed_ && swallow_ == 0 && !buf_.empty()) {
      Exact input(buf_);
      Request req;
      ParseResult r = Step(input.view(), &req);
      FUZZ_CHECK(r.status == ParseStatus::kIncomplete);
      out.push_back(Describe(r, req));
    }
    return out;
  }

 private:
  std::string buf_;
  uint64_t swallow_ = 0;
  bool closed_ = false;
  std::vector<std::string> seen_;
};

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view input(reinterpret_cast<const char*>(data), size);
  std::vector<std::string> whole = ParseStream(input);

  size_t cut = 0;
  if (size > 0) cut = (static_cast<size_t>(data[0]) * 257 + data[size - 1] + size) % (size + 1);
  Conn conn;
  conn.Feed(input.substr(0, cut));
  conn.Feed(input.substr(cut));
  FUZZ_CHECK(conn.Finish() == whole);
  return 0;
}
