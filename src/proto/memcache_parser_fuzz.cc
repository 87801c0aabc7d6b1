// libFuzzer target for the memcached protocol parser (built and run by scripts/fuzz).
//
// The stream is parsed whole and in two pieces (proto/stream_fuzz.h); every step checks
// the parser's contract (CheckedStep).
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
#include "proto/stream_fuzz.h"

namespace {

using bale::proto::Command;
using bale::proto::IsStorage;
using bale::proto::kMaxKeyLength;
using bale::proto::ParseRequest;
using bale::proto::ParseResult;
using bale::proto::ParserLimits;
using bale::proto::ParseStatus;
using bale::proto::Request;
using bale::proto::fuzz::Exact;
using bale::proto::fuzz::Within;

ParserLimits Limits() {
  ParserLimits limits;
  limits.max_item_size = 4096;
  limits.max_line = 2048;
  limits.max_get_line = 8192;
  return limits;
}

// One parse step as a comparable string (views by content, not by address).
std::string DescribeStep(const ParseResult& r, const Request& req) {
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
ParseResult CheckedStep(std::string_view rest, Request* req) {
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
    FUZZ_CHECK(DescribeStep(r2, again) == DescribeStep(r, *req));
    Exact shorter(rest.substr(0, r.consumed - 1));
    ParseResult r3 = ParseRequest(shorter.view(), limits, &again);
    FUZZ_CHECK(r3.status == ParseStatus::kIncomplete);
  }
  return r;
}

struct Proto {
  using Request = bale::proto::Request;
  using Result = bale::proto::ParseResult;
  static Result Step(std::string_view rest, Request* req) { return CheckedStep(rest, req); }
  static std::string Describe(const Result& r, const Request& req) { return DescribeStep(r, req); }
  static bool Incomplete(const Result& r) { return r.status == ParseStatus::kIncomplete; }
  static bool Ends(const Result& r) { return r.status == ParseStatus::kClose; }
};

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  return bale::proto::fuzz::StreamFuzz<Proto>::Run(data, size);
}
