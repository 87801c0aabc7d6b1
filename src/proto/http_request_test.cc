#include "proto/http_request.h"

#include <gtest/gtest.h>

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

}  // namespace
}  // namespace bale::proto
