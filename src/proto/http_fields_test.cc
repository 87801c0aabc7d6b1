#include "proto/http_fields.h"

#include <gtest/gtest.h>

namespace bale::proto {
namespace {

TEST(PercentTest, RoundTripsEveryByte) {
  std::string all;
  for (int i = 0; i < 256; i++) all.push_back(static_cast<char>(i));
  std::string encoded, decoded;
  PercentEncode(all, &encoded);
  EXPECT_EQ(encoded.find_first_of(" /?#%\r\n", 0), encoded.find('%'));  // only escapes
  ASSERT_TRUE(PercentDecode(encoded, &decoded));
  EXPECT_EQ(decoded, all);
}

TEST(PercentTest, RejectsMalformedEscapes) {
  std::string out;
  EXPECT_FALSE(PercentDecode("a%", &out));
  EXPECT_FALSE(PercentDecode("a%4", &out));
  EXPECT_FALSE(PercentDecode("a%zz", &out));
  ASSERT_TRUE(PercentDecode("a%2Fb+c%41", &out));
  EXPECT_EQ(out, "a/b+cA");
}

TEST(RangeTest, Forms) {
  ByteRange r;
  ASSERT_EQ(ParseRange("bytes=0-9", 100, &r), RangeKind::kSatisfiable);
  EXPECT_EQ(r.first, 0u);
  EXPECT_EQ(r.last, 9u);
  ASSERT_EQ(ParseRange("bytes=90-", 100, &r), RangeKind::kSatisfiable);
  EXPECT_EQ(r.first, 90u);
  EXPECT_EQ(r.last, 99u);
  ASSERT_EQ(ParseRange("bytes=-5", 100, &r), RangeKind::kSatisfiable);
  EXPECT_EQ(r.first, 95u);
  EXPECT_EQ(r.last, 99u);
  ASSERT_EQ(ParseRange("bytes=-500", 100, &r), RangeKind::kSatisfiable);
  EXPECT_EQ(r.first, 0u);
  ASSERT_EQ(ParseRange("bytes=50-5000", 100, &r), RangeKind::kSatisfiable);
  EXPECT_EQ(r.last, 99u);
  ASSERT_EQ(ParseRange("Bytes = 1-1", 100, &r), RangeKind::kNone);  // space before '='
  ASSERT_EQ(ParseRange("BYTES=1-1", 100, &r), RangeKind::kSatisfiable);
}

TEST(RangeTest, UnsatisfiableAndIgnored) {
  ByteRange r;
  EXPECT_EQ(ParseRange("bytes=100-", 100, &r), RangeKind::kUnsatisfiable);
  EXPECT_EQ(ParseRange("bytes=-0", 100, &r), RangeKind::kUnsatisfiable);
  EXPECT_EQ(ParseRange("bytes=0-", 0, &r), RangeKind::kUnsatisfiable);
  EXPECT_EQ(ParseRange("bytes=0-1,5-6", 100, &r), RangeKind::kNone);
  EXPECT_EQ(ParseRange("bytes=5-1", 100, &r), RangeKind::kNone);
  EXPECT_EQ(ParseRange("items=0-1", 100, &r), RangeKind::kNone);
  EXPECT_EQ(ParseRange("bytes=x-1", 100, &r), RangeKind::kNone);
  EXPECT_EQ(ParseRange("bytes=99999999999999999999-", 100, &r), RangeKind::kNone);
  EXPECT_EQ(ParseRange("bytes=", 100, &r), RangeKind::kNone);
}

TEST(EtagTest, IfNoneMatch) {
  EXPECT_TRUE(IfNoneMatchMatches("*", "\"a\""));
  EXPECT_TRUE(IfNoneMatchMatches("\"a\"", "\"a\""));
  EXPECT_TRUE(IfNoneMatchMatches("\"b\", W/\"a\"", "\"a\""));
  EXPECT_FALSE(IfNoneMatchMatches("\"b\"", "\"a\""));
  EXPECT_FALSE(IfNoneMatchMatches("a", "\"a\""));
  EXPECT_FALSE(IfNoneMatchMatches("", "\"a\""));
}

TEST(DateTest, ImfFixdate) {
  char buf[32];
  size_t n = FormatHttpDate(784111777, buf);
  EXPECT_EQ(std::string(buf, n), "Sun, 06 Nov 1994 08:49:37 GMT");
}

TEST(CookieTest, HexIsExactlySixteenLowercaseDigits) {
  uint64_t v = 0;
  std::string s;
  AppendHex16(0x0123456789abcdefull, &s);
  EXPECT_EQ(s, "0123456789abcdef");
  ASSERT_TRUE(ParseCookieHex(s, &v));
  EXPECT_EQ(v, 0x0123456789abcdefull);
  EXPECT_FALSE(ParseCookieHex("0123456789ABCDEF", &v));
  EXPECT_FALSE(ParseCookieHex("0123456789abcde", &v));
  EXPECT_FALSE(ParseCookieHex("0123456789abcdef0", &v));
  EXPECT_FALSE(ParseCookieHex("0123456789abcdeg", &v));
}

}  // namespace
}  // namespace bale::proto
