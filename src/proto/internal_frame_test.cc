// Tests for the internal frames: every op and every Mutation field round trip, input
// split at every byte, truncated and corrupted headers, a huge length, an unknown version.
#include "proto/internal_frame.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

namespace bale::proto {
namespace {

Frame DecodeOne(std::string_view bytes) {
  Frame f;
  DecodeResult r = DecodeFrame(bytes, FrameLimits(), &f);
  EXPECT_EQ(r.status, DecodeStatus::kFrame) << r.message;
  EXPECT_EQ(f.size, bytes.size());
  return f;
}

Mutation FullMutation() {
  Mutation m;
  m.kind = MutationKind::kCas;
  m.key = "key";
  m.value = "the value";
  m.content_type = "text/plain";
  m.flags = 0xDEADBEEF;
  m.expiry = 1700000000;
  m.set_expiry = true;
  m.compare_version = 0x1122334455667788;
  m.has_compare = true;
  m.delta = 42;
  m.vivify = true;
  m.initial = 7;
  m.vivify_expiry = 99;
  m.cookie = 0xCAFE;
  m.max_value_size = 1 << 20;
  m.explicit_version = 123456789;
  m.invalidate = true;
  m.remove_value = true;
  return m;
}

TEST(InternalFrameTest, MutateCarriesEveryField) {
  Mutation m = FullMutation();
  std::string out;
  AppendMutate(&out, 77, 5, 3, m);
  Frame f = DecodeOne(out);
  EXPECT_EQ(f.header.op, FrameOp::kMutate);
  EXPECT_EQ(f.header.request_id, 77u);
  EXPECT_EQ(f.header.epoch, 5u);
  EXPECT_EQ(f.header.partition, 3u);
  EXPECT_FALSE(f.header.reply());
  Mutation d;
  ASSERT_TRUE(DecodeMutate(f, &d));
  EXPECT_EQ(d.kind, m.kind);
  EXPECT_EQ(d.key, m.key);
  EXPECT_EQ(d.value, m.value);
  EXPECT_EQ(d.content_type, m.content_type);
  EXPECT_EQ(d.flags, m.flags);
  EXPECT_EQ(d.expiry, m.expiry);
  EXPECT_EQ(d.set_expiry, m.set_expiry);
  EXPECT_EQ(d.compare_version, m.compare_version);
  EXPECT_EQ(d.has_compare, m.has_compare);
  EXPECT_EQ(d.delta, m.delta);
  EXPECT_EQ(d.vivify, m.vivify);
  EXPECT_EQ(d.initial, m.initial);
  EXPECT_EQ(d.vivify_expiry, m.vivify_expiry);
  EXPECT_EQ(d.cookie, m.cookie);
  EXPECT_EQ(d.max_value_size, m.max_value_size);
  EXPECT_EQ(d.explicit_version, m.explicit_version);
  EXPECT_EQ(d.invalidate, m.invalidate);
  EXPECT_EQ(d.remove_value, m.remove_value);

  // Every kind, and each flag alone.
  for (int k = 0; k <= static_cast<int>(MutationKind::kDelete); k++) {
    Mutation one;
    one.kind = static_cast<MutationKind>(k);
    one.key = "k";
    std::string o;
    AppendMutate(&o, 1, 1, 0, one);
    ASSERT_TRUE(DecodeMutate(DecodeOne(o), &d));
    EXPECT_EQ(d.kind, one.kind);
    EXPECT_FALSE(d.set_expiry || d.has_compare || d.vivify || d.invalidate || d.remove_value);
  }
  // The head leaves the value out, but its length in.
  std::string head;
  AppendMutateHead(&head, 77, 5, 3, m);
  EXPECT_EQ(head + std::string(m.value), out);
}

TEST(InternalFrameTest, GetCarriesEveryOption) {
  uint64_t cookie = 9;
  uint32_t touch = 100, recache = 200, vivify = 300;
  LookupOptions o;
  o.cookie = &cookie;
  o.touch_expiry = &touch;
  o.meta = true;
  o.recache_before = &recache;
  o.vivify_expiry = &vivify;
  o.vivify_version = 55;
  o.no_bump = true;
  std::string out;
  AppendGet(&out, 3, 4, 5, GetRequest::From("kk", o));
  GetRequest g;
  ASSERT_TRUE(DecodeGet(DecodeOne(out), &g));
  LookupOptions d = g.options();
  EXPECT_EQ(g.key, "kk");
  ASSERT_NE(d.cookie, nullptr);
  EXPECT_EQ(*d.cookie, 9u);
  ASSERT_NE(d.touch_expiry, nullptr);
  EXPECT_EQ(*d.touch_expiry, 100u);
  EXPECT_TRUE(d.meta);
  ASSERT_NE(d.recache_before, nullptr);
  EXPECT_EQ(*d.recache_before, 200u);
  ASSERT_NE(d.vivify_expiry, nullptr);
  EXPECT_EQ(*d.vivify_expiry, 300u);
  EXPECT_EQ(d.vivify_version, 55u);
  EXPECT_TRUE(d.no_bump);

  out.clear();
  AppendGet(&out, 3, 4, 5, GetRequest::From("kk", LookupOptions()));
  ASSERT_TRUE(DecodeGet(DecodeOne(out), &g));
  d = g.options();
  EXPECT_TRUE(d.cookie == nullptr && d.touch_expiry == nullptr && d.recache_before == nullptr &&
              d.vivify_expiry == nullptr && !d.meta && !d.no_bump);
}

TEST(InternalFrameTest, RepliesRoundTrip) {
  MutationResult r;
  r.status = MutationStatus::kNoSpace;
  r.error = Status::NoSpace("disk full on /data");
  r.meta.version = 10;
  r.meta.cookie = 11;
  r.meta.flags = 12;
  r.meta.expiry = 13;
  r.meta.mtime = 14;
  r.meta.size = 15;
  r.meta.stale = true;
  r.number = 16;
  std::string out;
  AppendResult(&out, FrameOp::kMutate, 8, 9, r);
  Frame f = DecodeOne(out);
  EXPECT_TRUE(f.header.reply());
  EXPECT_EQ(f.header.epoch, 9u);
  MutationResult d;
  ASSERT_TRUE(DecodeMutationResult(f, &d));
  EXPECT_EQ(d.status, r.status);
  EXPECT_TRUE(d.error.IsNoSpace());
  EXPECT_EQ(d.error.message(), "disk full on /data");
  EXPECT_EQ(d.meta.version, 10u);
  EXPECT_EQ(d.meta.cookie, 11u);
  EXPECT_EQ(d.meta.flags, 12u);
  EXPECT_EQ(d.meta.expiry, 13u);
  EXPECT_EQ(d.meta.mtime, 14u);
  EXPECT_EQ(d.meta.size, 15u);
  EXPECT_TRUE(d.meta.stale);
  EXPECT_EQ(d.number, 16u);

  ObjectView v;
  v.key = "key";
  v.content_type = "image/png";
  v.value = "PNGDATA";
  v.meta.size = v.value.size();
  v.meta.won = v.meta.token_sent = v.meta.fetched = true;
  v.meta.idle_s = 33;
  out.clear();
  AppendValue(&out, 1, 2, v);
  ObjectView dv;
  ASSERT_TRUE(DecodeValue(DecodeOne(out), &dv));
  EXPECT_EQ(dv.key, "key");
  EXPECT_EQ(dv.content_type, "image/png");
  EXPECT_EQ(dv.value, "PNGDATA");
  EXPECT_TRUE(dv.meta.won && dv.meta.token_sent && dv.meta.fetched && !dv.meta.stale);
  EXPECT_EQ(dv.meta.idle_s, 33u);

  out.clear();
  AppendGetMiss(&out, 1, 2, WireStatus::kNotFound, "");
  f = DecodeOne(out);
  EXPECT_TRUE(ReplyStatus(f).IsNotFound());
  EXPECT_FALSE(DecodeValue(f, &dv));

  out.clear();
  AppendError(&out, 4, 17, WireStatus::kWrongEpoch, "node is at epoch 17");
  f = DecodeOne(out);
  EXPECT_EQ(f.header.op, FrameOp::kError);
  EXPECT_EQ(f.header.status, WireStatus::kWrongEpoch);
  EXPECT_EQ(f.header.epoch, 17u);
  EXPECT_EQ(ReplyStatus(f).message(), "WRONG_EPOCH: node is at epoch 17");
}

TEST(InternalFrameTest, FlushPutAtomicStatsHello) {
  std::string out;
  AppendFlushAll(&out, 1, 2, 1234);
  uint32_t when = 0;
  ASSERT_TRUE(DecodeFlushAll(DecodeOne(out), &when));
  EXPECT_EQ(when, 1234u);

  std::vector<BatchPut> items(2);
  items[0].key = "a";
  items[0].value = "va";
  items[0].content_type = "text/x";
  items[0].flags = 5;
  items[0].expiry = 6;
  items[0].cookie = 7;
  items[1].key = "bb";
  items[1].only_if_absent = true;
  out.clear();
  AppendPutAtomic(&out, 1, 2, items);
  std::vector<BatchPut> d;
  ASSERT_TRUE(DecodePutAtomic(DecodeOne(out), &d));
  ASSERT_EQ(d.size(), 2u);
  EXPECT_EQ(d[0].key, "a");
  EXPECT_EQ(d[0].value, "va");
  EXPECT_EQ(d[0].content_type, "text/x");
  EXPECT_EQ(d[0].flags, 5u);
  EXPECT_EQ(d[0].expiry, 6u);
  EXPECT_EQ(d[0].cookie, 7u);
  EXPECT_FALSE(d[0].only_if_absent);
  EXPECT_EQ(d[1].key, "bb");
  EXPECT_TRUE(d[1].only_if_absent);

  d[0].version = 100;
  d[1].taken = true;
  d[1].cookie = 200;
  MutationResult r;
  r.status = MutationStatus::kExists;
  out.clear();
  AppendPutAtomicResult(&out, 1, 2, r, d);
  MutationResult dr;
  ASSERT_TRUE(DecodePutAtomicResult(DecodeOne(out), &dr, items));
  EXPECT_EQ(dr.status, MutationStatus::kExists);
  EXPECT_EQ(items[0].version, 100u);
  EXPECT_TRUE(items[1].taken);
  EXPECT_EQ(items[1].cookie, 200u);

  ObjectStats s;
  s.partitions = 8;
  s.live_objects = 1ull << 40;
  s.disk_full = true;
  out.clear();
  AppendStatsReply(&out, 1, 2, s);
  ObjectStats ds;
  ASSERT_TRUE(DecodeStatsReply(DecodeOne(out), &ds));
  EXPECT_EQ(ds.partitions, 8u);
  EXPECT_EQ(ds.live_objects, 1ull << 40);
  EXPECT_TRUE(ds.disk_full);
  out.clear();
  AppendStats(&out, 1, 2);
  EXPECT_EQ(DecodeOne(out).header.op, FrameOp::kStats);

  Hello h{1, 3, 0xF0};
  out.clear();
  AppendHello(&out, 1, h, true);
  Hello dh;
  Frame f = DecodeOne(out);
  ASSERT_TRUE(DecodeHello(f, &dh));
  EXPECT_TRUE(f.header.reply());
  EXPECT_EQ(dh.min_version, 1);
  EXPECT_EQ(dh.max_version, 3);
  EXPECT_EQ(dh.features, 0xF0u);
}

// A stream of several frames, as a pipelined connection carries them.
std::string Stream() {
  std::string s;
  AppendMutate(&s, 1, 1, 0, FullMutation());
  AppendGet(&s, 2, 1, 0, GetRequest::From("key", LookupOptions()));
  AppendFlushAll(&s, 3, 1, 0);
  AppendStats(&s, 4, 1);
  AppendError(&s, 5, 1, WireStatus::kNotHeld, "partition 3");
  return s;
}

std::vector<std::string> Frames(std::string* buffer, std::string_view more) {
  std::vector<std::string> out;
  buffer->append(more);
  std::string_view rest = *buffer;
  Frame f;
  while (DecodeFrame(rest, FrameLimits(), &f).status == DecodeStatus::kFrame) {
    out.emplace_back(rest.substr(0, f.size));
    rest.remove_prefix(f.size);
  }
  *buffer = std::string(rest);
  return out;
}

TEST(InternalFrameTest, SplitAtEveryByteGivesTheSameFrames) {
  std::string s = Stream();
  std::string buffer;
  std::vector<std::string> whole = Frames(&buffer, s);
  ASSERT_EQ(whole.size(), 5u);
  EXPECT_TRUE(buffer.empty());
  for (size_t cut = 0; cut <= s.size(); cut++) {
    std::string b;
    std::vector<std::string> got = Frames(&b, std::string_view(s).substr(0, cut));
    std::vector<std::string> rest = Frames(&b, std::string_view(s).substr(cut));
    got.insert(got.end(), rest.begin(), rest.end());
    ASSERT_EQ(got, whole) << "cut at " << cut;
  }
}

TEST(InternalFrameTest, TruncatedAndCorruptedHeaders) {
  std::string s;
  AppendGet(&s, 2, 1, 0, GetRequest::From("key", LookupOptions()));
  Frame f;
  for (size_t n = 1; n < s.size(); n++) {
    EXPECT_EQ(DecodeFrame(std::string_view(s).substr(0, n), FrameLimits(), &f).status,
              DecodeStatus::kNeedMore);
  }
  auto bad = [&](size_t at, char c) {
    std::string t = s;
    t[at] = c;
    return DecodeFrame(t, FrameLimits(), &f);
  };
  EXPECT_EQ(bad(1, 0x55).error, WireStatus::kBadFrame);   // op
  EXPECT_EQ(bad(2, 0x04).error, WireStatus::kBadFrame);   // flags
  EXPECT_EQ(bad(3, 0x66).error, WireStatus::kBadFrame);   // status
  EXPECT_EQ(bad(25, 0x10).error, WireStatus::kBadFrame);  // key length 4k
  EXPECT_EQ(bad(28, 0x01).error, WireStatus::kBadFrame);  // reserved
  // A GET's extras of the wrong size decode as a frame but not as a GET.
  std::string t = s;
  t[26] = 8;  // extras 8 bytes instead of 32: the key is then read from the extras
  GetRequest g;
  DecodeResult r = DecodeFrame(t, FrameLimits(), &f);
  if (r.status == DecodeStatus::kFrame) {
    EXPECT_FALSE(DecodeGet(f, &g));
  }
}

TEST(InternalFrameTest, HugeLengthRefusedFromTheHeader) {
  std::string s;
  AppendHeader(&s, FrameHeader{FrameOp::kMutate}, 1, 64, 4ull << 30);
  Frame f;
  DecodeResult r = DecodeFrame(s, FrameLimits(), &f);
  EXPECT_EQ(r.status, DecodeStatus::kBad);
  EXPECT_EQ(r.error, WireStatus::kTooLarge);
  s.clear();
  AppendHeader(&s, FrameHeader{FrameOp::kMutate}, 1, 64, UINT64_MAX);
  EXPECT_EQ(DecodeFrame(s, FrameLimits(), &f).error, WireStatus::kTooLarge);
  FrameLimits small{1000};
  s.clear();
  AppendHeader(&s, FrameHeader{FrameOp::kMutate}, 10, 64, 1000 - 40 - 64 - 10 + 1);
  EXPECT_EQ(DecodeFrame(s, small, &f).error, WireStatus::kTooLarge);
  // A PUT_ATOMIC count past what its body could hold is refused before any reserve.
  s.clear();
  AppendHeader(&s, FrameHeader{FrameOp::kPutAtomic}, 0, 0, 4);
  s.append("\xff\xff\xff\xff", 4);
  std::vector<BatchPut> items;
  EXPECT_FALSE(DecodePutAtomic(DecodeOne(s), &items));
}

TEST(InternalFrameTest, UnknownVersionRefused) {
  Frame f;
  for (char first : {'\x80', '\x81', 'g', '\xB2', '\x00'}) {
    std::string s(1, first);
    DecodeResult r = DecodeFrame(s, FrameLimits(), &f);
    EXPECT_EQ(r.status, DecodeStatus::kBad);
    EXPECT_EQ(r.error, WireStatus::kUnsupportedVersion);
  }
}

}  // namespace
}  // namespace bale::proto
