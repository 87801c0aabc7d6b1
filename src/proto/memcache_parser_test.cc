#include "proto/memcache_parser.h"

#include <gtest/gtest.h>

namespace bale::proto {
namespace {

TEST(MemcacheParser, SetThenGet) {
  Request req;
  ParserLimits limits;
  std::string in = "set k 5 0 3\r\nabc\r\nget k\r\n";
  ParseResult r = ParseRequest(in, limits, &req);
  ASSERT_EQ(r.status, ParseStatus::kRequest);
  EXPECT_EQ(req.command, Command::kSet);
  EXPECT_EQ(req.key, "k");
  EXPECT_EQ(req.flags, 5u);
  EXPECT_EQ(req.data, "abc");
  ASSERT_EQ(r.consumed, 18u);
  r = ParseRequest(std::string_view(in).substr(r.consumed), limits, &req);
  ASSERT_EQ(r.status, ParseStatus::kRequest);
  EXPECT_EQ(req.command, Command::kGet);
  EXPECT_EQ(req.keys, "k");
}

}  // namespace
}  // namespace bale::proto
