// libFuzzer target for the memcached binary protocol parser (built and run by
// scripts/fuzz).
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

#include "proto/memcache_binary.h"
#include "proto/stream_fuzz.h"

namespace {

using bale::proto::BinaryParseResult;
using bale::proto::BinaryParseStatus;
using bale::proto::BinaryRequest;
using bale::proto::kBinaryHeaderSize;
using bale::proto::kMaxKeyLength;
using bale::proto::ParseBinaryRequest;
using bale::proto::ParserLimits;
using bale::proto::fuzz::Exact;
using bale::proto::fuzz::Within;

ParserLimits Limits() {
  ParserLimits limits;
  limits.max_item_size = 4096;
  return limits;
}

// One parse step as a comparable string (views by content, not by address).
std::string DescribeStep(const BinaryParseResult& r, const BinaryRequest& req) {
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
BinaryParseResult CheckedStep(std::string_view rest, BinaryRequest* req) {
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
    FUZZ_CHECK(DescribeStep(r2, again) == DescribeStep(r, *req));
    Exact shorter(rest.substr(0, r.consumed - 1));
    BinaryParseResult r3 = ParseBinaryRequest(shorter.view(), limits, &again);
    FUZZ_CHECK(r3.status == BinaryParseStatus::kIncomplete);
  }
  return r;
}

struct Proto {
  using Request = BinaryRequest;
  using Result = BinaryParseResult;
  static Result Step(std::string_view rest, Request* req) { return CheckedStep(rest, req); }
  static std::string Describe(const Result& r, const Request& req) { return DescribeStep(r, req); }
  static bool Incomplete(const Result& r) { return r.status == BinaryParseStatus::kIncomplete; }
  static bool Ends(const Result& r) {
    return r.status == BinaryParseStatus::kClose ||
           (r.status == BinaryParseStatus::kError && r.close);
  }
};

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  return bale::proto::fuzz::StreamFuzz<Proto>::Run(data, size);
}
