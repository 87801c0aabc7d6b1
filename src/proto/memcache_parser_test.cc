// Tests for the memcached text/meta protocol parser.
//
// Expected replies follow memcached 1.6.18 (Debian's /usr/bin/memcached): the comments
// marked [observed] quote what that binary answered to the same bytes, with a trailing
// "mn\r\n" to show where it resumed parsing.
#include "proto/memcache_parser.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cstring>
#include <iterator>
#include <memory>
#include <random>
#include <string>
#include <vector>

namespace bale::proto {
namespace {

using namespace std::string_literals;

const std::string kKey250(250, 'k');
const std::string kKey251(251, 'k');

// The bytes of a request in a heap block of exactly their size, so a read past the end is
// a heap overflow under ASan.
class Exact {
 public:
  explicit Exact(std::string_view s)
      : size_(s.size()), buf_(new char[std::max<size_t>(s.size(), 1)]) {
    if (!s.empty()) std::memcpy(buf_.get(), s.data(), s.size());
  }
  std::string_view view() const { return std::string_view(buf_.get(), size_); }
  bool Contains(std::string_view v) const {
    if (v.empty()) return v.data() == nullptr || (v.data() >= buf_.get() && v.data() <= End());
    return v.data() >= buf_.get() && v.data() + v.size() <= End();
  }

