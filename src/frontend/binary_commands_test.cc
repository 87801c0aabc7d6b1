// Tests for BinaryCommands against a real LocalObjectStore: every opcode's replies
// (status, CAS, extras, key, value), quiet variants, the text protocol's limits, and
// that both protocols see the same objects. Statuses and messages follow memcached
// 1.6.18's proto_bin.c, checked byte for byte against Debian's memcached by
// tests/integration/pylibmc_test.py.
#include "frontend/binary_commands.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <memory>
#include <string>
#include <vector>

#include "proto/memcache_binary.h"
#include "proto/memcache_parser.h"
#include "store/local_object_store.h"
#include "test_util.h"

namespace bale {
namespace {

using proto::BinaryOpcode;
using proto::BinaryStatus;
using O = BinaryOpcode;
using testing::TempDir;

struct Packet {
  uint8_t opcode = 0;
  BinaryStatus status = BinaryStatus::kOk;
  uint32_t opaque = 0;
  uint64_t cas = 0;
  std::string extras, key, value;
};

uint64_t Load(std::string_view s) {
  uint64_t v = 0;
  for (char c : s) v = v << 8 | static_cast<uint8_t>(c);
  return v;
}

std::vector<Packet> Decode(std::string_view out) {
  std::vector<Packet> packets;
  while (out.size() >= proto::kBinaryHeaderSize) {
    EXPECT_EQ(static_cast<uint8_t>(out[0]), proto::kBinaryResponseMagic);
    Packet p;
    p.opcode = static_cast<uint8_t>(out[1]);
    size_t key_length = Load(out.substr(2, 2));
    size_t extras_length = static_cast<uint8_t>(out[4]);
    p.status = static_cast<BinaryStatus>(Load(out.substr(6, 2)));
    size_t body = Load(out.substr(8, 4));
    p.opaque = static_cast<uint32_t>(Load(out.substr(12, 4)));
    p.cas = Load(out.substr(16, 8));
    EXPECT_GE(out.size(), proto::kBinaryHeaderSize + body);
    std::string_view b = out.substr(proto::kBinaryHeaderSize, body);
    p.extras = b.substr(0, extras_length);
    p.key = b.substr(extras_length, key_length);
    p.value = b.substr(extras_length + key_length);
    packets.push_back(p);
    out.remove_prefix(std::min(out.size(), proto::kBinaryHeaderSize + body));
  }
  EXPECT_TRUE(out.empty());
  return packets;
}

std::string Be32(uint32_t v) {
  std::string s;
  proto::AppendBigEndian32(&s, v);
  return s;
}
std::string Be64(uint64_t v) {
  std::string s;
  proto::AppendBigEndian64(&s, v);
  return s;
}
std::string SetExtras(uint32_t flags = 0, uint32_t expiration = 0) {
  return Be32(flags) + Be32(expiration);
}
std::string ArithExtras(uint64_t delta, uint64_t initial, uint32_t expiration) {
  return Be64(delta) + Be64(initial) + Be32(expiration);
}

class NullStatsSource final : public StatsSource {
 public:
  void Sum(ThreadStats*) const override {}
  void Reset() override { resets++; }
  uint64_t uptime_s() const override { return 5; }
  uint64_t http_body_bytes() const override { return 0; }
  int resets = 0;
};

class BinaryCommandsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    StoreOptions o;
    o.dir = tmp_.Sub("data");
    o.partitions = 2;
    o.volume.durability = Durability::kNone;
    ASSERT_TRUE(Store::Open(o, &store_).ok());
    objects_ = std::make_unique<LocalObjectStore>(store_.get(), Durability::kNone);
    session_ = objects_->NewSession();
    settings_.max_item_size = 1000;
    text_ = std::make_unique<MemcacheCommands>(objects_.get(), &settings_, &source_);
    binary_ = std::make_unique<BinaryCommands>(objects_.get(), text_.get(), &settings_);
  }

