#include "format/needle.h"

#include <gtest/gtest.h>

#include <cstring>

#include "base/checksum.h"
#include "format/checkpoint.h"
#include "format/coding.h"
#include "format/superblock.h"
#include "format/volume_meta.h"

namespace bale::format {
namespace {

constexpr uint32_t kSalt = 0x5A17u;

NeedleHeader SampleHeader() {
  NeedleHeader h;
  h.version = 42;
  h.cookie = 0xC0FFEE;
  h.flags = 7;
  h.expiry = 1234567;
  h.mtime = 99;
  return h;
}

TEST(Needle, RoundTrip) {
  std::string buf;
  EncodeNeedle(kSalt, SampleHeader(), "key", "", "value!", &buf);
  ASSERT_EQ(buf.size(), NeedleSize(3, 0, 6));
  ASSERT_EQ(buf.size() % kNeedleAlign, 0u);
  NeedleHeader h;
  ASSERT_TRUE(DecodeNeedleHeader(buf, &h).ok());
  EXPECT_EQ(h.version, 42u);
  EXPECT_EQ(h.cookie, 0xC0FFEEu);
  EXPECT_EQ(h.flags, 7u);
  EXPECT_EQ(h.expiry, 1234567u);
  EXPECT_EQ(h.mtime, 99u);
  EXPECT_EQ(h.key_len, 3);
  EXPECT_EQ(h.value_len, 6u);
  EXPECT_EQ(h.content_type_len, 0u);
  EXPECT_EQ(h.kind, NeedleKind::kValue);
  std::string_view k, ct, v;
  ASSERT_TRUE(VerifyNeedle(kSalt, buf, h, &k, &ct, &v).ok());
  EXPECT_EQ(k, "key");
  EXPECT_EQ(ct, "");
  EXPECT_EQ(v, "value!");
}

TEST(Needle, ContentTypeRoundTrip) {
  for (std::string ct : {std::string("text/html; charset=utf-8"),
                         std::string(kMaxContentTypeLen, 't'), std::string("x")}) {
    std::string buf;
    EncodeNeedle(kSalt, SampleHeader(), "key", ct, "value!", &buf);
    ASSERT_EQ(buf.size(), NeedleSize(3, ct.size(), 6));
    ASSERT_EQ(buf.size() % kNeedleAlign, 0u);
    EXPECT_EQ(GetU16(buf.data() + needle_offsets::kContentTypeLen), ct.size());
    NeedleHeader h;
    ASSERT_TRUE(DecodeNeedleHeader(buf, &h).ok());
    EXPECT_EQ(h.content_type_len, ct.size());
    EXPECT_EQ(NeedleSize(h), buf.size());
    std::string_view k, got_ct, v;
    ASSERT_TRUE(VerifyNeedle(kSalt, buf, h, &k, &got_ct, &v).ok());
    EXPECT_EQ(k, "key");
    EXPECT_EQ(got_ct, ct);
    EXPECT_EQ(v, "value!");
    // On disk: header | key | content type | value | zero padding.
    EXPECT_EQ(buf.substr(kNeedleHeaderSize, 3), "key");
    EXPECT_EQ(buf.substr(kNeedleHeaderSize + 3, ct.size()), ct);
    EXPECT_EQ(buf.substr(kNeedleHeaderSize + 3 + ct.size(), 6), "value!");
    size_t raw = NeedleRawSize(h);
    EXPECT_EQ(buf.substr(raw), std::string(buf.size() - raw, '\0'));
  }
}

// A needle written before the content type existed (reserved bytes zero) reads as one
// without a content type: the format change is backward compatible.
TEST(Needle, OldNeedleWithZeroReservedReads) {
  // The layout as the previous encoder wrote it, built by hand.
  std::string key = "old-key", value = "old value";
  size_t raw = kNeedleHeaderSize + key.size() + value.size();
  std::string buf((raw + kNeedleAlign - 1) & ~(kNeedleAlign - 1), '\0');
  char* p = buf.data();
  PutU32(p + 0, kNeedleMagic);
  PutU64(p + 8, 5);
  PutU64(p + 16, 77);
  PutU32(p + 24, static_cast<uint32_t>(value.size()));
  p[40] = static_cast<char>(key.size());
  PutU16(p + 42, 0);  // "reserved"
  std::memcpy(p + 44, key.data(), key.size());
  std::memcpy(p + 44 + key.size(), value.data(), value.size());
  PutU32(p + 4, Crc32c(p + 8, raw - 8, kSalt));
  NeedleHeader h;
  ASSERT_TRUE(DecodeNeedleHeader(buf, &h).ok());
  EXPECT_EQ(h.content_type_len, 0u);
  std::string_view k, ct, v;
  ASSERT_TRUE(VerifyNeedle(kSalt, buf, h, &k, &ct, &v).ok());
  EXPECT_EQ(k, key);
  EXPECT_TRUE(ct.empty());
  EXPECT_EQ(v, value);
  // And the new encoder writes exactly these bytes for a needle without a content type.
  NeedleHeader in;
  in.version = 5;
  in.cookie = 77;
  std::string again;
  EncodeNeedle(kSalt, in, key, "", value, &again);
  EXPECT_EQ(again, buf);
}

TEST(Needle, UnknownMarksAreCorruption) {
  // Byte 43 was the high byte of a u16 content_type_len (values above 255 rejected);
  // now it holds the marks, and bits other than kKnownMarks are still rejected.
  std::string buf;
  EncodeNeedle(kSalt, SampleHeader(), "key", std::string(kMaxContentTypeLen, 'c'), "v", &buf);
  NeedleHeader h;
  ASSERT_TRUE(DecodeNeedleHeader(buf, &h).ok());
  EXPECT_EQ(h.content_type_len, kMaxContentTypeLen);
  EXPECT_EQ(h.marks, 0);
  for (uint16_t len : {uint16_t{0x200}, uint16_t{0x8000}, uint16_t{0xFFFF}}) {
    std::string bad = buf;
    PutU16(bad.data() + needle_offsets::kContentTypeLen, len);
    Status s = DecodeNeedleHeader(bad, &h);
    EXPECT_TRUE(s.IsCorruption()) << len;
    EXPECT_NE(s.ToString().find("marks"), std::string::npos) << s.ToString();
  }
}

TEST(Needle, StaleMarkRoundTrips) {
  NeedleHeader in = SampleHeader();
  in.marks = kMarkStale;
  std::string buf;
  EncodeNeedle(kSalt, in, "key", "text/plain", "value", &buf);
  EXPECT_EQ(static_cast<uint8_t>(buf[needle_offsets::kMarks]), kMarkStale);
  EXPECT_EQ(static_cast<uint8_t>(buf[needle_offsets::kContentTypeLen]), 10);
  NeedleHeader h;
  ASSERT_TRUE(DecodeNeedleHeader(buf, &h).ok());
  EXPECT_EQ(h.marks, kMarkStale);
  EXPECT_EQ(h.content_type_len, 10);
  std::string_view key, ct, value;
  ASSERT_TRUE(VerifyNeedle(kSalt, buf, h, &key, &ct, &value).ok());
  EXPECT_EQ(value, "value");
}

// The prefix, then the value from elsewhere, then zero padding: the same bytes as
// EncodeNeedle (the pwritev path of Volume writes needles this way).
TEST(Needle, PrefixValuePaddingEqualsWholeNeedle) {
  for (size_t value_len : {size_t{0}, size_t{1}, size_t{7}, size_t{8}, size_t{100000}}) {
    for (std::string ct : {std::string(), std::string("image/png"), std::string(255, 'z')}) {
      std::string value(value_len, '\0');
      for (size_t i = 0; i < value_len; i++) value[i] = static_cast<char>(i * 31 + 7);
      std::string whole;
      EncodeNeedle(kSalt, SampleHeader(), "k", ct, value, &whole);
      std::string parts = "junk";  // appends after what is there
      EncodeNeedlePrefix(kSalt, SampleHeader(), "k", ct, value, &parts);
      ASSERT_EQ(parts.size(), 4 + NeedleRawSize(1, ct.size(), 0));
      parts.append(value);
      parts.append(NeedleSize(1, ct.size(), value_len) - NeedleRawSize(1, ct.size(), value_len),
                   '\0');
      EXPECT_EQ(parts.substr(4), whole) << value_len << " " << ct.size();
    }
  }
}

// Flipping any bit of the header, key, content type or value is caught by the header
// checks or the checksum.
TEST(Needle, EveryFlippedBitIsDetected) {
  std::string good;
  EncodeNeedle(kSalt, SampleHeader(), "some-key", "text/plain", "some value bytes", &good);
  size_t covered = kNeedleHeaderSize + 8 + 10 + 16;
  for (size_t bit = 0; bit < covered * 8; bit++) {
    std::string bad = good;
    bad[bit / 8] ^= static_cast<char>(1 << (bit % 8));
    NeedleHeader h;
    Status s = DecodeNeedleHeader(bad, &h);
    if (s.ok()) {
      std::string_view k, ct, v;
      s = VerifyNeedle(kSalt, bad, h, &k, &ct, &v);
    }
    EXPECT_TRUE(s.IsCorruption()) << "bit " << bit;
  }
}

TEST(Needle, TruncationIsCorruption) {
  std::string good;
  EncodeNeedle(kSalt, SampleHeader(), "k", "a/b", "0123456789", &good);
  for (size_t n = 0; n < kNeedleHeaderSize + 14; n++) {
    std::string_view part(good.data(), n);
    NeedleHeader h;
    Status s = DecodeNeedleHeader(part, &h);
    if (s.ok()) {
      std::string_view k, ct, v;
      s = VerifyNeedle(kSalt, part, h, &k, &ct, &v);
    }
    EXPECT_TRUE(s.IsCorruption()) << n;
  }
}

TEST(Needle, Tombstone) {
  NeedleHeader in = SampleHeader();
  in.kind = NeedleKind::kTombstone;
  std::string buf;
  EncodeNeedle(kSalt, in, "gone", "", "", &buf);
  NeedleHeader h;
  ASSERT_TRUE(DecodeNeedleHeader(buf, &h).ok());
  EXPECT_EQ(h.kind, NeedleKind::kTombstone);
  EXPECT_EQ(h.content_type_len, 0u);
}

TEST(Superblock, RoundTripAndCorruption) {
  std::string buf = EncodeSuperblock({3, 17, 2, 0xABCD});
  ASSERT_EQ(buf.size(), kSuperblockSize);
  Superblock sb;
  ASSERT_TRUE(DecodeSuperblock(buf, &sb).ok());
  EXPECT_EQ(sb.partition, 3u);
  EXPECT_EQ(sb.seq, 17u);
  EXPECT_EQ(sb.generation, 2u);
  EXPECT_EQ(sb.salt, 0xABCDu);
  for (size_t i = 0; i < kSuperblockSize; i++) {
    std::string bad = buf;
    bad[i] ^= 1;
    EXPECT_TRUE(DecodeSuperblock(bad, &sb).IsCorruption()) << i;
  }
}

TEST(SegmentFileName, RoundTrip) {
  uint64_t seq;
  uint32_t gen;
  std::string n = SegmentFileName(123, 4);
  EXPECT_EQ(n, "seg-0000000123-0004.dat");
  ASSERT_TRUE(ParseSegmentFileName(n, &seq, &gen));
  EXPECT_EQ(seq, 123u);
  EXPECT_EQ(gen, 4u);
  EXPECT_FALSE(ParseSegmentFileName(n + ".tmp", &seq, &gen));
  EXPECT_FALSE(ParseSegmentFileName("index.ckpt", &seq, &gen));
  EXPECT_FALSE(ParseSegmentFileName("seg-00000001x3-0004.dat", &seq, &gen));
}

TEST(Checkpoint, HeaderRoundTrip) {
  CheckpointHeader h;
  h.partition = 9;
  h.capacity = 1024;
  h.count = 10;
  h.last_version = 77;
  h.cover_seq = 5;
  h.cover_offset = 4096;
  h.segments = {{0, 1, 4}, {3, 0, 5}};
  std::string buf = EncodeCheckpointHead(h);
  CheckpointHeader out;
  uint32_t n = 0;
  ASSERT_TRUE(DecodeCheckpointHeader(buf, &out, &n).ok());
  ASSERT_EQ(n, 2u);
  ASSERT_TRUE(
      DecodeCheckpointSegments(std::string_view(buf).substr(kCheckpointHeaderSize), n, &out).ok());
  EXPECT_EQ(out.capacity, 1024u);
  EXPECT_EQ(out.cover_offset, 4096u);
  EXPECT_EQ(out.segments[1].slot, 3);
  EXPECT_EQ(out.segments[0].generation, 1u);
  buf[20] ^= 4;
  EXPECT_TRUE(DecodeCheckpointHeader(buf, &out, &n).IsCorruption());
}

TEST(FlushMarker, RoundTrip) {
  std::string buf = EncodeFlushMarker({100, 200});
  FlushMarker m;
  ASSERT_TRUE(DecodeFlushMarker(buf, &m).ok());
  EXPECT_EQ(m.flush_time, 100u);
  EXPECT_EQ(m.flush_version, 200u);
  buf[9] ^= 1;
  EXPECT_TRUE(DecodeFlushMarker(buf, &m).IsCorruption());
}

}  // namespace
}  // namespace bale::format