 private:
  const char* End() const { return buf_.get() + size_; }
  size_t size_;
  std::unique_ptr<char[]> buf_;
};

// What a request should parse to. Fields not named keep Request's defaults.
struct Want {
  ParseStatus status = ParseStatus::kRequest;
  Command command = Command::kGet;
  std::string key;
  std::string keys;
  std::string data;
  std::string args;
  uint32_t flags = 0;
  int64_t exptime = 0;
  uint64_t cas = 0;
  uint64_t delta = 0;
  uint32_t bytes = 0;
  int64_t number = 0;
  bool has_number = false;
  bool noreply = false;  // Request::noreply for a request, ParseResult::noreply for an error
  bool too_large = false;
  uint64_t swallow = 0;
  std::string error;
};

struct Case {
  std::string in;
  Want want;
};

Want Err(std::string_view error, bool noreply = false) {
  Want w;
  w.status = ParseStatus::kError;
  w.error = std::string(error);
  w.noreply = noreply;
  return w;
}

Want Close() {
  Want w;
  w.status = ParseStatus::kClose;
  return w;
}

constexpr std::string_view kBadFormat = "CLIENT_ERROR bad command line format";
constexpr std::string_view kBadChunk = "CLIENT_ERROR bad data chunk";
constexpr std::string_view kBadExptime = "CLIENT_ERROR invalid exptime argument";
constexpr std::string_view kBadDelta = "CLIENT_ERROR invalid numeric delta argument";
constexpr std::string_view kBadDelete =
    "CLIENT_ERROR bad command line format.  Usage: delete <key> [noreply]";

std::string Printable(std::string_view s) {
  std::string out;
  for (char c : s.substr(0, 120)) {
    if (c == '\r') {
      out += "\\r";
    } else if (c == '\n') {
      out += "\\n";
    } else if (static_cast<unsigned char>(c) < 32 || static_cast<unsigned char>(c) > 126) {
      char buf[8];
      snprintf(buf, sizeof(buf), "\\x%02x", static_cast<unsigned char>(c));
      out += buf;
    } else {
      out += c;
    }
  }
  if (s.size() > 120) out += "...(" + std::to_string(s.size()) + " bytes)";
  return out;
}

void ExpectRequest(const Request& got, const Want& w, const Exact& buf) {
  EXPECT_EQ(got.command, w.command);
  EXPECT_EQ(got.key, w.key);
  EXPECT_EQ(got.keys, w.keys);
  EXPECT_EQ(got.data, w.data);
  EXPECT_EQ(got.args, w.args);
  EXPECT_EQ(got.flags, w.flags);
  EXPECT_EQ(got.exptime, w.exptime);
  EXPECT_EQ(got.cas, w.cas);
  EXPECT_EQ(got.delta, w.delta);
  EXPECT_EQ(got.bytes, w.bytes);
  EXPECT_EQ(got.number, w.number);
  EXPECT_EQ(got.has_number, w.has_number);
  EXPECT_EQ(got.noreply, w.noreply);
  EXPECT_EQ(got.too_large, w.too_large);
  for (std::string_view v : {got.key, got.keys, got.data, got.args}) {
    EXPECT_TRUE(buf.Contains(v)) << "a view points outside the input";
  }
}

// Parses c.in whole and checks the result, then every proper prefix, which must be
// incomplete: a parser that sees part of a request may not act on it.
void CheckCase(const Case& c, const ParserLimits& limits = ParserLimits()) {
  SCOPED_TRACE("input: " + Printable(c.in));
  const Want& w = c.want;
  {
    Exact buf(c.in);
    Request req;
    ParseResult r = ParseRequest(buf.view(), limits, &req);
    ASSERT_EQ(r.status, w.status);
    switch (w.status) {
      case ParseStatus::kRequest:
        EXPECT_EQ(r.consumed, c.in.size());
        EXPECT_EQ(r.swallow, w.swallow);
        ExpectRequest(req, w, buf);
        break;
      case ParseStatus::kError:
        EXPECT_EQ(r.consumed, c.in.size());
        EXPECT_EQ(r.error, w.error);
        EXPECT_EQ(r.noreply, w.noreply);
        EXPECT_EQ(r.swallow, 0u);
        break;
      case ParseStatus::kClose:
      case ParseStatus::kIncomplete:
        EXPECT_EQ(r.consumed, 0u);
        break;
    }
  }
  for (size_t i = 0; i < c.in.size(); i++) {
    Exact buf(std::string_view(c.in).substr(0, i));
    Request req;
    ParseResult r = ParseRequest(buf.view(), limits, &req);
    ASSERT_EQ(r.status, ParseStatus::kIncomplete) << "prefix of " << i << " bytes";
    ASSERT_EQ(r.consumed, 0u) << "prefix of " << i << " bytes";
  }
}

void CheckCases(const std::vector<Case>& cases, const ParserLimits& limits = ParserLimits()) {
  for (const Case& c : cases) CheckCase(c, limits);
}

Want Req(Command command) {
  Want w;
  w.command = command;
  return w;
}

Want Get(Command command, std::string keys, int64_t exptime = 0) {
  Want w = Req(command);
  w.keys = std::move(keys);
  w.exptime = exptime;
  return w;
}

Want Store(Command command, std::string key, uint32_t flags, int64_t exptime, std::string data,
           bool noreply = false, uint64_t cas = 0) {
  Want w = Req(command);
  w.key = std::move(key);
  w.flags = flags;
  w.exptime = exptime;
  w.bytes = static_cast<uint32_t>(data.size());
  w.data = std::move(data);
  w.noreply = noreply;
  w.cas = cas;
  return w;
}

Want Keyed(Command command, std::string key, bool noreply = false) {
  Want w = Req(command);
  w.key = std::move(key);
  w.noreply = noreply;
  return w;
}

Want Arith(Command command, std::string key, uint64_t delta, bool noreply = false) {
  Want w = Keyed(command, std::move(key), noreply);
  w.delta = delta;
  return w;
}

Want Touch(std::string key, int64_t exptime, bool noreply = false) {
  Want w = Keyed(Command::kTouch, std::move(key), noreply);
  w.exptime = exptime;
  return w;
}

Want Number(Command command, int64_t number, bool has_number, bool noreply = false) {
  Want w = Req(command);
  w.number = number;
  w.has_number = has_number;
  w.noreply = noreply;
  return w;
}

Want Meta(Command command, std::string key, std::string args, std::string data = "") {
  Want w = Keyed(command, std::move(key));
  w.args = std::move(args);
  if (command == Command::kMetaSet) w.bytes = static_cast<uint32_t>(data.size());
  w.data = std::move(data);
  return w;
}

Want Stats(std::string args) {
  Want w = Req(Command::kStats);
  w.args = std::move(args);
  return w;
}

std::string Tokens(std::string_view token, int n) {
  std::string s;
  for (int i = 0; i < n; i++) s.append(" ").append(token);
  return s;
}

// ---------------------------------------------------------------------------------------
// Every command, split at every byte boundary.

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

TEST(MemcacheParser, EmptyInputIsIncomplete) {
  Request req;
  ParseResult r = ParseRequest(std::string_view(), ParserLimits(), &req);
  EXPECT_EQ(r.status, ParseStatus::kIncomplete);
  EXPECT_EQ(r.consumed, 0u);
}

TEST(MemcacheParser, RetrievalCommands) {
  CheckCases({
      {"get k\r\n", Get(Command::kGet, "k")},
      {"get a b  c\r\n", Get(Command::kGet, "a b  c")},
      {"get " + kKey250 + "\r\n", Get(Command::kGet, kKey250)},
      {"gets a b\r\n", Get(Command::kGets, "a b")},
      {"gat 10 a b\r\n", Get(Command::kGat, "a b", 10)},
      {"gats -1 a\r\n", Get(Command::kGats, "a", -1)},
      // [observed] "gat 10\r\nmn\r\n" -> "END\r\nMN\r\n": an empty key list.
      {"gat 10\r\n", Get(Command::kGat, "", 10)},
      {"gats 10\r\n", Get(Command::kGats, "", 10)},
      // [observed] memcached 1.6.18 still answers the legacy "bget" like get.
      {"bget k\r\n", Get(Command::kGet, "k")},
      {"  get k\r\n", Get(Command::kGet, "k")},
      {"get k\n", Get(Command::kGet, "k")},
      // [observed] "get k HTTP/1.1": get claims the line, HTTP/1.1 is just a key.
      {"get k HTTP/1.1\r\n", Get(Command::kGet, "k HTTP/1.1")},
  });
}

TEST(MemcacheParser, StorageCommands) {
  CheckCases({
      {"set k 5 0 3\r\nabc\r\n", Store(Command::kSet, "k", 5, 0, "abc")},
      {"set k 0 0 0\r\n\r\n", Store(Command::kSet, "k", 0, 0, "")},
      {"set k 1 2 4 noreply\r\na\r\nb\r\n", Store(Command::kSet, "k", 1, 2, "a\r\nb", true)},
      {"set " + kKey250 + " 0 0 1\r\nx\r\n", Store(Command::kSet, kKey250, 0, 0, "x")},
      {"set k 4294967295 -1 1\r\nx\r\n", Store(Command::kSet, "k", 4294967295u, -1, "x")},
      {"set  k  0  0  1\r\nx\r\n", Store(Command::kSet, "k", 0, 0, "x")},
      {"set k 0 0 1\nx\r\n", Store(Command::kSet, "k", 0, 0, "x")},
      // The data block may hold any byte, a NUL and a "\n" included.
      {"set k 0 0 4\r\n\0\n\r\xff\r\n"s, Store(Command::kSet, "k", 0, 0, "\0\n\r\xff"s)},
      // The sixth token is only noreply when it is exactly "noreply".
      {"set k 0 0 1 foo\r\nx\r\n", Store(Command::kSet, "k", 0, 0, "x")},
      {"set k 0 0 1 noreplyx\r\nx\r\n", Store(Command::kSet, "k", 0, 0, "x")},
      {"add k 7 100 2\r\nxy\r\n", Store(Command::kAdd, "k", 7, 100, "xy")},
      {"replace k 0 0 1 noreply\r\nz\r\n", Store(Command::kReplace, "k", 0, 0, "z", true)},
      {"append k 0 0 3\r\nabc\r\n", Store(Command::kAppend, "k", 0, 0, "abc")},
      {"prepend k 0 0 3\r\nabc\r\n", Store(Command::kPrepend, "k", 0, 0, "abc")},
      {"cas k 0 0 1 99\r\nx\r\n", Store(Command::kCas, "k", 0, 0, "x", false, 99)},
      {"cas k 3 4 1 18446744073709551615 noreply\r\nx\r\n",
       Store(Command::kCas, "k", 3, 4, "x", true, 18446744073709551615u)},
  });
}

TEST(MemcacheParser, KeyCommands) {
  CheckCases({
      {"delete k\r\n", Keyed(Command::kDelete, "k")},
      {"delete k 0\r\n", Keyed(Command::kDelete, "k")},
      {"delete k noreply\r\n", Keyed(Command::kDelete, "k", true)},
      {"delete k 0 noreply\r\n", Keyed(Command::kDelete, "k", true)},
      {"delete noreply\r\n", Keyed(Command::kDelete, "noreply")},
      {"incr k 5\r\n", Arith(Command::kIncr, "k", 5)},
      {"incr k 1 foo\r\n", Arith(Command::kIncr, "k", 1)},
      {"decr k 18446744073709551615 noreply\r\n",
       Arith(Command::kDecr, "k", 18446744073709551615u, true)},
      {"touch k 100\r\n", Touch("k", 100)},
      {"touch k -1 noreply\r\n", Touch("k", -1, true)},
      {"touch k 10 foo\r\n", Touch("k", 10)},
  });
}

TEST(MemcacheParser, OtherCommands) {
  CheckCases({
      {"flush_all\r\n", Number(Command::kFlushAll, 0, false)},
      {"flush_all 10\r\n", Number(Command::kFlushAll, 10, true)},
      {"flush_all -1\r\n", Number(Command::kFlushAll, -1, true)},
      {"flush_all noreply\r\n", Number(Command::kFlushAll, 0, false, true)},
      {"flush_all 0 noreply\r\n", Number(Command::kFlushAll, 0, true, true)},
      {"flush_all 10 foo\r\n", Number(Command::kFlushAll, 10, true)},
      {"stats\r\n", Stats("")},
      {"stats items\r\n", Stats("items")},
      {"stats detail on\r\n", Stats("detail on")},
      {"stats cachedump 1 2\r\n", Stats("cachedump 1 2")},
      {"version\r\n", Req(Command::kVersion)},
      {"version foo\r\n", Req(Command::kVersion)},
      {"verbosity 1\r\n", Number(Command::kVerbosity, 1, false)},
      {"verbosity 0 noreply\r\n", Number(Command::kVerbosity, 0, false, true)},
      {"verbosity 1 foo\r\n", Number(Command::kVerbosity, 1, false)},
      {"quit\r\n", Req(Command::kQuit)},
      {"quit foo\r\n", Req(Command::kQuit)},
      {"cache_memlimit 64\r\n", Number(Command::kCacheMemlimit, 64, false)},
      {"cache_memlimit 100 noreply\r\n", Number(Command::kCacheMemlimit, 100, false, true)},
      // Without -A memcached refuses shutdown in any form.
      {"shutdown\r\n", Err("ERROR: shutdown not enabled")},
      {"shutdown graceful\r\n", Err("ERROR: shutdown not enabled")},
      {"shutdown foo bar\r\n", Err("ERROR: shutdown not enabled")},
  });
}

TEST(MemcacheParser, MetaCommands) {
  CheckCases({
      {"mg k v f t\r\n", Meta(Command::kMetaGet, "k", "v f t")},
      {"mg k\r\n", Meta(Command::kMetaGet, "k", "")},
      {"mg " + kKey250 + " v\r\n", Meta(Command::kMetaGet, kKey250, "v")},
      {"mg k" + Tokens("O1", 17) + "\r\n",
       Meta(Command::kMetaGet, "k", Tokens("O1", 17).substr(1))},
      {"ms k 3 T0 F5\r\nabc\r\n", Meta(Command::kMetaSet, "k", "T0 F5", "abc")},
      {"ms k 0\r\n\r\n", Meta(Command::kMetaSet, "k", "", "")},
      {"ms k 2 q\nab\r\n", Meta(Command::kMetaSet, "k", "q", "ab")},
      {"ms k 1" + Tokens("O1", 16) + "\r\nx\r\n",
       Meta(Command::kMetaSet, "k", Tokens("O1", 16).substr(1), "x")},
      {"md k q\r\n", Meta(Command::kMetaDelete, "k", "q")},
      {"md k" + Tokens("O1", 17) + "\r\n",
       Meta(Command::kMetaDelete, "k", Tokens("O1", 17).substr(1))},
      {"ma k D5 v\r\n", Meta(Command::kMetaArithmetic, "k", "D5 v")},
      {"mn\r\n", Req(Command::kMetaNoop)},
      {"mn foo\r\n", Req(Command::kMetaNoop)},
      {"mn\n", Req(Command::kMetaNoop)},
      {"me k\r\n", Meta(Command::kMetaDebug, "k", "")},
      // [observed] me has no flag limit: "me k O1 x30" -> "ME k exp=-1 ...".
      {"me k" + Tokens("O1", 30) + "\r\n",
       Meta(Command::kMetaDebug, "k", Tokens("O1", 30).substr(1))},
  });
}

// ---------------------------------------------------------------------------------------
// Numbers: memcached reads them with strtol/strtoul/strtoull and truncates to 32 bits.

TEST(MemcacheParser, NumbersAsMemcachedReadsThem) {
  Want plus = Store(Command::kSet, "k", 5, 0, "a");
  CheckCases({
      // [observed] "set k1 4294967297 0 1 / get k1" -> "VALUE k1 1 1".
      {"set k 4294967297 0 1\r\na\r\n", Store(Command::kSet, "k", 1, 0, "a")},
      // [observed] "set k2 +5 +0 +1" -> STORED, "VALUE k2 5 1".
      {"set k +5 +0 +1\r\na\r\n", plus},
      {"set k -0 0 1\r\na\r\n", Store(Command::kSet, "k", 0, 0, "a")},
      // [observed] exptime 4294967296 -> STORED; 2147483648 wraps to INT32_MIN.
      {"set k 0 4294967296 1\r\na\r\n", Store(Command::kSet, "k", 0, 0, "a")},
      {"set k 0 2147483648 1\r\na\r\n", Store(Command::kSet, "k", 0, -2147483648LL, "a")},
      {"set k 0 -2147483649 1\r\na\r\n", Store(Command::kSet, "k", 0, 2147483647, "a")},
      // [observed] "set k7 0 0 4294967297\r\na\r\n" -> STORED: the length wraps to 1.
      {"set k 0 0 4294967297\r\na\r\n", Store(Command::kSet, "k", 0, 0, "a")},
      {"set k 0 0 01\r\na\r\n", Store(Command::kSet, "k", 0, 0, "a")},
      // [observed] whitespace other than ' ' is skipped before and ends after a number.
      {"set k 0 0 1\t\r\na\r\n", Store(Command::kSet, "k", 0, 0, "a")},
      {"set k 0 0 \t1\r\na\r\n", Store(Command::kSet, "k", 0, 0, "a")},
      {"set k 0 0 1\rx\r\na\r\n", Store(Command::kSet, "k", 0, 0, "a")},
      {"set k 0 0 1\vx\r\na\r\n", Store(Command::kSet, "k", 0, 0, "a")},
      {"cas k 0 0 1 +7\r\na\r\n", Store(Command::kCas, "k", 0, 0, "a", false, 7)},
      // [observed] "incr k +1" -> NOT_FOUND; "incr k -18446744073709551615" -> NOT_FOUND.
      {"incr k +1\r\n", Arith(Command::kIncr, "k", 1)},
      {"incr k -18446744073709551615\r\n", Arith(Command::kIncr, "k", 1)},
      {"incr k -0\r\n", Arith(Command::kIncr, "k", 0)},
      {"incr k 9223372036854775808\r\n", Arith(Command::kIncr, "k", 9223372036854775808u)},
      // [observed] "touch k +5" -> TOUCHED; "gat -1" -> END.
      {"touch k +5\r\n", Touch("k", 5)},
      {"gat +3 k\r\n", Get(Command::kGat, "k", 3)},
      // [observed] "flush_all 4294967296" -> OK and the item is gone: a delay of 0.
      {"flush_all 4294967296\r\n", Number(Command::kFlushAll, 0, true)},
      // [observed] "verbosity 4294967297" -> OK; "cache_memlimit 4294967396" -> OK.
      {"verbosity 4294967297\r\n", Number(Command::kVerbosity, 1, false)},
      {"cache_memlimit 4294967396\r\n", Number(Command::kCacheMemlimit, 100, false)},
      // [observed] "ms k +2\r\nab" -> HD; "ms k 4294967298\r\nab" -> HD.
      {"ms k +2\r\nab\r\n", Meta(Command::kMetaSet, "k", "", "ab")},
      {"ms k 4294967298\r\nab\r\n", Meta(Command::kMetaSet, "k", "", "ab")},
  });
}

// [observed] memcached tokenizes the line as a C string: "set nul 0 0 1\0zzz\r\na\r\n"
// -> STORED, and "foo\0 HTTP/1.1" is an ERROR, not a close.
TEST(MemcacheParser, NulEndsTheCommandLine) {
  CheckCases({
      {"get a\0b\r\n"s, Get(Command::kGet, "a")},
      {"set nul 0 0 1\0zzz\r\na\r\n"s, Store(Command::kSet, "nul", 0, 0, "a")},
      {"foo\0 HTTP/1.1\r\n"s, Err("ERROR")},
      {"\0get k\r\n"s, Err("ERROR")},
  });
}

// ---------------------------------------------------------------------------------------
// Errors, with memcached's exact strings and how much of the stream they consume.

TEST(MemcacheParser, UnknownAndMalformedCommandsAreError) {
  CheckCases({
      {"foo\r\n", Err("ERROR")},
      {"SET k 0 0 1\r\n", Err("ERROR")},  // [observed] commands are case-sensitive
      {"GET k\r\n", Err("ERROR")},
      {"Get k\r\n", Err("ERROR")},
      {"\r\n", Err("ERROR")},
      {"\n", Err("ERROR")},
      {"   \r\n", Err("ERROR")},
      {"\r\r\n", Err("ERROR")},
      {"get\tk\r\n", Err("ERROR")},  // [observed] only ' ' separates tokens
      {"get\r\n", Err("ERROR")},
      {"get \r\n", Err("ERROR")},
      {"gets\r\n", Err("ERROR")},
      {"gat\r\n", Err("ERROR")},
      {"gats\r\n", Err("ERROR")},
      {"set k 0 0\r\n", Err("ERROR")},
      {"set k 0 0 1 noreply x\r\n", Err("ERROR")},
      {"set k 0 0 1 1 noreply\r\n", Err("ERROR")},  // [observed] too many tokens
      {"add\r\n", Err("ERROR")},
      {"cas k 0 0 1\r\n", Err("ERROR")},  // [observed] cas without its unique
      {"cas k 0 0 1 2 noreply x\r\n", Err("ERROR")},
      {"delete\r\n", Err("ERROR")},
      {"delete a b c d\r\n", Err("ERROR")},
      {"incr k\r\n", Err("ERROR")},
      {"decr k 1 noreply x\r\n", Err("ERROR")},
      {"touch k\r\n", Err("ERROR")},
      {"touch k 1 2 3\r\n", Err("ERROR")},
      {"flush_all 0 0 0\r\n", Err("ERROR")},
      {"verbosity\r\n", Err("ERROR")},
      {"verbosity 1 2 3\r\n", Err("ERROR")},
      {"cache_memlimit\r\n", Err("ERROR")},
      {"cache_memlimit 1 2 3\r\n", Err("ERROR")},
      // [observed] "mg\r\n" (and ms md ma) -> ERROR, but "me\r\n" -> bad command line format.
      {"mg\r\n", Err("ERROR")},
      {"ms\r\n", Err("ERROR")},
      {"md\r\n", Err("ERROR")},
      {"ma\r\n", Err("ERROR")},
      {"me\r\n", Err(kBadFormat)},
      {"mz k\r\n", Err("ERROR")},
      // More than 23 tokens: memcached stops tokenizing, the command sees too many.
      {"set" + Tokens("1", 30) + "\r\n", Err("ERROR")},
  });
}

TEST(MemcacheParser, KeyTooLong) {
  const std::string& k = kKey251;
  CheckCases({
      // [observed] the data block is not swallowed: "a" then parses as a command (ERROR).
      {"set " + k + " 0 0 1\r\n", Err(kBadFormat)},
      {"set " + k + " 0 0 1 noreply\r\n", Err(kBadFormat, true)},
      {"cas " + k + " 0 0 1 1\r\n", Err(kBadFormat)},
      {"get " + k + "\r\n", Err(kBadFormat)},
      // [observed] "get k <251>" -> only the CLIENT_ERROR, even when k is stored.
      {"get a " + k + "\r\n", Err(kBadFormat)},
      {"get" + Tokens("x", 24) + " " + k + "\r\n", Err(kBadFormat)},
      {"gets " + k + " a\r\n", Err(kBadFormat)},
      {"gat 1 " + k + "\r\n", Err(kBadFormat)},
      {"gat x " + k + "\r\n", Err(kBadExptime)},  // [observed] exptime is checked first
      {"delete " + k + "\r\n", Err(kBadFormat)},
      {"delete " + k + " noreply\r\n", Err(kBadFormat, true)},
      {"incr " + k + " 1\r\n", Err(kBadFormat)},
      {"incr " + k + " x\r\n", Err(kBadFormat)},  // [observed] the key is checked first
      {"touch " + k + " 1\r\n", Err(kBadFormat)},
      {"mg " + k + " v\r\n", Err(kBadFormat)},
      {"mg " + k + Tokens("O1", 20) + "\r\n", Err(kBadFormat)},  // [observed]
      {"ms " + k + " 1\r\n", Err(kBadFormat)},
      {"md " + k + "\r\n", Err(kBadFormat)},
      {"ma " + k + "\r\n", Err(kBadFormat)},
      {"me " + k + "\r\n", Err(kBadFormat)},
  });
}

TEST(MemcacheParser, BadNumbersOnTheCommandLine) {
  CheckCases({
      {"set k 0 0 -1\r\n", Err(kBadFormat)},
      {"set k 0 0 abc\r\n", Err(kBadFormat)},
      {"set k 0 0 1a\r\n", Err(kBadFormat)},
      {"set k 0 0 +\r\n", Err(kBadFormat)},
      {"set k 0 0 0x1\r\n", Err(kBadFormat)},
      // [observed] lengths above INT_MAX - 2 are refused outright.
      {"set k 0 0 2147483646\r\n", Err(kBadFormat)},
      {"set k 0 0 4294967295\r\n", Err(kBadFormat)},  // wraps to -1
      {"set k 0 0 99999999999999999999\r\n", Err(kBadFormat)},
      {"set k abc 0 1\r\n", Err(kBadFormat)},
      {"set k -1 0 1\r\n", Err(kBadFormat)},  // [observed]
      {"set k 0 abc 1\r\n", Err(kBadFormat)},
      {"set k 0 1.5 1\r\n", Err(kBadFormat)},
      {"set k 0 0 x noreply\r\n", Err(kBadFormat, true)},
      {"cas k 0 0 1 abc\r\n", Err(kBadFormat)},
      {"cas k 0 0 1 -1\r\n", Err(kBadFormat)},  // [observed]
      {"cas k 0 0 1 noreply\r\n", Err(kBadFormat, true)},
      // [observed] "ms k abc", "ms k -1", "ms k 2147483648" -> bad command line format,
      // and "ms k" too.
      {"ms k\r\n", Err(kBadFormat)},
      {"ms k abc\r\n", Err(kBadFormat)},
      {"ms k -1\r\n", Err(kBadFormat)},
      {"ms k 2147483648\r\n", Err(kBadFormat)},
  });
}

TEST(MemcacheParser, BadDataChunk) {
  CheckCases({
      // Consumes the line, <bytes> and two more, whatever they are. [observed]
      // "ms k 2\r\nabc\r\nmn\r\n" -> "CLIENT_ERROR bad data chunk", "ERROR" (the "\n"), "MN".
      {"set k 0 0 1\r\nabc", Err(kBadChunk)},
      {"set k 0 0 1 noreply\r\nabc", Err(kBadChunk, true)},
      {"set k 0 0 0\r\nab", Err(kBadChunk)},
      {"set k 0 0 1\nx\nm", Err(kBadChunk)},  // the data block needs "\r\n"
      {"set k 0 0 1\r\nx\n\r", Err(kBadChunk)},
      {"cas k 0 0 2 5\r\nabcd", Err(kBadChunk)},
      // ms always reports a bad chunk, q or not.
      {"ms k 2\r\nabc\r", Err(kBadChunk)},
      {"ms k 2 q\r\nabcd", Err(kBadChunk)},
  });
}

TEST(MemcacheParser, TooLargeIsSwallowed) {
  ParserLimits limits;
  limits.max_item_size = 100;
  Want set = Keyed(Command::kSet, "k");
  set.bytes = 101;
  set.too_large = true;
  set.swallow = 103;
  Want quiet = set;
  quiet.noreply = true;
  Want ms = Meta(Command::kMetaSet, "k", "T0 q");
  ms.bytes = 101;
  ms.too_large = true;
  ms.swallow = 103;
  Want big = Keyed(Command::kAppend, "k");
  big.bytes = 2147483645;
  big.too_large = true;
  big.swallow = 2147483647;
  CheckCases(
      {
          {"set k 0 0 101\r\n", set},
          {"set k 0 0 101 noreply\r\n", quiet},
          {"ms k 101 T0 q\r\n", ms},
          {"append k 0 0 2147483645\r\n", big},
          // Exactly at the limit is fine.
          {"set k 0 0 100\r\n" + std::string(100, 'v') + "\r\n",
           Store(Command::kSet, "k", 0, 0, std::string(100, 'v'))},
          // The line is checked before the size: no swallow for a bad line.
          {"set " + kKey251 + " 0 0 101\r\n", Err(kBadFormat)},
      },
      limits);
}

TEST(MemcacheParser, DeleteUsage) {
  CheckCases({
      {"delete k 10\r\n", Err(kBadDelete)},
      {"delete k 0 0\r\n", Err(kBadDelete)},
      {"delete k noreply 0\r\n", Err(kBadDelete)},
      {"delete k 10 noreply\r\n", Err(kBadDelete, true)},
      {"delete k noreply noreply\r\n", Err(kBadDelete, true)},
      // [observed] "delete k HTTP/1.1" -> the usage error, the connection stays.
      {"delete k HTTP/1.1\r\n", Err(kBadDelete)},
      // [observed] "delete <251 bytes> 10" -> the usage error: checked before the key.
      {"delete " + kKey251 + " 10\r\n", Err(kBadDelete)},
  });
}

TEST(MemcacheParser, BadDeltaAndExptime) {
  CheckCases({
      {"incr k x\r\n", Err(kBadDelta)},
      {"incr k -1\r\n", Err(kBadDelta)},                    // [observed]
      {"incr k 18446744073709551616\r\n", Err(kBadDelta)},  // [observed]
      {"incr k 1.5\r\n", Err(kBadDelta)},
      {"decr k x noreply\r\n", Err(kBadDelta, true)},
      {"incr k HTTP/1.1\r\n", Err(kBadDelta)},  // [observed]
      {"touch k x\r\n", Err(kBadExptime)},
      {"touch k x noreply\r\n", Err(kBadExptime, true)},
      {"touch k 99999999999999999999\r\n", Err(kBadExptime)},
      {"gat x k\r\n", Err(kBadExptime)},
      {"gats 1.5 k\r\n", Err(kBadExptime)},
      {"flush_all abc\r\n", Err(kBadExptime)},
      {"flush_all abc noreply\r\n", Err(kBadExptime, true)},
      {"flush_all noreply noreply\r\n", Err(kBadExptime, true)},
      {"flush_all HTTP/1.1\r\n", Err(kBadExptime)},  // [observed]
      // [observed] "verbosity -1" and "verbosity abc" -> bad command line format.
      {"verbosity abc\r\n", Err(kBadFormat)},
      {"verbosity -1\r\n", Err(kBadFormat)},
      {"verbosity noreply\r\n", Err(kBadFormat, true)},
      // [observed] "cache_memlimit abc" / "cache_memlimit -5" -> a bare ERROR.
      {"cache_memlimit abc\r\n", Err("ERROR")},
      {"cache_memlimit -5\r\n", Err("ERROR")},
  });
}

TEST(MemcacheParser, MetaFlagLimit) {
  // [observed] mg k + 18 flags -> "CLIENT_ERROR options flags are too long"; ms k 1 + 17
  // flags -> "CLIENT_ERROR options flags too long" and the data line then gives ERROR.
  CheckCases({
      {"mg k" + Tokens("O1", 18) + "\r\n", Err("CLIENT_ERROR options flags are too long")},
      {"mg k" + Tokens("O1", 30) + "\r\n", Err("CLIENT_ERROR options flags are too long")},
      {"ms k 1" + Tokens("O1", 17) + "\r\n", Err("CLIENT_ERROR options flags too long")},
      // [observed] checked before the length.
      {"ms k abc" + Tokens("O1", 20) + "\r\n", Err("CLIENT_ERROR options flags too long")},
      {"md k" + Tokens("O1", 18) + "\r\n", Err("CLIENT_ERROR options flags too long")},
      {"ma k" + Tokens("O1", 18) + "\r\n", Err("CLIENT_ERROR options flags too long")},
  });
}

// [observed] memcached sends nothing for an error on a noreply line (set_noreply_maybe:
// the last token decides), so the parser reports noreply with the error.
TEST(MemcacheParser, NoreplyIsTheLastToken) {
  Request req;
  ParserLimits limits;
  struct {
    std::string in;
    bool noreply;
  } cases[] = {
      {"set k 0 0 1 noreply\r\nx\r\n", true},
      {"set k 0 0 1 NOREPLY\r\nx\r\n", false},
      {"incr k 1 noreply\r\n", true},
      {"touch k 1 noreply\r\n", true},
      {"delete k noreply\r\n", true},
      {"flush_all noreply\r\n", true},
      {"verbosity 1 noreply\r\n", true},
      {"cache_memlimit 9 noreply\r\n", true},
      {"get noreply\r\n", false},
      {"mg k q\r\n", false},
  };
  for (const auto& c : cases) {
    ParseResult r = ParseRequest(c.in, limits, &req);
    ASSERT_EQ(r.status, ParseStatus::kRequest) << c.in;
    EXPECT_EQ(req.noreply, c.noreply) << c.in;
  }
}

// ---------------------------------------------------------------------------------------
// Line length and HTTP.

TEST(MemcacheParser, LongLineWithoutNewlineCloses) {
  ParserLimits limits;
  Request req;
  std::string line(2048, 'x');
  EXPECT_EQ(ParseRequest(line, limits, &req).status, ParseStatus::kIncomplete);
  line += 'x';
  EXPECT_EQ(ParseRequest(line, limits, &req).status, ParseStatus::kClose);
  std::string set = "set " + std::string(3000, 'k');
  EXPECT_EQ(ParseRequest(set, limits, &req).status, ParseStatus::kClose);
  // gat is not a multiget for this purpose.
  std::string gat = "gat 1" + Tokens("key", 1000);
  EXPECT_EQ(ParseRequest(gat, limits, &req).status, ParseStatus::kClose);
  // A line that fits, with its newline, is parsed.
  std::string fits(2048, 'x');
  ParseResult r = ParseRequest(fits + "\n", limits, &req);
  EXPECT_EQ(r.status, ParseStatus::kError);
  EXPECT_EQ(r.consumed, 2049u);
  // bale closes on a longer line even when its newline has arrived, so the outcome does
  // not depend on how TCP cut the stream (memcached answers ERROR if it read the whole
  // line at once, closes otherwise).
  EXPECT_EQ(ParseRequest(fits + "x\r\n", limits, &req).status, ParseStatus::kClose);
}

TEST(MemcacheParser, HugeMultigetIsFine) {
  ParserLimits limits;
  Request req;
  std::string keys;
  for (int i = 0; keys.size() < 100 * 1024; i++) {
    if (!keys.empty()) keys += ' ';
    keys += "key:" + std::to_string(i);
  }
  for (std::string prefix : {"get ", "gets ", "   get "}) {
    std::string line = prefix + keys;
    ParseResult r = ParseRequest(line, limits, &req);
    EXPECT_EQ(r.status, ParseStatus::kIncomplete) << prefix;
    line += "\r\n";
    r = ParseRequest(line, limits, &req);
    ASSERT_EQ(r.status, ParseStatus::kRequest) << prefix;
    EXPECT_EQ(r.consumed, line.size());
    EXPECT_EQ(req.keys, keys);
  }
  // memcached allows up to 100 leading spaces before "get ".
  std::string spaced = std::string(100, ' ') + "get " + keys;
  EXPECT_EQ(ParseRequest(spaced, limits, &req).status, ParseStatus::kIncomplete);
  spaced = std::string(101, ' ') + "get " + keys;
  EXPECT_EQ(ParseRequest(spaced, limits, &req).status, ParseStatus::kClose);
  // Beyond max_get_line even a multiget closes.
  limits.max_get_line = 4096;
  std::string line = "get " + keys;
  EXPECT_EQ(ParseRequest(line, limits, &req).status, ParseStatus::kClose);
}

TEST(MemcacheParser, HttpRequestCloses) {
  // [observed] memcached closes on a last token starting with "HTTP/" only when its
  // dispatch does not claim the command name; "gzz", "mz", "lru" get ERROR instead.
  CheckCases({
      {"GET / HTTP/1.1\r\n", Close()},
      {"POST /x HTTP/1.0\r\n", Close()},
      {"foo HTTP/\r\n", Close()},
      {"HTTP/1.1\r\n", Close()},
      {"quitx HTTP/1.1\r\n", Close()},
      {"rget HTTP/1.1\r\n", Close()},
      {"mget HTTP/1.1\r\n", Close()},
      {"GET / HTTP/1.1\n", Close()},
      {"foo HTTPx\r\n", Err("ERROR")},
      {"x HTTP/1.1\r\n", Err("ERROR")},
      {"gzz HTTP/1.1\r\n", Err("ERROR")},
      {"szz HTTP/1.1\r\n", Err("ERROR")},
      {"mz HTTP/1.1\r\n", Err("ERROR")},
      {"lru HTTP/1.1\r\n", Err("ERROR")},
      {"set k HTTP/1.1\r\n", Err("ERROR")},
      {"verbosity HTTP/1.1\r\n", Err(kBadFormat)},
      {"cache_memlimit HTTP/1.1\r\n", Err("ERROR")},
      {"shutdown HTTP/1.1\r\n", Err("ERROR: shutdown not enabled")},
      {"version HTTP/1.1\r\n", Req(Command::kVersion)},
      {"quit HTTP/1.1\r\n", Req(Command::kQuit)},
      {"stats HTTP/1.1\r\n", Stats("HTTP/1.1")},
      {"mg k HTTP/1.1\r\n", Meta(Command::kMetaGet, "k", "HTTP/1.1")},
      {"gets HTTP/1.1\r\n", Get(Command::kGets, "HTTP/1.1")},
      // Only the first 23 tokens count: the 24th is never seen.
      {"foo" + Tokens("x", 30) + " HTTP/1.1\r\n", Err("ERROR")},
      {"foo" + Tokens("x", 21) + " HTTP/1.1\r\n", Close()},
  });
}

// ---------------------------------------------------------------------------------------
// Pipelining: a stream of requests, whole and in random chunks.

std::string_view Name(Command c) {
  switch (c) {
    case Command::kGet:
      return "get";
    case Command::kGets:
      return "gets";
    case Command::kGat:
      return "gat";
    case Command::kGats:
      return "gats";
    case Command::kSet:
      return "set";
    case Command::kAdd:
      return "add";
    case Command::kReplace:
      return "replace";
    case Command::kAppend:
      return "append";
    case Command::kPrepend:
      return "prepend";
    case Command::kCas:
      return "cas";
    case Command::kDelete:
      return "delete";
    case Command::kIncr:
      return "incr";
    case Command::kDecr:
      return "decr";
    case Command::kTouch:
      return "touch";
    case Command::kFlushAll:
      return "flush_all";
    case Command::kStats:
      return "stats";
    case Command::kSlabs:
      return "slabs";
    case Command::kVersion:
      return "version";
    case Command::kVerbosity:
      return "verbosity";
    case Command::kQuit:
      return "quit";
    case Command::kShutdown:
      return "shutdown";
    case Command::kCacheMemlimit:
      return "cache_memlimit";
    case Command::kMetaGet:
      return "mg";
    case Command::kMetaSet:
      return "ms";
    case Command::kMetaDelete:
      return "md";
    case Command::kMetaArithmetic:
      return "ma";
    case Command::kMetaNoop:
      return "mn";
    case Command::kMetaDebug:
      return "me";
  }
  return "?";
}

// What one parse step produced, as a comparable string.
std::string Describe(const ParseResult& r, const Request& req) {
  switch (r.status) {
    case ParseStatus::kIncomplete:
      return "incomplete";
    case ParseStatus::kClose:
      return "close";
    case ParseStatus::kError:
      return "error " + std::string(r.error) + (r.noreply ? " noreply" : "");
    case ParseStatus::kRequest:
      break;
  }
  std::string s = std::string(Name(req.command)) + " key=" + std::string(req.key) +
                  " keys=" + std::string(req.keys) + " data=" + std::string(req.data) +
                  " args=" + std::string(req.args) + " n=" + std::to_string(req.bytes) +
                  " swallow=" + std::to_string(r.swallow);
  if (req.noreply) s += " noreply";
  return s;
}

// A connection's input buffer: bytes are appended as they arrive and parsed as far as
// they go; a too-large value's data is discarded as it arrives.
class Conn {
 public:
  explicit Conn(ParserLimits limits) : limits_(limits) {}