  // Parses and executes every request in `in` (as the face does) and returns the replies.
  std::vector<Packet> Run(const std::string& in, Outcome* last = nullptr,
                          std::vector<FileSend>* files = nullptr) {
    proto::ParserLimits limits;
    limits.max_item_size = settings_.max_item_size;
    std::string out;
    std::string_view rest = in;
    while (!rest.empty()) {
      proto::BinaryRequest req;
      proto::BinaryParseResult r = proto::ParseBinaryRequest(rest, limits, &req);
      EXPECT_NE(r.status, proto::BinaryParseStatus::kIncomplete);
      EXPECT_NE(r.status, proto::BinaryParseStatus::kClose);
      if (r.status != proto::BinaryParseStatus::kRequest) break;
      Outcome o = binary_->Execute(req, &out, &stats_, session_.get(), files);
      if (last != nullptr) *last = o;
      rest.remove_prefix(std::min<uint64_t>(rest.size(), r.consumed + r.swallow));
    }
    return Decode(out);
  }

  // One request, one reply.
  Packet One(O opcode, std::string_view key = {}, std::string_view extras = {},
             std::string_view value = {}, uint64_t cas = 0) {
    std::vector<Packet> p = Run(Req(opcode, key, extras, value, cas));
    EXPECT_EQ(p.size(), 1u);
    return p.empty() ? Packet() : p[0];
  }

  static std::string Req(O opcode, std::string_view key = {}, std::string_view extras = {},
                         std::string_view value = {}, uint64_t cas = 0, uint32_t opaque = 0) {
    std::string s;
    proto::AppendBinaryRequest(&s, static_cast<uint8_t>(opcode), extras, key, value, cas, opaque);
    return s;
  }

  // The text protocol's answer to `line` (both protocols share the objects).
  std::string Text(const std::string& line) {
    proto::Request req;
    proto::ParseResult r = proto::ParseRequest(line, proto::ParserLimits(), &req);
    EXPECT_EQ(r.status, proto::ParseStatus::kRequest) << line;
    std::string out;
    text_->Execute(req, &out, &stats_, session_.get());
    return out;
  }

  TempDir tmp_;
  std::unique_ptr<Store> store_;
  std::unique_ptr<LocalObjectStore> objects_;
  std::unique_ptr<ObjectSession> session_;
  MemcacheSettings settings_;
  NullStatsSource source_;
  std::unique_ptr<MemcacheCommands> text_;
  std::unique_ptr<BinaryCommands> binary_;
  ThreadStats stats_;
};

TEST_F(BinaryCommandsTest, SetThenGetReturnsFlagsValueAndCas) {
  std::vector<Packet> p = Run(Req(O::kSet, "k", SetExtras(0xcafe, 0), "hello", 0, 41));
  ASSERT_EQ(p.size(), 1u);
  EXPECT_EQ(p[0].status, BinaryStatus::kOk);
  EXPECT_EQ(p[0].opcode, 0x01);
  EXPECT_EQ(p[0].opaque, 41u);
  EXPECT_NE(p[0].cas, 0u);
  EXPECT_TRUE(p[0].extras.empty() && p[0].key.empty() && p[0].value.empty());
  uint64_t cas = p[0].cas;

  Packet g = One(O::kGet, "k");
  EXPECT_EQ(g.status, BinaryStatus::kOk);
  EXPECT_EQ(g.extras, Be32(0xcafe));
  EXPECT_EQ(g.key, "");
  EXPECT_EQ(g.value, "hello");
  EXPECT_EQ(g.cas, cas);

  Packet k = One(O::kGetK, "k");
  EXPECT_EQ(k.key, "k");
  EXPECT_EQ(k.value, "hello");
  EXPECT_EQ(Text("gets k\r\n"), "VALUE k 51966 5 " + std::to_string(cas) + "\r\nhello\r\nEND\r\n");
}

