#include "proto/http_request.h"

#include <gtest/gtest.h>

#include <cstdio>
#include <string>

namespace bale::proto {
namespace {

// Parses `in` fed in pieces of `step` bytes (as a connection would see it), returning
// the requests found and the last result.
std::vector<HttpRequest> ParseAll(std::string_view in, size_t step, HttpParseResult* last,
                                  const HttpLimits& limits = HttpLimits()) {
  HttpRequestParser parser(limits);
  std::vector<HttpRequest> out;
  std::string buffer;
  size_t fed = 0;
  *last = HttpParseResult{};
  while (fed < in.size() || !buffer.empty()) {
    if (fed < in.size()) {
      size_t n = std::min(step, in.size() - fed);
      buffer.append(in.substr(fed, n));
      fed += n;
    }
    for (;;) {
      HttpRequest req;
      *last = parser.Feed(buffer, &req);
      EXPECT_LE(last->consumed, buffer.size());
      buffer.erase(0, last->consumed);
      if (last->status == HttpParseStatus::kError) return out;
      if (last->status != HttpParseStatus::kRequest) break;
      out.push_back(std::move(req));
    }
    if (fed == in.size() && last->status == HttpParseStatus::kIncomplete) break;
  }
  return out;
}

constexpr std::string_view kTwo =
    "PUT /o/photo%201 HTTP/1.1\r\nHost: x\r\nContent-Type: image/jpeg\r\n"
    "Content-Length: 5\r\n\r\nhello"
    "GET /o/photo%201 HTTP/1.1\r\nHost: x\r\nIf-None-Match: \"abc\"\r\n\r\n";

TEST(HttpRequestParser, PipelinedRequestsAtEveryChunkSize) {
  for (size_t step = 1; step <= kTwo.size(); step++) {
    HttpParseResult last;
    auto reqs = ParseAll(kTwo, step, &last);
    ASSERT_EQ(reqs.size(), 2u) << "step " << step;
    EXPECT_EQ(reqs[0].method, "PUT");
    EXPECT_EQ(reqs[0].target, "/o/photo%201");
    EXPECT_EQ(reqs[0].Header("content-type"), "image/jpeg");
    EXPECT_EQ(reqs[0].body, "hello");
    EXPECT_TRUE(reqs[0].keep_alive);
    EXPECT_EQ(reqs[1].method, "GET");
    EXPECT_EQ(reqs[1].Header("if-none-match"), "\"abc\"");
    EXPECT_TRUE(reqs[1].body.empty());
  }
}

TEST(HttpRequestParser, SplitAtEveryByteIsIncompleteUntilTheEnd) {
  std::string_view one = kTwo.substr(0, kTwo.find("GET"));
  for (size_t cut = 0; cut < one.size(); cut++) {
    HttpRequestParser parser;
    HttpRequest req;
    HttpParseResult r = parser.Feed(one.substr(0, cut), &req);
    ASSERT_EQ(r.status, HttpParseStatus::kIncomplete) << cut;
    ASSERT_EQ(r.consumed, cut);
    r = parser.Feed(one.substr(cut), &req);
    ASSERT_EQ(r.status, HttpParseStatus::kRequest) << cut;
    ASSERT_EQ(req.body, "hello");
  }
}

TEST(HttpRequestParser, ChunkedBody) {
  HttpParseResult last;
  auto reqs = ParseAll(
      "POST /o HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n2\r\nde\r\n0\r\n\r\n", 3,
      &last);
  ASSERT_EQ(reqs.size(), 1u);
  EXPECT_EQ(reqs[0].body, "abcde");
}

TEST(HttpRequestParser, Http10ClosesUnlessKeepAlive) {
  HttpParseResult last;
  auto a = ParseAll("GET / HTTP/1.0\r\n\r\n", 100, &last);
  ASSERT_EQ(a.size(), 1u);
  EXPECT_FALSE(a[0].keep_alive);
  auto b = ParseAll("GET / HTTP/1.0\r\nConnection: keep-alive\r\n\r\n", 100, &last);
  ASSERT_EQ(b.size(), 1u);
  EXPECT_TRUE(b[0].keep_alive);
  auto c = ParseAll("GET / HTTP/1.1\r\nConnection: close\r\n\r\n", 100, &last);
  ASSERT_EQ(c.size(), 1u);
  EXPECT_FALSE(c[0].keep_alive);
}

TEST(HttpRequestParser, LimitsGiveTheRightStatus) {
  HttpLimits small;
  small.max_header_bytes = 100;
  small.max_body_bytes = 10;
  small.max_headers = 3;
  HttpParseResult last;
  ParseAll("GET /" + std::string(200, 'a') + " HTTP/1.1\r\n\r\n", 7, &last, small);
  EXPECT_EQ(last.status, HttpParseStatus::kError);
  EXPECT_EQ(last.error_status, 431);
  ParseAll("GET / HTTP/1.1\r\na: 1\r\nb: 2\r\nc: 3\r\nd: 4\r\n\r\n", 5, &last, small);
  EXPECT_EQ(last.error_status, 431);
  ParseAll("PUT / HTTP/1.1\r\nContent-Length: 11\r\n\r\n", 5, &last, small);
  EXPECT_EQ(last.error_status, 413);
  ParseAll("PUT / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\nb\r\n0123456789a\r\n0\r\n\r\n", 4,
           &last, small);
  EXPECT_EQ(last.error_status, 413);
  ParseAll("GARBAGE\r\n\r\n", 3, &last);
  EXPECT_EQ(last.status, HttpParseStatus::kError);
  EXPECT_EQ(last.error_status, 400);
}

TEST(HttpRequestParserTest, ExpectContinueOncePerRequestWithABody) {
  HttpRequestParser parser;
  HttpRequest req;
  std::string head = "PUT /o/k HTTP/1.1\r\nExpect: 100-Continue\r\nContent-Length: 3\r\n\r\n";
  HttpParseResult r = parser.Feed(head, &req);
  EXPECT_EQ(r.status, HttpParseStatus::kIncomplete);
  EXPECT_TRUE(parser.TakeContinue());
  EXPECT_FALSE(parser.TakeContinue());
  r = parser.Feed("abc", &req);
  ASSERT_EQ(r.status, HttpParseStatus::kRequest);
  EXPECT_EQ(req.body, "abc");
  // No body, or no Expect: nothing to continue.
  r = parser.Feed("GET /o/k HTTP/1.1\r\nExpect: 100-continue\r\n\r\n", &req);
  EXPECT_EQ(r.status, HttpParseStatus::kRequest);
  EXPECT_FALSE(parser.TakeContinue());
  r = parser.Feed("PUT /o/k HTTP/1.1\r\nContent-Length: 3\r\n\r\n", &req);
  EXPECT_FALSE(parser.TakeContinue());
}

// --- the body budget ---------------------------------------------------------------

std::string Put(size_t length, std::string_view extra_headers = "") {
  return "PUT /o/k HTTP/1.1\r\nHost: x\r\n" + std::string(extra_headers) +
         "Content-Length: " + std::to_string(length) + "\r\n\r\n";
}

HttpLimits WithBudget(MemoryBudget* budget, uint64_t max_body = 64 << 20) {
  HttpLimits limits;
  limits.body_budget = budget;
  limits.max_body_bytes = max_body;
  return limits;
}

TEST(HttpRequestParserBudget, AnnouncedBodyIsAdmittedWholeAtItsHead) {
  MemoryBudget budget(100);
  HttpRequestParser a(WithBudget(&budget)), b(WithBudget(&budget));
  HttpRequest req_a, req_b;
  EXPECT_EQ(a.Feed(Put(60), &req_a).status, HttpParseStatus::kIncomplete);
  EXPECT_EQ(budget.used(), 60u);  // before any of the body has arrived
  HttpParseResult r = b.Feed(Put(41) + std::string(41, 'b'), &req_b);
  EXPECT_EQ(r.status, HttpParseStatus::kError);
  EXPECT_EQ(r.error_status, 503);
  EXPECT_EQ(budget.used(), 60u);  // the refused one holds nothing

  HttpRequestParser c(WithBudget(&budget));
  HttpRequest req_c;
  ASSERT_EQ(c.Feed(Put(40) + std::string(40, 'c'), &req_c).status, HttpParseStatus::kRequest);
  EXPECT_EQ(req_c.body, std::string(40, 'c'));
  EXPECT_EQ(req_c.body_reservation.bytes(), 40u);  // the share travels with the body
  EXPECT_EQ(budget.used(), 100u);
  req_c.ReleaseBody();
  EXPECT_TRUE(req_c.body.empty());
  EXPECT_EQ(budget.used(), 60u);

  ASSERT_EQ(a.Feed(std::string(60, 'a'), &req_a).status, HttpParseStatus::kRequest);
  EXPECT_EQ(budget.used(), 60u);
  req_a.ReleaseBody();
  EXPECT_EQ(budget.used(), 0u);
}

TEST(HttpRequestParserBudget, RequestsWithoutABodyNeedNone) {
  MemoryBudget budget(10);
  MemoryBudget::Reservation all(&budget);
  ASSERT_TRUE(all.GrowTo(10));
  HttpParseResult last;
  auto reqs = ParseAll("GET /o/k HTTP/1.1\r\n\r\n" + Put(0), 5, &last, WithBudget(&budget));
  EXPECT_EQ(reqs.size(), 2u);
  EXPECT_EQ(last.status, HttpParseStatus::kIncomplete);
}

TEST(HttpRequestParserBudget, RefusalComesInsteadOfContinue) {
  MemoryBudget budget(100);
  MemoryBudget::Reservation other(&budget);
  ASSERT_TRUE(other.GrowTo(90));
  HttpRequestParser parser(WithBudget(&budget));
  HttpRequest req;
  HttpParseResult r = parser.Feed(Put(20, "Expect: 100-continue\r\n"), &req);
  EXPECT_EQ(r.status, HttpParseStatus::kError);
  EXPECT_EQ(r.error_status, 503);
  EXPECT_FALSE(parser.TakeContinue());

  other.Reset();
  HttpRequestParser admitted(WithBudget(&budget));
  r = admitted.Feed(Put(20, "Expect: 100-continue\r\n"), &req);
  EXPECT_EQ(r.status, HttpParseStatus::kIncomplete);
  EXPECT_TRUE(admitted.TakeContinue());
  EXPECT_EQ(budget.used(), 20u);
}

TEST(HttpRequestParserBudget, OneBodyOverTheWholeBudgetIsTakenAlone) {
  MemoryBudget budget(100);
  HttpRequestParser big(WithBudget(&budget)), small(WithBudget(&budget));
  HttpRequest req;
  EXPECT_EQ(big.Feed(Put(150), &req).status, HttpParseStatus::kIncomplete);
  EXPECT_EQ(budget.used(), 150u);
  EXPECT_EQ(small.Feed(Put(1), &req).error_status, 503);
}

TEST(HttpRequestParserBudget, ChunkedBodyGrowsItsShareAndIsRefusedMidBody) {
  MemoryBudget budget(100 << 10);
  MemoryBudget::Reservation other(&budget);
  ASSERT_TRUE(other.GrowTo(30 << 10));
  HttpRequestParser parser(WithBudget(&budget));
  HttpRequest req;
  std::string chunk = "8000\r\n" + std::string(32 << 10, 'x') + "\r\n";  // 32 KiB
  HttpParseResult r =
      parser.Feed("PUT /o/k HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n" + chunk, &req);
  EXPECT_EQ(r.status, HttpParseStatus::kIncomplete);
  EXPECT_EQ(budget.used(), (30u << 10) + (64u << 10));                       // first growth: 64 KiB
  EXPECT_EQ(parser.Feed(chunk, &req).status, HttpParseStatus::kIncomplete);  // 64 KiB: fits
  EXPECT_EQ(budget.used(), (30u << 10) + (64u << 10));
  r = parser.Feed(chunk, &req);  // 96 KiB needs 128 KiB: 158 KiB is past the budget
  EXPECT_EQ(r.status, HttpParseStatus::kError);
  EXPECT_EQ(r.error_status, 503);
  EXPECT_EQ(budget.used(), 30u << 10);  // the body is freed with the error
}

TEST(HttpRequestParserBudget, ChunkedGrowthStopsAtTheBodyLimit) {
  MemoryBudget budget(1 << 20);
  HttpParseResult last;
  std::string body(100 << 10, 'y');
  std::string in = "PUT /o/k HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n";
  for (size_t at = 0; at < body.size(); at += 10000) {
    std::string piece = body.substr(at, 10000);
    char size[16];
    std::snprintf(size, sizeof(size), "%zx\r\n", piece.size());
    in += size + piece + "\r\n";
  }
  in += "0\r\n\r\n";
  auto reqs = ParseAll(in, 4096, &last, WithBudget(&budget, 100 << 10));
  ASSERT_EQ(reqs.size(), 1u);
  EXPECT_EQ(reqs[0].body, body);
  EXPECT_EQ(reqs[0].body_reservation.bytes(), 100u << 10);  // not 128 KiB: the limit
  reqs.clear();
  EXPECT_EQ(budget.used(), 0u);
}

TEST(HttpRequestParserBudget, ErrorsAbandonAndDestructionGiveTheShareBack) {
  MemoryBudget budget(1000);
  HttpRequest req;
  {
    HttpRequestParser parser(WithBudget(&budget));
    EXPECT_EQ(parser.Feed(Put(500) + "half", &req).status, HttpParseStatus::kIncomplete);
    EXPECT_EQ(budget.used(), 500u);
  }  // a connection closed mid-body
  EXPECT_EQ(budget.used(), 0u);

  HttpRequestParser timed_out(WithBudget(&budget));
  EXPECT_EQ(timed_out.Feed(Put(500) + "half", &req).status, HttpParseStatus::kIncomplete);
  EXPECT_TRUE(timed_out.InProgress());
  timed_out.Abandon();
  EXPECT_FALSE(timed_out.InProgress());
  EXPECT_EQ(budget.used(), 0u);

  HttpRequestParser too_big(WithBudget(&budget, 600));
  HttpParseResult r =
      too_big.Feed("PUT /o/k HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n1f4\r\n" +
                       std::string(500, 'z') + "\r\n1f4\r\n",
                   &req);
  EXPECT_EQ(r.status, HttpParseStatus::kIncomplete);
  EXPECT_GT(budget.used(), 0u);
  r = too_big.Feed(std::string(500, 'z'), &req);
  EXPECT_EQ(r.error_status, 413);
  EXPECT_EQ(budget.used(), 0u);

  HttpRequestParser malformed(WithBudget(&budget));
  r = malformed.Feed("PUT /o/k HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n", &req);
  EXPECT_EQ(r.status, HttpParseStatus::kIncomplete);
  EXPECT_GT(budget.used(), 0u);
  r = malformed.Feed("zz\r\n", &req);  // not a chunk size
  EXPECT_EQ(r.error_status, 400);
  EXPECT_EQ(budget.used(), 0u);
}

TEST(HttpRequestParserBudget, PipelinedRequestsEachHoldTheirOwnShare) {
  MemoryBudget budget(1000);
  HttpRequestParser parser(WithBudget(&budget));
  std::string two = Put(300) + std::string(300, '1') + Put(200) + std::string(200, '2');
  HttpRequest first, second;
  HttpParseResult r = parser.Feed(two, &first);
  ASSERT_EQ(r.status, HttpParseStatus::kRequest);
  EXPECT_EQ(budget.used(), 300u);
  ASSERT_EQ(parser.Feed(std::string_view(two).substr(r.consumed), &second).status,
            HttpParseStatus::kRequest);
  EXPECT_EQ(budget.used(), 500u);
  first.ReleaseBody();
  EXPECT_EQ(budget.used(), 200u);
  second = HttpRequest();  // assigned over: its share goes too
  EXPECT_EQ(budget.used(), 0u);
}

}  // namespace
}  // namespace bale::proto