  void Feed(std::string_view bytes) {
    buf_.append(bytes);
    for (;;) {
      if (swallow_ > 0) {
        size_t n = static_cast<size_t>(std::min<uint64_t>(swallow_, buf_.size()));
        buf_.erase(0, n);
        swallow_ -= n;
        if (swallow_ > 0) return;
      }
      if (closed_) return;
      Exact input(buf_);
      Request req;
      ParseResult r = ParseRequest(input.view(), limits_, &req);
      ASSERT_LE(r.consumed, buf_.size());
      if (r.status == ParseStatus::kIncomplete) return;
      if (r.status == ParseStatus::kClose) {
        seen_.push_back("close");
        closed_ = true;
        return;
      }
      ASSERT_GT(r.consumed, 0u);
      seen_.push_back(Describe(r, req));
      swallow_ = r.swallow;
      buf_.erase(0, r.consumed);
    }
  }

  const std::vector<std::string>& seen() const { return seen_; }
  size_t buffered() const { return buf_.size(); }

 private:
  ParserLimits limits_;
  std::string buf_;
  uint64_t swallow_ = 0;
  bool closed_ = false;
  std::vector<std::string> seen_;
};

struct Step {
  std::string bytes;
  std::string expect;  // a prefix of the Describe() string
};

std::vector<Step> PipelineSteps() {
  std::string big(300, 'B');
  return {
      {"set a 1 0 3\r\nabc\r\n", "set key=a keys= data=abc"},
      {"get a b c\r\n", "get key= keys=a b c"},
      {"bogus\r\n", "error ERROR"},
      {"gets a\n", "gets key= keys=a"},
      {"set big 0 0 300\r\n" + big + "\r\n", "set key=big keys= data= args= n=300 swallow=302"},
      {"mn\r\n", "mn"},
      {"set a 0 0 1 noreply\r\nabc", "error CLIENT_ERROR bad data chunk noreply"},
      {"\r\n", "error ERROR"},
      {"cas a 0 0 2 77\r\nxy\r\n", "cas key=a keys= data=xy"},
      {"delete a 10\r\n", "error " + std::string(kBadDelete)},
      {"incr n 5 noreply\r\n", "incr key=n keys= data= args= n=0 swallow=0 noreply"},
      {"ms m 4 T0 F1\r\n\r\n\r\n\r\n", "ms key=m keys= data=\r\n\r\n args=T0 F1"},
      {"ms m 301 q\r\n" + big + "z\r\n", "ms key=m keys= data= args=q n=301 swallow=303"},
      {"mg m v\r\n", "mg key=m keys= data= args=v"},
      {"gat 0 a\r\n", "gat key= keys=a"},
      {"touch a x\r\n", "error " + std::string(kBadExptime)},
      {"set " + kKey251 + " 0 0 1\r\n", "error " + std::string(kBadFormat)},
      {"x\r\n", "error ERROR"},  // the data line of the bad set, as in memcached 1.6.18
      {"flush_all 0\r\n", "flush_all"},
      {"stats slabs\r\n", "stats key= keys= data= args=slabs"},
      {"slabs automove 1\r\n", "slabs key= keys= data= args=automove 1"},
      {"version\r\n", "version"},
      {"md m q\r\n", "md key=m keys= data= args=q"},
      {"ma m\r\n", "ma key=m"},
      {"me m\r\n", "me key=m"},
      {"get" + Tokens("xy", 2000) + "\r\n", "get key= keys=xy xy xy"},
      {"quit\r\n", "quit"},
  };
}

void ExpectSequence(const std::vector<std::string>& seen, const std::vector<Step>& steps) {
  ASSERT_EQ(seen.size(), steps.size());
  for (size_t i = 0; i < steps.size(); i++) {
    EXPECT_EQ(seen[i].substr(0, steps[i].expect.size()), steps[i].expect)
        << "step " << i << ": " << Printable(steps[i].bytes);
  }
}

TEST(MemcacheParser, PipelineParsedInALoop) {
  ParserLimits limits;
  limits.max_item_size = 256;
  std::vector<Step> steps = PipelineSteps();
  std::string stream;
  for (const Step& s : steps) stream += s.bytes;
  // Parse it the simple way: advance by consumed, skip swallowed bytes.
  std::vector<std::string> seen;
  size_t pos = 0;
  while (pos < stream.size()) {
    Request req;
    ParseResult r = ParseRequest(std::string_view(stream).substr(pos), limits, &req);
    ASSERT_NE(r.status, ParseStatus::kIncomplete) << "at " << pos;
    ASSERT_NE(r.status, ParseStatus::kClose) << "at " << pos;
    ASSERT_GT(r.consumed, 0u);
    seen.push_back(Describe(r, req));
    pos += r.consumed + r.swallow;
  }
  EXPECT_EQ(pos, stream.size());
  ExpectSequence(seen, steps);
}

TEST(MemcacheParser, PipelineInRandomChunks) {
  ParserLimits limits;
  limits.max_item_size = 256;
  std::vector<Step> steps = PipelineSteps();
  std::string stream;
  for (const Step& s : steps) stream += s.bytes;
  std::mt19937 rng(20240601);
  for (int round = 0; round < 300; round++) {
    Conn conn(limits);
    size_t max_chunk = round < 100 ? 8 : round < 200 ? 64 : 2048;
    std::uniform_int_distribution<size_t> chunk(1, max_chunk);
    for (size_t pos = 0; pos < stream.size();) {
      size_t n = std::min(chunk(rng), stream.size() - pos);
      conn.Feed(std::string_view(stream).substr(pos, n));
      pos += n;
    }
    EXPECT_EQ(conn.buffered(), 0u);
    ExpectSequence(conn.seen(), steps);
    if (HasFailure()) break;
  }
  // One byte at a time, too.
  Conn conn(limits);
  for (char c : stream) conn.Feed(std::string_view(&c, 1));
  ExpectSequence(conn.seen(), steps);
}

// ---------------------------------------------------------------------------------------
// Garbage must never crash or break the contract.

void CheckInvariants(std::string_view input, const ParserLimits& limits) {
  Exact buf(input);
  std::string_view rest = buf.view();
  uint64_t swallow = 0;
  while (!rest.empty()) {
    if (swallow > 0) {
      size_t n = static_cast<size_t>(std::min<uint64_t>(swallow, rest.size()));
      rest.remove_prefix(n);
      swallow -= n;
      continue;
    }
    Request req;
    ParseResult r = ParseRequest(rest, limits, &req);
    ASSERT_LE(r.consumed, rest.size());
    if (r.status == ParseStatus::kIncomplete || r.status == ParseStatus::kClose) {
      ASSERT_EQ(r.consumed, 0u);
      break;
    }
    ASSERT_GT(r.consumed, 0u);
    if (r.status == ParseStatus::kError) {
      ASSERT_FALSE(r.error.empty());
    } else {
      for (std::string_view v : {req.key, req.keys, req.data, req.args}) {
        ASSERT_TRUE(buf.Contains(v));
        if (!v.empty()) {
          ASSERT_GE(v.data(), rest.data());
          ASSERT_LE(v.data() + v.size(), rest.data() + r.consumed);
        }
      }
      ASSERT_LE(req.key.size(), kMaxKeyLength);
      ASSERT_TRUE(r.swallow == 0 || req.too_large);
      if (req.too_large) {
        ASSERT_EQ(r.swallow, uint64_t{req.bytes} + 2);
        ASSERT_GT(req.bytes, limits.max_item_size);
      } else if (IsStorage(req.command) || req.command == Command::kMetaSet) {
        ASSERT_EQ(req.data.size(), req.bytes);
      }
    }
    swallow = r.swallow;
    rest.remove_prefix(r.consumed);
  }
}

TEST(MemcacheParser, RandomBytesNeverBreakTheContract) {
  ParserLimits limits;
  limits.max_item_size = 64;
  limits.max_line = 256;
  limits.max_get_line = 1024;
  std::mt19937 rng(1234567);
  std::uniform_int_distribution<int> byte(0, 255);
  std::uniform_int_distribution<size_t> len(0, 600);
  for (int i = 0; i < 3000; i++) {
    std::string s(len(rng), '\0');
    for (char& c : s) c = static_cast<char>(byte(rng));
    CheckInvariants(s, limits);
    if (HasFatalFailure()) return;
  }
}

TEST(MemcacheParser, RandomTokensNeverBreakTheContract) {
  // Garbage built from protocol pieces reaches much deeper than random bytes.
  static const char* const kPieces[] = {
      "get",
      "gets",
      "gat",
      "gats",
      "set",
      "add",
      "replace",
      "append",
      "cas",
      "incr",
      "decr",
      "delete",
      "touch",
      "flush_all",
      "stats",
      "version",
      "quit",
      "mg",
      "ms",
      "md",
      "ma",
      "mn",
      "me",
      "verbosity",
      "k",
      "key",
      "0",
      "1",
      "5",
      "64",
      "100",
      "-1",
      "+3",
      "noreply",
      "HTTP/1.1",
      "4294967297",
      "18446744073709551616",
      "abc",
      "v",
      "T0",
      "q",
      " ",
      "  ",
      "\r\n",
      "\n",
      "\r",
      "\t",
      "\0",
      "x",
      "shutdown",
      "cache_memlimit",
      "bget",
      "prepend",
      "O123",
      "2147483646",
  };
  ParserLimits limits;
  limits.max_item_size = 64;
  limits.max_line = 256;
  limits.max_get_line = 1024;
  std::mt19937 rng(7654321);
  std::uniform_int_distribution<size_t> piece(0, std::size(kPieces) - 1);
  std::uniform_int_distribution<int> count(1, 120);
  std::uniform_int_distribution<int> coin(0, 3);
  for (int i = 0; i < 20000; i++) {
    std::string s;
    int n = count(rng);
    for (int j = 0; j < n; j++) {
      const char* p = kPieces[piece(rng)];
      s.append(p, p[0] == '\0' ? 1 : std::strlen(p));
      if (coin(rng) != 0) s += ' ';
    }
    CheckInvariants(s, limits);
    if (HasFatalFailure()) return;
    // The same bytes in two chunks must give the same sequence as in one.
    Conn whole(limits), split(limits);
    whole.Feed(s);
    size_t cut = s.empty() ? 0 : static_cast<size_t>(rng() % s.size());
    split.Feed(std::string_view(s).substr(0, cut));
    split.Feed(std::string_view(s).substr(cut));
    ASSERT_EQ(whole.seen(), split.seen()) << Printable(s);
  }
}

}  // namespace
}  // namespace bale::proto