TEST_F(BinaryCommandsTest, MissesAndQuietGets) {
  EXPECT_EQ(One(O::kGet, "nope").status, BinaryStatus::kKeyNotFound);
  EXPECT_EQ(One(O::kGet, "nope").value, "Not found");
  Packet k = One(O::kGetK, "nope");
  EXPECT_EQ(k.status, BinaryStatus::kKeyNotFound);
  EXPECT_EQ(k.key, "nope");
  EXPECT_EQ(k.value, "");
  EXPECT_EQ(k.cas, 0u);
  Text("set here 3 0 1\r\nx\r\n");
  // getq/getkq: a miss says nothing, a hit answers; noop ends the batch.
  std::vector<Packet> p =
      Run(Req(O::kGetQ, "nope", {}, {}, 0, 1) + Req(O::kGetKQ, "here", {}, {}, 0, 2) +
          Req(O::kGetQ, "here", {}, {}, 0, 3) + Req(O::kNoop, {}, {}, {}, 0, 4));
  ASSERT_EQ(p.size(), 3u);
  EXPECT_EQ(p[0].opaque, 2u);
  EXPECT_EQ(p[0].opcode, 0x0d);
  EXPECT_EQ(p[0].key, "here");
  EXPECT_EQ(p[0].extras, Be32(3));
  EXPECT_EQ(p[1].opaque, 3u);
  EXPECT_EQ(p[1].value, "x");
  EXPECT_EQ(p[2].opcode, 0x0a);
  EXPECT_EQ(stats_.get_misses.load(), 4u);
}

TEST_F(BinaryCommandsTest, AddReplaceAndCas) {
  EXPECT_EQ(One(O::kReplace, "k", SetExtras(), "v").status, BinaryStatus::kKeyNotFound);
  Packet a = One(O::kAdd, "k", SetExtras(), "v1");
  EXPECT_EQ(a.status, BinaryStatus::kOk);
  Packet again = One(O::kAdd, "k", SetExtras(), "v2");
  EXPECT_EQ(again.status, BinaryStatus::kKeyExists);
  EXPECT_EQ(again.value, "Data exists for key.");
  EXPECT_EQ(again.cas, 0u);
  Packet r = One(O::kReplace, "k", SetExtras(), "v3");
  EXPECT_EQ(r.status, BinaryStatus::kOk);
  EXPECT_NE(r.cas, a.cas);
  // A CAS makes a set (or add, or replace) a compare-and-swap.
  EXPECT_EQ(One(O::kSet, "k", SetExtras(), "v4", a.cas).status, BinaryStatus::kKeyExists);
  Packet c = One(O::kSet, "k", SetExtras(), "v5", r.cas);
  EXPECT_EQ(c.status, BinaryStatus::kOk);
  EXPECT_EQ(One(O::kAdd, "k", SetExtras(), "v6", c.cas).status, BinaryStatus::kOk);
  EXPECT_EQ(One(O::kSet, "gone", SetExtras(), "v", 12345).status, BinaryStatus::kKeyNotFound);
  EXPECT_EQ(One(O::kGet, "k").value, "v6");
  EXPECT_EQ(stats_.cas_badval.load(), 1u);
  EXPECT_EQ(stats_.cas_misses.load(), 1u);
}

TEST_F(BinaryCommandsTest, QuietStoresAnswerOnlyErrors) {
  std::vector<Packet> p =
      Run(Req(O::kSetQ, "k", SetExtras(), "v") + Req(O::kAddQ, "k", SetExtras(), "v", 0, 7) +
          Req(O::kReplaceQ, "k", SetExtras(), "w") + Req(O::kAppendQ, "k", {}, "x") +
          Req(O::kPrependQ, "k", {}, "y") + Req(O::kDeleteQ, "none", {}, {}, 0, 8) + Req(O::kNoop));
  ASSERT_EQ(p.size(), 3u);
  EXPECT_EQ(p[0].opcode, 0x12);
  EXPECT_EQ(p[0].status, BinaryStatus::kKeyExists);
  EXPECT_EQ(p[0].opaque, 7u);
  EXPECT_EQ(p[1].opcode, 0x14);
  EXPECT_EQ(p[1].status, BinaryStatus::kKeyNotFound);
  EXPECT_EQ(p[1].opaque, 8u);
  EXPECT_EQ(p[2].opcode, 0x0a);
  EXPECT_EQ(One(O::kGet, "k").value, "ywx");
}

