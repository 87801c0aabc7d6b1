// Tests for the memcached binary protocol parser and response encoder. The rules
// follow memcached 1.6.18's proto_bin.c (dispatch_bin_command's length checks, its
// answers to bad input) as observed against Debian's /usr/bin/memcached.
#include "proto/memcache_binary.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cstring>
#include <memory>
#include <string>
#include <vector>

namespace bale::proto {
namespace {

using O = BinaryOpcode;

// A header with lengths as given (they may lie), then `body` as is.
std::string Raw(uint8_t opcode, uint16_t key_length, uint8_t extras_length, uint32_t body_length,
                std::string_view body = {}, uint32_t opaque = 0, uint64_t cas = 0) {
  std::string s;
  s.push_back(static_cast<char>(kBinaryRequestMagic));
  s.push_back(static_cast<char>(opcode));
  s.push_back(static_cast<char>(key_length >> 8));
  s.push_back(static_cast<char>(key_length));
  s.push_back(static_cast<char>(extras_length));
  s.push_back(0);     // data type
  s.append(2, '\0');  // vbucket
  AppendBigEndian32(&s, body_length);
  AppendBigEndian32(&s, opaque);
  AppendBigEndian64(&s, cas);
  s.append(body);
  return s;
}

// A well-formed request.
std::string Req(O opcode, std::string_view key = {}, std::string_view extras = {},
                std::string_view value = {}, uint64_t cas = 0, uint32_t opaque = 0) {
  std::string s;
  AppendBinaryRequest(&s, static_cast<uint8_t>(opcode), extras, key, value, cas, opaque);
  return s;
}

std::string Be32(uint32_t v) {
  std::string s;
  AppendBigEndian32(&s, v);
  return s;
}
std::string Be64(uint64_t v) {
  std::string s;
  AppendBigEndian64(&s, v);
  return s;
}

ParserLimits Limits() {
  ParserLimits l;
  l.max_item_size = 1000;
  return l;
}

// Parses the bytes from a heap block of exactly their size (ASan catches a read past
// the end), which lives until the next call: the request's views are valid until then.
BinaryParseResult Parse(std::string_view in, BinaryRequest* req) {
  static std::unique_ptr<char[]> copy;
  copy.reset(new char[std::max<size_t>(in.size(), 1)]);
  if (!in.empty()) std::memcpy(copy.get(), in.data(), in.size());
  return ParseBinaryRequest(std::string_view(copy.get(), in.size()), Limits(), req);
}

// One parse step as a comparable string.
std::string Describe(const BinaryParseResult& r, const BinaryRequest& q) {
  std::string s = std::to_string(static_cast<int>(r.status)) + " " + std::to_string(r.consumed) +
                  " " + std::to_string(r.swallow);
  if (r.status == BinaryParseStatus::kError) {
    s += " E" + std::to_string(static_cast<int>(r.error)) + (r.close ? "c" : "");
  }
  if (r.status == BinaryParseStatus::kRequest) {
    s += " C" + std::to_string(static_cast<int>(q.command)) + (q.quiet ? "q " : " ");
    s += std::string(q.key) + "|" + std::string(q.value) + "|" + std::to_string(q.flags) + "|" +
         std::to_string(q.expiration) + "|" + std::to_string(q.delta) + "|" +
         std::to_string(q.initial) + "|" + std::to_string(q.cas) + "|" + std::to_string(q.opaque);
  }
  return s;
}

// Parses a stream as a connection does, fed in the chunks given.
std::vector<std::string> Feed(const std::vector<std::string>& chunks) {
  std::vector<std::string> seen;
  std::string buf;
  uint64_t swallow = 0;
  for (const std::string& c : chunks) {
    buf += c;
    for (;;) {
      uint64_t n = std::min<uint64_t>(swallow, buf.size());
      buf.erase(0, n);
      swallow -= n;
      if (swallow > 0 || buf.empty()) break;
      BinaryRequest q;
      BinaryParseResult r = Parse(buf, &q);
      if (r.status == BinaryParseStatus::kIncomplete) break;
      seen.push_back(Describe(r, q));
      if (r.status == BinaryParseStatus::kClose || r.close) return seen;
      buf.erase(0, r.consumed);
      swallow = r.swallow;
    }
  }
  return seen;
}

TEST(BinaryParser, RequestEncoderWritesTheHeaderFields) {
  EXPECT_EQ(Req(O::kSet, "key", "12345678", "value", 9, 7),
            Raw(0x01, 3, 8, 16, "12345678keyvalue", 7, 9));
}

TEST(BinaryParser, SetDecodesHeaderExtrasKeyAndValue) {
  std::string in =
      Req(O::kSet, "key", Be32(0xdeadbeef) + Be32(3600), "value", 0x0102030405060708, 0xa1b2c3d4);
  BinaryRequest q;
  BinaryParseResult r = Parse(in + "trailing", &q);
  ASSERT_EQ(r.status, BinaryParseStatus::kRequest);
  EXPECT_EQ(r.consumed, in.size());
  EXPECT_EQ(r.swallow, 0u);
  EXPECT_EQ(q.command, O::kSet);
  EXPECT_FALSE(q.quiet);
  EXPECT_EQ(q.key, "key");
  EXPECT_EQ(q.value, "value");
  EXPECT_EQ(q.flags, 0xdeadbeefu);
  EXPECT_EQ(q.expiration, 3600u);
  EXPECT_EQ(q.cas, 0x0102030405060708u);
  EXPECT_EQ(q.opaque, 0xa1b2c3d4u);
  EXPECT_EQ(q.value_length, 5u);
  EXPECT_FALSE(q.too_large);
}

TEST(BinaryParser, IncrementDecodesDeltaInitialExpiration) {
  BinaryRequest q;
  std::string in = Req(O::kIncrementQ, "n", Be64(7) + Be64(1ull << 40) + Be32(0xffffffff));
  ASSERT_EQ(Parse(in, &q).status, BinaryParseStatus::kRequest);
  EXPECT_EQ(q.command, O::kIncrement);
  EXPECT_TRUE(q.quiet);
  EXPECT_EQ(q.delta, 7u);
  EXPECT_EQ(q.initial, 1ull << 40);
  EXPECT_EQ(q.expiration, kBinaryNoVivify);
}

TEST(BinaryParser, QuietOpcodesMapToTheirLoudForm) {
  struct Case {
    O sent, loud;
    bool quiet;
    std::string extras, key;
  };
  const std::string set_extras(8, '\0'), arith(20, '\0'), touch(4, '\0');
  const Case cases[] = {
      {O::kGet, O::kGet, false, "", "k"},
      {O::kGetQ, O::kGet, true, "", "k"},
      {O::kGetK, O::kGetK, false, "", "k"},
      {O::kGetKQ, O::kGetK, true, "", "k"},
      {O::kSetQ, O::kSet, true, set_extras, "k"},
      {O::kAddQ, O::kAdd, true, set_extras, "k"},
      {O::kReplaceQ, O::kReplace, true, set_extras, "k"},
      {O::kDeleteQ, O::kDelete, true, "", "k"},
      {O::kIncrementQ, O::kIncrement, true, arith, "k"},
      {O::kDecrementQ, O::kDecrement, true, arith, "k"},
      {O::kQuitQ, O::kQuit, true, "", ""},
      {O::kFlushQ, O::kFlush, true, "", ""},
      {O::kAppendQ, O::kAppend, true, "", "k"},
      {O::kPrependQ, O::kPrepend, true, "", "k"},
      {O::kGatQ, O::kGat, true, touch, "k"},
      {O::kGatKQ, O::kGatK, true, touch, "k"},
      {O::kTouch, O::kTouch, false, touch, "k"},
      {O::kNoop, O::kNoop, false, "", ""},
      {O::kVersion, O::kVersion, false, "", ""},
      {O::kStat, O::kStat, false, "", ""},
      {O::kSaslListMechs, O::kSaslListMechs, false, "", ""},
      {O::kSaslAuth, O::kSaslAuth, false, "", "PLAIN"},
  };
  for (const Case& c : cases) {
    BinaryRequest q;
    std::string in = Req(c.sent, c.key, c.extras);
    BinaryParseResult r = Parse(in, &q);
    ASSERT_EQ(r.status, BinaryParseStatus::kRequest) << static_cast<int>(c.sent);
    EXPECT_EQ(r.consumed, in.size());
    EXPECT_EQ(q.command, c.loud) << static_cast<int>(c.sent);
    EXPECT_EQ(q.quiet, c.quiet) << static_cast<int>(c.sent);
    EXPECT_EQ(q.opcode, static_cast<uint8_t>(c.sent));
  }
}

// A pipeline split at every byte parses to the same requests as when it arrives whole,
// and every proper prefix of one request is incomplete.
TEST(BinaryParser, SplitAtEveryByte) {
  std::string stream =
      Req(O::kSet, "alpha", Be32(5) + Be32(0), "one") + Req(O::kGetQ, "alpha", "", "", 0, 1) +
      Req(O::kGetK, "beta") + Req(O::kIncrement, "n", Be64(1) + Be64(0) + Be32(0)) +
      Req(O::kFlush, "", Be32(10)) + Req(O::kStat, "settings") +
      Req(O::kAppendQ, "alpha", "", "two") + Raw(0x30, 0, 0, 3, "xyz") +
      Req(O::kSet, "big", Be32(0) + Be32(0), std::string(1001, 'v')) + Req(O::kNoop);
  std::vector<std::string> whole = Feed({stream});
  ASSERT_EQ(whole.size(), 10u);
  for (size_t cut = 0; cut <= stream.size(); cut++) {
    ASSERT_EQ(Feed({stream.substr(0, cut), stream.substr(cut)}), whole) << cut;
  }
  std::vector<std::string> bytes;
  for (char c : stream) bytes.push_back(std::string(1, c));
  EXPECT_EQ(Feed(bytes), whole);

  std::string one = Req(O::kSet, "alpha", Be32(5) + Be32(0), "one");
  for (size_t n = 0; n < one.size(); n++) {
    BinaryRequest q;
    EXPECT_EQ(Parse(one.substr(0, n), &q).status, BinaryParseStatus::kIncomplete) << n;
  }
}

TEST(BinaryParser, BadMagicClosesAtOnce) {
  BinaryRequest q;
  EXPECT_EQ(Parse("g", &q).status, BinaryParseStatus::kClose);
  EXPECT_EQ(Parse("get k\r\n", &q).status, BinaryParseStatus::kClose);
  std::string response_magic = Req(O::kNoop);
  response_magic[0] = static_cast<char>(kBinaryResponseMagic);
  EXPECT_EQ(Parse(response_magic, &q).status, BinaryParseStatus::kClose);
  EXPECT_EQ(Feed({Req(O::kNoop) + "x" + Req(O::kNoop)}).back().substr(0, 1),
            std::to_string(static_cast<int>(BinaryParseStatus::kClose)));
}

TEST(BinaryParser, LengthsBeyondTheBodyAreUnknownCommandAndClose) {
  BinaryRequest q;
  BinaryParseResult r = Parse(Raw(0x00, 5, 0, 4, "abcd", 77), &q);
  EXPECT_EQ(r.status, BinaryParseStatus::kError);
  EXPECT_EQ(r.error, BinaryStatus::kUnknownCommand);
  EXPECT_TRUE(r.close);
  EXPECT_EQ(q.opaque, 77u);
  r = Parse(Raw(0x01, 2, 8, 9), &q);  // decided by the header alone
  EXPECT_EQ(r.error, BinaryStatus::kUnknownCommand);
  EXPECT_TRUE(r.close);
}

TEST(BinaryParser, KeyLongerThan250IsInvalidAndCloses) {
  BinaryRequest q;
  std::string k250(250, 'k'), k251(251, 'k');
  EXPECT_EQ(Parse(Req(O::kGet, k250), &q).status, BinaryParseStatus::kRequest);
  EXPECT_EQ(q.key, k250);
  BinaryParseResult r = Parse(Req(O::kGet, k251), &q);
  EXPECT_EQ(r.status, BinaryParseStatus::kError);
  EXPECT_EQ(r.error, BinaryStatus::kInvalidArguments);
  EXPECT_TRUE(r.close);
}

TEST(BinaryParser, WrongShapesAreInvalidArgumentsAndClose) {
  const std::string cases[] = {
      Req(O::kGet, "k", "xxxx"),                       // get with extras
      Req(O::kGet),                                    // get without a key
      Req(O::kGet, "k", "", "v"),                      // get with a value
      Req(O::kSet, "k", "xxxx", "v"),                  // set with 4 extras
      Req(O::kSet, "", std::string(8, '\0'), "v"),     // set without a key
      Req(O::kNoop, "k"),                              // noop with a key
      Req(O::kVersion, "", "", "v"),                   // version with a body
      Req(O::kQuit, "", "xxxx"),                       // quit with extras
      Req(O::kFlush, "", std::string(8, '\0')),        // flush with 8 extras
      Req(O::kFlush, "k"),                             // flush with a key
      Req(O::kIncrement, "k", std::string(12, '\0')),  // incr with 12 extras
      Req(O::kIncrement, "k", std::string(20, '\0'), "v"),
      Req(O::kDelete, "k", "xxxx"),
      Req(O::kAppend, "k", "xxxx", "v"),
      Req(O::kStat, "", "xxxx"),
      Req(O::kTouch, "k"),  // touch without its expiration
      Req(O::kGat, "", "xxxx"),
      Req(O::kSaslListMechs, "k"),
      Req(O::kSaslAuth, "", "", "v"),
  };
  for (const std::string& in : cases) {
    BinaryRequest q;
    BinaryParseResult r = Parse(in, &q);
    EXPECT_EQ(r.status, BinaryParseStatus::kError) << static_cast<int>(in[1]);
    EXPECT_EQ(r.error, BinaryStatus::kInvalidArguments) << static_cast<int>(in[1]);
    EXPECT_TRUE(r.close);
    EXPECT_EQ(r.consumed, kBinaryHeaderSize);
  }
}

TEST(BinaryParser, UnknownOpcodesSwallowTheirBodyAndGoOn) {
  for (int op : {0x1b /* verbosity */, 0x1f, 0x25, 0x30, 0x80, 0xff}) {
    BinaryRequest q;
    BinaryParseResult r = Parse(Raw(static_cast<uint8_t>(op), 1, 4, 9, "", 5), &q);
    EXPECT_EQ(r.status, BinaryParseStatus::kError) << op;
    EXPECT_EQ(r.error, BinaryStatus::kUnknownCommand);
    EXPECT_FALSE(r.close);
    EXPECT_EQ(r.consumed, kBinaryHeaderSize);
    EXPECT_EQ(r.swallow, 9u);
    EXPECT_EQ(q.opcode, op);
    EXPECT_EQ(q.opaque, 5u);
  }
}

TEST(BinaryParser, ValueOverTheLimitIsSwallowedNotBuffered) {
  BinaryRequest q;
  std::string at_limit = Req(O::kSet, "k", std::string(8, '\0'), std::string(1000, 'v'));
  BinaryParseResult r = Parse(at_limit, &q);
  EXPECT_EQ(r.status, BinaryParseStatus::kRequest);
  EXPECT_FALSE(q.too_large);
  EXPECT_EQ(r.consumed, at_limit.size());

  // Only the header, extras and key are needed: the value is not waited for.
  std::string head = Raw(0x01, 1, 8, 8 + 1 + 5000000, std::string(8, '\0') + "k");
  r = Parse(head, &q);
  ASSERT_EQ(r.status, BinaryParseStatus::kRequest);
  EXPECT_TRUE(q.too_large);
  EXPECT_EQ(q.key, "k");
  EXPECT_TRUE(q.value.empty());
  EXPECT_EQ(q.value_length, 5000000u);
  EXPECT_EQ(r.consumed, head.size());
  EXPECT_EQ(r.swallow, 5000000u);

  r = Parse(Raw(0x0e, 1, 0, 1 + 1001, "k"), &q);  // append
  EXPECT_TRUE(q.too_large);
  EXPECT_EQ(r.swallow, 1001u);
}

// As in memcached, stat and touch take only extras and key: bytes the body length
// declares beyond them are read as the next request.
TEST(BinaryParser, StatConsumesOnlyItsKey) {
  BinaryRequest q;
  std::string in = Raw(0x10, 5, 0, 9, "itemsXXXX");
  BinaryParseResult r = Parse(in, &q);
  ASSERT_EQ(r.status, BinaryParseStatus::kRequest);
  EXPECT_EQ(q.key, "items");
  EXPECT_EQ(r.consumed, kBinaryHeaderSize + 5);
}

TEST(BinaryParser, FlushExpirationIsOptional) {
  BinaryRequest q;
  ASSERT_EQ(Parse(Req(O::kFlush), &q).status, BinaryParseStatus::kRequest);
  EXPECT_FALSE(q.has_expiration);
  ASSERT_EQ(Parse(Req(O::kFlushQ, "", Be32(30)), &q).status, BinaryParseStatus::kRequest);
  EXPECT_TRUE(q.has_expiration);
  EXPECT_EQ(q.expiration, 30u);
}

TEST(BinaryResponse, HeaderBytes) {
  std::string out;
  BinaryResponseHeader h;
  h.opcode = 0x0c;
  h.status = BinaryStatus::kKeyNotFound;
  h.opaque = 0x01020304;
  h.cas = 0x1112131415161718;
  h.extras_length = 4;
  h.key_length = 0x0203;
  h.body_length = 0x0a0b0c0d;
  AppendBinaryHeader(&out, h);
  const unsigned char want[] = {0x81, 0x0c, 0x02, 0x03, 0x04, 0x00, 0x00, 0x01,
                                0x0a, 0x0b, 0x0c, 0x0d, 0x01, 0x02, 0x03, 0x04,
                                0x11, 0x12, 0x13, 0x14, 0x15, 0x16, 0x17, 0x18};
  EXPECT_EQ(out, std::string(reinterpret_cast<const char*>(want), sizeof(want)));
}

TEST(BinaryResponse, ErrorCarriesMemcachedsMessage) {
  std::string out;
  AppendBinaryError(&out, 0x01, 9, BinaryStatus::kTooLarge);
  ASSERT_EQ(out.size(), kBinaryHeaderSize + 10);
  EXPECT_EQ(out.substr(kBinaryHeaderSize), "Too large.");
  EXPECT_EQ(out[7], 0x03);
  EXPECT_EQ(out[11], 10);
  EXPECT_EQ(out[15], 9);
  out.clear();
  AppendBinaryError(&out, 0x00, 0, BinaryStatus::kOutOfMemory, "out of disk space");
  EXPECT_EQ(out.substr(kBinaryHeaderSize), "out of disk space");
  EXPECT_EQ(static_cast<uint8_t>(out[7]), 0x82);
}

}  // namespace
}  // namespace bale::proto
