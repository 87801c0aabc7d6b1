#include "format/needle.h"

#include <gtest/gtest.h>

#include "format/checkpoint.h"
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
  EncodeNeedle(kSalt, SampleHeader(), "key", "value!", &buf);
  ASSERT_EQ(buf.size(), NeedleSize(3, 6));
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
  EXPECT_EQ(h.kind, NeedleKind::kValue);
  std::string_view k, v;
  ASSERT_TRUE(VerifyNeedle(kSalt, buf, h, &k, &v).ok());
  EXPECT_EQ(k, "key");
  EXPECT_EQ(v, "value!");
}

TEST(Needle, WrongSaltFailsChecksum) {
  std::string buf;
  EncodeNeedle(kSalt, SampleHeader(), "key", "v", &buf);
  NeedleHeader h;
  ASSERT_TRUE(DecodeNeedleHeader(buf, &h).ok());
  std::string_view k, v;
  EXPECT_TRUE(VerifyNeedle(kSalt + 1, buf, h, &k, &v).IsCorruption());
}

// Flipping any bit of the header, key or value is caught by the header checks or
// the checksum.
TEST(Needle, EveryFlippedBitIsDetected) {
  std::string good;
  EncodeNeedle(kSalt, SampleHeader(), "some-key", "some value bytes", &good);
  size_t covered = kNeedleHeaderSize + 8 + 16;
  for (size_t bit = 0; bit < covered * 8; bit++) {
    std::string bad = good;
    bad[bit / 8] ^= static_cast<char>(1 << (bit % 8));
    NeedleHeader h;
    Status s = DecodeNeedleHeader(bad, &h);
    if (s.ok()) {
      std::string_view k, v;
      s = VerifyNeedle(kSalt, bad, h, &k, &v);
    }
    EXPECT_TRUE(s.IsCorruption()) << "bit " << bit;
  }
}

TEST(Needle, TruncationIsCorruption) {
  std::string good;
  EncodeNeedle(kSalt, SampleHeader(), "k", "0123456789", &good);
  for (size_t n = 0; n < kNeedleHeaderSize + 11; n++) {
    std::string_view part(good.data(), n);
    NeedleHeader h;
    Status s = DecodeNeedleHeader(part, &h);
    if (s.ok()) {
      std::string_view k, v;
      s = VerifyNeedle(kSalt, part, h, &k, &v);
    }
    EXPECT_TRUE(s.IsCorruption()) << n;
  }
}

TEST(Needle, Tombstone) {
  NeedleHeader in = SampleHeader();
  in.kind = NeedleKind::kTombstone;
  std::string buf;
  EncodeNeedle(kSalt, in, "gone", "", &buf);
  NeedleHeader h;
  ASSERT_TRUE(DecodeNeedleHeader(buf, &h).ok());
  EXPECT_EQ(h.kind, NeedleKind::kTombstone);
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
