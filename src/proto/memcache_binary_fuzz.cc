// libFuzzer target for the memcached binary protocol parser (built and run by
// scripts/fuzz).
//
// The input is a byte stream as a client might send it. It is parsed the way a
// connection does (advance by `consumed`, discard `swallow` bytes, stop at a close),
// checking the parser's contract at every step, and then fed again split in two at a
// position taken from the data, which must give the same sequence of results.
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "proto/memcache_binary.h"

namespace {

using bale::proto::BinaryParseResult;
using bale::proto::BinaryParseStatus;
using bale::proto::BinaryRequest;
using bale::proto::kBinaryHeaderSize;
using bale::proto::kMaxKeyLength;
using bale::proto::ParseBinaryRequest;
using bale::proto::ParserLimits;

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
std::string Describe(const BinaryParseResult& r, const BinaryRequest& req) {
  std::string s;
  s += static_cast<char>('0' + static_cast<int>(r.status));
  s += ' ' + std::to_string(r.consumed) + ' ' + std::to_string(r.swallow);
  if (r.status == BinaryParseStatus::kError) {
    s += " E" + std::to_string(static_cast<int>(r.error)) + (r.close ? "c" : "") + ' ' +
         std::to_string(req.opcode) + ' ' + std::to_string(req.opaque);
  } else if (r.status == BinaryParseStatus::kRequest) {
    s += " C" + std::to_string(static_cast<int>(req.command)) + (req.quiet ? "q" : "");
    for (std::string_view v : {req.extras, req.key, req.value}) {
      s += ' ' + std::to_string(v.size()) + ':';
      s.append(v);
    }
    for (uint64_t n :
         {uint64_t{req.opcode}, uint64_t{req.opaque}, req.cas, uint64_t{req.flags},
          uint64_t{req.expiration}, req.delta, req.initial, uint64_t{req.value_length}}) {
      s += ' ' + std::to_string(n);
    }
    s += req.too_large ? 'L' : '-';
    s += req.has_expiration ? 'e' : '-';
  }
  return s;
}

// Parses the start of `rest` and checks the contract.
BinaryParseResult Step(std::string_view rest, BinaryRequest* req) {
  const ParserLimits limits = Limits();
  BinaryParseResult r = ParseBinaryRequest(rest, limits, req);
  FUZZ_CHECK(r.consumed <= rest.size());
  switch (r.status) {
    case BinaryParseStatus::kIncomplete:
    case BinaryParseStatus::kClose:
      FUZZ_CHECK(r.consumed == 0);
      FUZZ_CHECK(r.swallow == 0);
      break;
    case BinaryParseStatus::kError:
      FUZZ_CHECK(r.consumed == kBinaryHeaderSize);
      FUZZ_CHECK(!r.close || r.swallow == 0);
      break;
    case BinaryParseStatus::kRequest: {
      FUZZ_CHECK(r.consumed >= kBinaryHeaderSize);
      std::string_view mine = rest.substr(0, r.consumed);
      FUZZ_CHECK(Within(req->extras, mine));
      FUZZ_CHECK(Within(req->key, mine));
      FUZZ_CHECK(Within(req->value, mine));
      FUZZ_CHECK(req->key.size() <= kMaxKeyLength);
      FUZZ_CHECK((r.swallow > 0) == (req->too_large && req->value_length > 0));
      if (req->too_large) {
        FUZZ_CHECK(req->value_length > limits.max_item_size);
        FUZZ_CHECK(r.swallow == req->value_length);
        FUZZ_CHECK(req->value.empty());
      } else {
        FUZZ_CHECK(req->value.size() <= limits.max_item_size);
      }
      FUZZ_CHECK(r.consumed ==
                 kBinaryHeaderSize + req->extras.size() + req->key.size() + req->value.size());
      break;
    }
  }
  if (r.status == BinaryParseStatus::kRequest || r.status == BinaryParseStatus::kError) {
    // A request is decided by its own bytes: alone it parses the same, and any shorter
    // prefix of it is incomplete.
    Exact alone(rest.substr(0, r.consumed));
    BinaryRequest again;
    BinaryParseResult r2 = ParseBinaryRequest(alone.view(), limits, &again);
    FUZZ_CHECK(Describe(r2, again) == Describe(r, *req));
    Exact shorter(rest.substr(0, r.consumed - 1));
    BinaryParseResult r3 = ParseBinaryRequest(shorter.view(), limits, &again);
    FUZZ_CHECK(r3.status == BinaryParseStatus::kIncomplete);
  }
  return r;
}

// Parses a whole stream the simple way; stops at the first incomplete, close, or error
// that closes.
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
    BinaryRequest req;
    BinaryParseResult r = Step(input, &req);
    seen.push_back(Describe(r, req));
    if (r.status == BinaryParseStatus::kIncomplete || r.status == BinaryParseStatus::kClose) break;
    if (r.status == BinaryParseStatus::kError && r.close) break;
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
      BinaryRequest req;
      BinaryParseResult r = Step(input.view(), &req);
      if (r.status == BinaryParseStatus::kIncomplete) return;
      seen_.push_back(Describe(r, req));
      if (r.status == BinaryParseStatus::kClose ||
          (r.status == BinaryParseStatus::kError && r.close)) {
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
      BinaryRequest req;
      BinaryParseResult r = Step(input.view(), &req);
      FUZZ_CHECK(r.status == BinaryParseStatus::kIncomplete);
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