TEST_F(BinaryCommandsTest, AppendPrependKeepFlagsAndCompareCas) {
  EXPECT_EQ(One(O::kAppend, "k", {}, "x").status, BinaryStatus::kNotStored);
  EXPECT_EQ(One(O::kAppend, "k", {}, "x").value, "Not stored.");
  Packet s = One(O::kSet, "k", SetExtras(9, 0), "mid");
  EXPECT_EQ(One(O::kAppend, "k", {}, "x", s.cas + 1000).status, BinaryStatus::kKeyExists);
  Packet a = One(O::kAppend, "k", {}, ">", s.cas);
  EXPECT_EQ(a.status, BinaryStatus::kOk);
  EXPECT_EQ(One(O::kPrepend, "k", {}, "<").status, BinaryStatus::kOk);
  Packet g = One(O::kGet, "k");
  EXPECT_EQ(g.value, "<mid>");
  EXPECT_EQ(g.extras, Be32(9));
  // Past the item size limit: memcached's NOT_STORED.
  EXPECT_EQ(One(O::kAppend, "k", {}, std::string(996, 'z')).status, BinaryStatus::kNotStored);
  EXPECT_EQ(One(O::kAppend, "k", {}, std::string(995, 'z')).status, BinaryStatus::kOk);
}

TEST_F(BinaryCommandsTest, DeleteWithAndWithoutCas) {
  Packet s = One(O::kSet, "k", SetExtras(), "v");
  EXPECT_EQ(One(O::kDelete, "k", {}, {}, s.cas + 1).status, BinaryStatus::kKeyExists);
  Packet d = One(O::kDelete, "k", {}, {}, s.cas);
  EXPECT_EQ(d.status, BinaryStatus::kOk);
  EXPECT_EQ(d.cas, 0u);
  EXPECT_EQ(One(O::kDelete, "k").status, BinaryStatus::kKeyNotFound);
  EXPECT_EQ(One(O::kGet, "k").status, BinaryStatus::kKeyNotFound);
}

TEST_F(BinaryCommandsTest, IncrementDecrement) {
  // A miss with 0xffffffff as expiration is not created...
  Packet miss = One(O::kIncrement, "n", ArithExtras(1, 5, proto::kBinaryNoVivify));
  EXPECT_EQ(miss.status, BinaryStatus::kKeyNotFound);
  // ...with any other, `initial` is stored and returned.
  Packet v = One(O::kIncrement, "n", ArithExtras(1, 5, 0));
  EXPECT_EQ(v.status, BinaryStatus::kOk);
  EXPECT_EQ(v.value, Be64(5));
  EXPECT_NE(v.cas, 0u);
  Packet i = One(O::kIncrement, "n", ArithExtras(10, 0, 0));
  EXPECT_EQ(i.value, Be64(15));
  EXPECT_EQ(One(O::kDecrement, "n", ArithExtras(100, 0, 0)).value, Be64(0));
  EXPECT_EQ(Text("get n\r\n"), "VALUE n 0 1\r\n0\r\nEND\r\n");
  Text("set big 0 0 20\r\n18446744073709551615\r\n");
  EXPECT_EQ(One(O::kIncrement, "big", ArithExtras(2, 0, 0)).value, Be64(1));  // wraps
  // A CAS is compared with an existing object.
  Packet cur = One(O::kIncrement, "n", ArithExtras(1, 0, 0));
  EXPECT_EQ(One(O::kIncrement, "n", ArithExtras(1, 0, 0), {}, cur.cas + 1).status,
            BinaryStatus::kKeyExists);
  EXPECT_EQ(One(O::kIncrement, "n", ArithExtras(1, 0, 0), {}, cur.cas).value, Be64(2));
  Text("set word 0 0 3\r\nabc\r\n");
  Packet bad = One(O::kDecrement, "word", ArithExtras(1, 0, 0));
  EXPECT_EQ(bad.status, BinaryStatus::kNonNumeric);
  EXPECT_EQ(bad.value, "Non-numeric server-side value for incr or decr");
  // Quiet: nothing on success, the error otherwise.
  std::vector<Packet> p = Run(Req(O::kIncrementQ, "n", ArithExtras(1, 0, 0)) +
                              Req(O::kDecrementQ, "none", ArithExtras(1, 0, 0xffffffff)));
  ASSERT_EQ(p.size(), 1u);
  EXPECT_EQ(p[0].opcode, 0x16);
  EXPECT_EQ(p[0].status, BinaryStatus::kKeyNotFound);
  EXPECT_EQ(Text("get n\r\n"), "VALUE n 0 1\r\n3\r\nEND\r\n");
}

