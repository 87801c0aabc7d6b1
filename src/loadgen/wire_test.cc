#include "loadgen/wire.h"

#include <gtest/gtest.h>

#include <string>

namespace bale::loadgen {
namespace {

// Feeds `reply` cut at every byte: each proper prefix is incomplete (and any size it
// asks for is more than it has, and no more than the reply), the whole is `kind` taking
// every byte, and bytes of a next reply after it change nothing. A hit's value must be
// `value`, and a text hit's key `key`. Returns the reply's opaque and close.
Reply ExpectSplitAtEveryByte(Protocol p, Op op, const std::string& reply, ReplyKind kind,
                             std::string_view value = {}, std::string_view key = {}) {
  for (size_t i = 0; i < reply.size(); ++i) {
    const Reply r = ParseReply(p, op, std::string_view(reply).substr(0, i));
    EXPECT_EQ(r.kind, ReplyKind::kIncomplete) << "cut at " << i << " of " << reply;
    if (r.needed != 0) {
      EXPECT_GT(r.needed, i);
      EXPECT_LE(r.needed, reply.size());
    }
  }
  const std::string more = reply + reply;
  Reply r = ParseReply(p, op, more);
  EXPECT_EQ(r.kind, kind) << reply;
  EXPECT_EQ(r.consumed, reply.size()) << reply;
  EXPECT_EQ(r.value, value) << reply;
  EXPECT_EQ(r.key, key) << reply;
  r.value = r.key = {};  // views into `more`
  return r;
}

std::string Binary(uint8_t opcode, uint16_t status, std::string_view extras, std::string_view value,
                   uint32_t opaque) {
  std::string h(24, '\0');
  h[0] = static_cast<char>(0x81);
  h[1] = static_cast<char>(opcode);
  h[4] = static_cast<char>(extras.size());
  h[6] = static_cast<char>(status >> 8);
  h[7] = static_cast<char>(status);
  const uint32_t body = static_cast<uint32_t>(extras.size() + value.size());
  for (int i = 0; i < 4; ++i) h[8 + i] = static_cast<char>(body >> (24 - 8 * i));
  for (int i = 0; i < 4; ++i) h[12 + i] = static_cast<char>(opaque >> (24 - 8 * i));
  return h + std::string(extras) + std::string(value);
}

TEST(LoadgenWire, EncodesEveryProtocol) {
  std::string out;
  AppendRequest(Protocol::kText, Op::kGet, "k1", "", 0, "", &out);
  AppendRequest(Protocol::kText, Op::kSet, "k1", "ab\r\n", 0, "", &out);
  EXPECT_EQ(out, "get k1\r\nset k1 0 0 4\r\nab\r\n\r\n");
  out.clear();
  AppendRequest(Protocol::kMeta, Op::kGet, "k1", "", 0, "", &out);
  AppendRequest(Protocol::kMeta, Op::kSet, "k1", "abc", 0, "", &out);
  EXPECT_EQ(out, "mg k1 v\r\nms k1 3\r\nabc\r\n");
  out.clear();
  AppendRequest(Protocol::kHttp, Op::kGet, "a b:1", "", 0, "h:80", &out);
  EXPECT_EQ(out, "GET /o/a%20b%3A1 HTTP/1.1\r\nHost: h:80\r\n\r\n");
  out.clear();
  AppendRequest(Protocol::kHttp, Op::kSet, "k", "xyz", 0, "h:80", &out);
  EXPECT_EQ(out, "PUT /o/k HTTP/1.1\r\nHost: h:80\r\nContent-Length: 3\r\n\r\nxyz");
  out.clear();
  AppendRequest(Protocol::kRedis, Op::kSet, "k1", "ab\r\n", 0, "", &out);
  AppendRequest(Protocol::kRedis, Op::kGet, "key:10", "ignored", 0, "", &out);
  AppendRequest(Protocol::kRedis, Op::kSet, "k", "", 0, "", &out);
  EXPECT_EQ(out,
            "*3\r\n$3\r\nSET\r\n$2\r\nk1\r\n$4\r\nab\r\n\r\n"
            "*2\r\n$3\r\nGET\r\n$6\r\nkey:10\r\n"
            "*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$0\r\n\r\n");
}

TEST(LoadgenWire, EncodesBinaryHeaders) {
  std::string out;
  AppendRequest(Protocol::kBinary, Op::kSet, "key", "value", 0x01020304, "", &out);
  ASSERT_EQ(out.size(), 24u + 8 + 3 + 5);
  EXPECT_EQ(static_cast<uint8_t>(out[0]), 0x80);
  EXPECT_EQ(out[1], 0x01);
  EXPECT_EQ(out.substr(2, 2), std::string("\0\3", 2));  // key length
  EXPECT_EQ(out[4], 8);                                 // extras: flags, expiration
  EXPECT_EQ(out.substr(8, 4), std::string("\0\0\0\x10", 4));
  EXPECT_EQ(out.substr(12, 4), "\x01\x02\x03\x04");
  EXPECT_EQ(out.substr(32), "keyvalue");
  out.clear();
  AppendRequest(Protocol::kBinary, Op::kGet, "key", "ignored", 7, "", &out);
  EXPECT_EQ(out.size(), 27u);
  EXPECT_EQ(out[1], 0x00);
  EXPECT_EQ(out.substr(24), "key");
}

TEST(LoadgenWire, TextRepliesSplitAtEveryByte) {
  const Protocol t = Protocol::kText;
  ExpectSplitAtEveryByte(t, Op::kGet, "VALUE k1 5 4\r\n\r\nab\r\nEND\r\n", ReplyKind::kHit,
                         "\r\nab", "k1");
  ExpectSplitAtEveryByte(t, Op::kGet, "VALUE k 0 3 99\r\nabc\r\nEND\r\n", ReplyKind::kHit, "abc",
                         "k");
  ExpectSplitAtEveryByte(t, Op::kGet, "END\r\n", ReplyKind::kMiss);
  ExpectSplitAtEveryByte(t, Op::kSet, "STORED\r\n", ReplyKind::kStored);
  ExpectSplitAtEveryByte(t, Op::kSet, "NOT_STORED\r\n", ReplyKind::kServerError);
  ExpectSplitAtEveryByte(t, Op::kGet, "SERVER_ERROR out of memory\r\n", ReplyKind::kServerError);
  ExpectSplitAtEveryByte(t, Op::kSet, "CLIENT_ERROR bad data chunk\r\n", ReplyKind::kClientError);
  ExpectSplitAtEveryByte(t, Op::kGet, "ERROR\r\n", ReplyKind::kClientError);
}

TEST(LoadgenWire, MetaRepliesSplitAtEveryByte) {
  const Protocol m = Protocol::kMeta;
  ExpectSplitAtEveryByte(m, Op::kGet, "VA 3 f5\r\nabc\r\n", ReplyKind::kHit, "abc");
  ExpectSplitAtEveryByte(m, Op::kGet, "VA 0\r\n\r\n", ReplyKind::kHit, "");
  ExpectSplitAtEveryByte(m, Op::kGet, "EN\r\n", ReplyKind::kMiss);
  ExpectSplitAtEveryByte(m, Op::kSet, "HD\r\n", ReplyKind::kStored);
  ExpectSplitAtEveryByte(m, Op::kSet, "NS\r\n", ReplyKind::kServerError);
  ExpectSplitAtEveryByte(m, Op::kSet, "SERVER_ERROR busy\r\n", ReplyKind::kServerError);
}

TEST(LoadgenWire, BinaryRepliesSplitAtEveryByte) {
  const Protocol b = Protocol::kBinary;
  const std::string flags(4, '\0');
  Reply r = ExpectSplitAtEveryByte(b, Op::kGet, Binary(0x00, 0, flags, "hello", 9), ReplyKind::kHit,
                                   "hello");
  EXPECT_EQ(r.opaque, 9u);
  r = ExpectSplitAtEveryByte(b, Op::kGet, Binary(0x00, 1, "", "Not found", 10), ReplyKind::kMiss);
  EXPECT_EQ(r.opaque, 10u);
  ExpectSplitAtEveryByte(b, Op::kSet, Binary(0x01, 0, "", "", 1), ReplyKind::kStored);
  ExpectSplitAtEveryByte(b, Op::kSet, Binary(0x01, 0x82, "", "Out of memory", 1),
                         ReplyKind::kServerError);
  ExpectSplitAtEveryByte(b, Op::kSet, Binary(0x01, 0x03, "", "Too large.", 1),
                         ReplyKind::kClientError);
}

TEST(LoadgenWire, HttpRepliesSplitAtEveryByte) {
  const Protocol h = Protocol::kHttp;
  Reply r = ExpectSplitAtEveryByte(
      h, Op::kGet, "HTTP/1.1 200 OK\r\nContent-Type: a/b\r\ncontent-length: 5\r\n\r\nhello",
      ReplyKind::kHit, "hello");
  EXPECT_FALSE(r.close);
  ExpectSplitAtEveryByte(h, Op::kGet,
                         "HTTP/1.1 404 Not Found\r\nContent-Length: 10\r\n\r\nnot found\n",
                         ReplyKind::kMiss);
  ExpectSplitAtEveryByte(h, Op::kSet, "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\n{}",
                         ReplyKind::kStored);
  ExpectSplitAtEveryByte(h, Op::kSet, "HTTP/1.1 413 Too Large\r\nContent-Length: 0\r\n\r\n",
                         ReplyKind::kClientError);
  r = ExpectSplitAtEveryByte(h, Op::kGet,
                             "HTTP/1.1 503 Busy\r\nConnection: close\r\nContent-Length: 1\r\n\r\nx",
                             ReplyKind::kServerError);
  EXPECT_TRUE(r.close);
  r = ExpectSplitAtEveryByte(h, Op::kGet, "HTTP/1.0 200 OK\r\nContent-Length: 1\r\n\r\nx",
                             ReplyKind::kHit, "x");
  EXPECT_TRUE(r.close);  // HTTP/1.0 closes unless it says keep-alive
}

TEST(LoadgenWire, RedisRepliesSplitAtEveryByte) {
  const Protocol r = Protocol::kRedis;
  ExpectSplitAtEveryByte(r, Op::kGet, "$5\r\nhello\r\n", ReplyKind::kHit, "hello");
  ExpectSplitAtEveryByte(r, Op::kGet, "$4\r\n\r\n$-\r\n", ReplyKind::kHit, "\r\n$-");
  ExpectSplitAtEveryByte(r, Op::kGet, "$0\r\n\r\n", ReplyKind::kHit, "");
  ExpectSplitAtEveryByte(r, Op::kGet, "$-1\r\n", ReplyKind::kMiss);
  ExpectSplitAtEveryByte(r, Op::kSet, "+OK\r\n", ReplyKind::kStored);
  ExpectSplitAtEveryByte(r, Op::kSet,
                         "-OOM command not allowed when used memory > 'maxmemory'.\r\n",
                         ReplyKind::kServerError);
  ExpectSplitAtEveryByte(r, Op::kGet, "-ERR unknown command 'GET'\r\n", ReplyKind::kServerError);
  ExpectSplitAtEveryByte(r, Op::kGet, "-WRONGTYPE Operation against a key\r\n",
                         ReplyKind::kServerError);
}

TEST(LoadgenWire, RepliesThatBreakTheProtocolAreBad) {
  const auto bad = [](Protocol p, Op op, std::string_view in) {
    EXPECT_EQ(ParseReply(p, op, in).kind, ReplyKind::kBad) << in;
  };
  bad(Protocol::kText, Op::kGet, "HELLO\r\n");
  bad(Protocol::kText, Op::kGet, "STORED\r\n");  // a set's answer to a get
  bad(Protocol::kText, Op::kSet, "END\r\n");
  bad(Protocol::kText, Op::kGet, "VALUE k 0 3\r\nabcd\r\nEND\r\n");  // longer than it said
  bad(Protocol::kText, Op::kGet, "VALUE k 0 x\r\n");
  bad(Protocol::kText, Op::kGet, std::string(5000, 'a'));  // a line with no end
  bad(Protocol::kMeta, Op::kGet, "HD\r\n");
  bad(Protocol::kMeta, Op::kSet, "VA 1\r\n");
  std::string wrong_magic = Binary(0x00, 0, "", "", 0);
  wrong_magic[0] = static_cast<char>(0x80);
  bad(Protocol::kBinary, Op::kGet, wrong_magic);
  bad(Protocol::kBinary, Op::kGet, Binary(0x01, 0, "", "", 0));  // a set's reply to a get
  bad(Protocol::kHttp, Op::kGet, "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n");
  bad(Protocol::kHttp, Op::kGet, "HTTP/1.1 200 OK\r\n\r\n");  // no length
  bad(Protocol::kHttp, Op::kGet, "HTTP/1.1 301 Moved\r\nContent-Length: 0\r\n\r\n");
  bad(Protocol::kHttp, Op::kGet, "SMTP 200\r\n\r\n");
  const Protocol r = Protocol::kRedis;
  bad(r, Op::kGet, "+OK\r\n");  // a set's answer to a get
  bad(r, Op::kSet, "$3\r\nabc\r\n");
  bad(r, Op::kSet, "$-1\r\n");  // SET without NX or XX always stores
  bad(r, Op::kSet, "+QUEUED\r\n");
  bad(r, Op::kGet, ":1\r\n");
  bad(r, Op::kGet, "*1\r\n$1\r\na\r\n");
  bad(r, Op::kGet, "_\r\n");           // RESP3's null
  bad(r, Op::kGet, "$3\r\nabcd\r\n");  // longer than it said
  bad(r, Op::kGet, "$-2\r\n");
  bad(r, Op::kGet, "$x\r\n");
  bad(r, Op::kGet, "$\r\n");
  bad(r, Op::kGet, "$99999999999999999999\r\n");
  bad(r, Op::kGet, "$1\r\nabc");             // no CRLF after the data
  bad(r, Op::kSet, std::string(5000, '+'));  // a line with no end
}

}  // namespace
}  // namespace bale::loadgen