TEST_F(BinaryCommandsTest, TouchAndGat) {
  EXPECT_EQ(One(O::kTouch, "k", Be32(100)).status, BinaryStatus::kKeyNotFound);
  Packet s = One(O::kSet, "k", SetExtras(4, 0), "val");
  Packet t = One(O::kTouch, "k", Be32(100));
  EXPECT_EQ(t.status, BinaryStatus::kOk);
  EXPECT_EQ(t.extras, Be32(4));
  EXPECT_EQ(t.value, "");
  EXPECT_EQ(t.cas, s.cas);  // a touch keeps the CAS
  Packet g = One(O::kGat, "k", Be32(200));
  EXPECT_EQ(g.value, "val");
  EXPECT_EQ(g.key, "");
  Packet gk = One(O::kGatK, "k", Be32(200));
  EXPECT_EQ(gk.key, "k");
  EXPECT_EQ(gk.value, "val");
  std::vector<Packet> p = Run(Req(O::kGatQ, "none", Be32(1)) + Req(O::kGatKQ, "none", Be32(1)) +
                              Req(O::kGatQ, "k", Be32(1)));
  ASSERT_EQ(p.size(), 1u);
  EXPECT_EQ(p[0].value, "val");
  // An expiry in the past (an absolute time beyond 30 days): gone.
  EXPECT_EQ(One(O::kTouch, "k", Be32(60 * 60 * 24 * 30 + 1)).status, BinaryStatus::kKeyNotFound);
  EXPECT_EQ(One(O::kGet, "k").status, BinaryStatus::kKeyNotFound);
}

TEST_F(BinaryCommandsTest, SetExpirationFollowsMemcachedsRules) {
  One(O::kSet, "past", SetExtras(0, 60 * 60 * 24 * 30 + 1), "v");  // absolute, long ago
  EXPECT_EQ(One(O::kGet, "past").status, BinaryStatus::kKeyNotFound);
  One(O::kSet, "soon", SetExtras(0, 1000), "v");  // relative
  EXPECT_EQ(One(O::kGet, "soon").status, BinaryStatus::kOk);
}

TEST_F(BinaryCommandsTest, TooLargeSetIsRefusedAndDropsTheOldValue) {
  One(O::kSet, "k", SetExtras(), "old");
  One(O::kSet, "a", SetExtras(), "old");
  std::string big(1001, 'v');
  std::vector<Packet> p = Run(Req(O::kSetQ, "k", SetExtras(), big) + Req(O::kGet, "k"));
  ASSERT_EQ(p.size(), 2u);
  EXPECT_EQ(p[0].opcode, 0x11);  // errors are answered even to a quiet request
  EXPECT_EQ(p[0].status, BinaryStatus::kTooLarge);
  EXPECT_EQ(p[0].value, "Too large.");
  EXPECT_EQ(p[1].status, BinaryStatus::kKeyNotFound);
  // add and replace leave the old value, as in memcached.
  EXPECT_EQ(One(O::kReplace, "a", SetExtras(), big).status, BinaryStatus::kTooLarge);
  EXPECT_EQ(One(O::kGet, "a").value, "old");
  EXPECT_EQ(One(O::kSet, "k", SetExtras(), std::string(1000, 'v')).status, BinaryStatus::kOk);
}

TEST_F(BinaryCommandsTest, Flush) {
  One(O::kSet, "a", SetExtras(), "1");
  Packet f = One(O::kFlush);
  EXPECT_EQ(f.status, BinaryStatus::kOk);
  EXPECT_EQ(One(O::kGet, "a").status, BinaryStatus::kKeyNotFound);
  One(O::kSet, "b", SetExtras(), "2");
  EXPECT_TRUE(Run(Req(O::kFlushQ)).empty());
  EXPECT_EQ(One(O::kGet, "b").status, BinaryStatus::kKeyNotFound);
  One(O::kSet, "c", SetExtras(), "3");
  EXPECT_EQ(One(O::kFlush, {}, Be32(100)).status, BinaryStatus::kOk);  // later
  EXPECT_EQ(One(O::kGet, "c").status, BinaryStatus::kOk);
  settings_.disable_flush_all = true;
  Packet refused = One(O::kFlushQ);
  EXPECT_EQ(refused.status, BinaryStatus::kAuthError);
  EXPECT_EQ(refused.value, "Auth failure.");
}

TEST_F(BinaryCommandsTest, NoopVersionQuitAndSasl) {
  Packet v = One(O::kVersion);
  EXPECT_EQ(v.value, MemcacheCommands::kVersion);
  Outcome o = Outcome::kContinue;
  std::vector<Packet> q = Run(Req(O::kQuit), &o);
  EXPECT_EQ(o, Outcome::kClose);
  ASSERT_EQ(q.size(), 1u);
  EXPECT_EQ(q[0].status, BinaryStatus::kOk);
  o = Outcome::kContinue;
  EXPECT_TRUE(Run(Req(O::kQuitQ), &o).empty());
  EXPECT_EQ(o, Outcome::kClose);
  // Without SASL, memcached does not know the SASL opcodes.
  for (O op : {O::kSaslListMechs, O::kSaslAuth, O::kSaslStep}) {
    bool list = op == O::kSaslListMechs;
    Packet s = One(op, list ? "" : "PLAIN", {}, list ? "" : "\0u\0p");
    EXPECT_EQ(s.status, BinaryStatus::kUnknownCommand);
    EXPECT_EQ(s.value, "Unknown command");
  }
}

TEST_F(BinaryCommandsTest, StatIsTheTextStatsAsPackets) {
  std::vector<Packet> p = Run(Req(O::kStat, {}, {}, {}, 0, 3));
  ASSERT_GT(p.size(), 10u);
  EXPECT_EQ(p[0].key, "pid");
  EXPECT_EQ(p[1].key, "uptime");
  EXPECT_EQ(p[1].value, "5");
  for (const Packet& x : p) {
    EXPECT_EQ(x.opcode, 0x10);
    EXPECT_EQ(x.opaque, 3u);
    EXPECT_EQ(x.status, BinaryStatus::kOk);
  }
  EXPECT_TRUE(p.back().key.empty() && p.back().value.empty());

  p = Run(Req(O::kStat, "settings"));
  bool seen = false;
  for (const Packet& x : p) seen |= x.key == "item_size_max" && x.value == "1000";
  EXPECT_TRUE(seen);
  p = Run(Req(O::kStat, "reset"));
  ASSERT_EQ(p.size(), 1u);
  EXPECT_EQ(p[0].key, "");
  EXPECT_EQ(source_.resets, 1);
  Packet bogus = One(O::kStat, "bogus");
  EXPECT_EQ(bogus.status, BinaryStatus::kKeyNotFound);
  EXPECT_EQ(bogus.value, "Not found");
}

TEST_F(BinaryCommandsTest, LargeValuesGoOutBySendfile) {
  settings_.max_item_size = 1 << 20;
  std::string big(100 << 10, 'b');
  EXPECT_EQ(One(O::kSet, "big", SetExtras(), big).status, BinaryStatus::kOk);
  std::vector<FileSend> files;
  proto::ParserLimits limits;
  std::string in = Req(O::kGetK, "big");
  proto::BinaryRequest req;
  ASSERT_EQ(proto::ParseBinaryRequest(in, limits, &req).status, proto::BinaryParseStatus::kRequest);
  std::string out;
  binary_->Execute(req, &out, &stats_, session_.get(), &files);
  ASSERT_EQ(files.size(), 1u);
  EXPECT_EQ(files[0].len, big.size());
  EXPECT_EQ(files[0].at, out.size());  // the value follows header, flags and key
  EXPECT_EQ(out.size(), proto::kBinaryHeaderSize + 4 + 3);
  EXPECT_EQ(Load(out.substr(8, 4)), 4 + 3 + big.size());
}

}  // namespace
}  // namespace bale
