// FLUSH_ALL (format/store_flush.h): format 2 round trips and keeps every rule that damage
// did not touch; format 1, as earlier builds wrote it, is still read.
#include "format/store_flush.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "base/checksum.h"
#include "format/coding.h"

namespace bale::format {
namespace {

const std::vector<FlushRule> kRules = {
    {7, 0, 0}, {0, 1700000005, 0}, {1ull << 40, 9, 1700000000}, {3, 0, 0}};

std::vector<bool> Readable(const StoreFlushContents& c) { return c.readable; }

TEST(StoreFlush, RoundTrip) {
  std::string buf = EncodeStoreFlush(kRules);
  ASSERT_EQ(buf.size(), StoreFlushSize(4));
  EXPECT_EQ(buf.substr(0, 8), std::string("BALFLS1\0", 8));
  EXPECT_EQ(GetU32(buf.data() + 8), 2u);
  EXPECT_EQ(GetU32(buf.data() + StoreFlushRuleOffset(2)), 2u);  // the rule names its partition
  EXPECT_EQ(GetU64(buf.data() + StoreFlushRuleOffset(2) + 8), 1ull << 40);
  EXPECT_EQ(GetU32(buf.data() + StoreFlushRuleOffset(1) + 4), 1700000005u);
  StoreFlushContents c;
  ASSERT_TRUE(DecodeStoreFlush(buf, 4, &c).ok());
  EXPECT_EQ(c.format_version, 2u);
  EXPECT_EQ(c.rules, kRules);
  EXPECT_EQ(Readable(c), std::vector<bool>(4, true));
  EXPECT_TRUE(c.problems.empty());
}

// A byte flipped anywhere in a rule loses that rule alone, and names its offset.
TEST(StoreFlush, DamagedRuleLosesOnlyItself) {
  const std::string good = EncodeStoreFlush(kRules);
  for (uint32_t p = 0; p < 4; p++) {
    for (size_t i = 0; i < kFlushRuleSize; i++) {
      std::string bad = good;
      bad[StoreFlushRuleOffset(p) + i] ^= 0x10;
      StoreFlushContents c;
      Status s = DecodeStoreFlush(bad, 4, &c);
      ASSERT_TRUE(s.IsCorruption()) << "rule " << p << " byte " << i;
      std::vector<bool> want(4, true);
      want[p] = false;
      EXPECT_EQ(Readable(c), want) << "rule " << p << " byte " << i;
      ASSERT_EQ(c.problems.size(), 1u);
      EXPECT_EQ(c.problems[0].first, p);
      EXPECT_EQ(c.problems[0].last, p);
      EXPECT_EQ(c.problems[0].offset, StoreFlushRuleOffset(p));
      for (uint32_t q = 0; q < 4; q++) {
        EXPECT_EQ(c.rules[q], q == p ? FlushRule{} : kRules[q]);
      }
    }
  }
  // A record moved to another partition's place is refused, though its checksum holds.
  std::string moved = good;
  moved.replace(StoreFlushRuleOffset(1), kFlushRuleSize, good, StoreFlushRuleOffset(3),
                kFlushRuleSize);
  StoreFlushContents c;
  EXPECT_TRUE(DecodeStoreFlush(moved, 4, &c).IsCorruption());
  EXPECT_EQ(Readable(c), (std::vector<bool>{true, false, true, true}));
}

// A damaged header loses no rule: they check themselves, and P is the store's.
TEST(StoreFlush, DamagedHeaderKeepsEveryRule) {
  const std::string good = EncodeStoreFlush(kRules);
  for (size_t i = 0; i < kStoreFlushHeaderSize; i++) {
    std::string bad = good;
    bad[i] ^= 0x03;  // the version field's 2 reads 1 at byte 8
    StoreFlushContents c;
    ASSERT_TRUE(DecodeStoreFlush(bad, 4, &c).IsCorruption()) << "byte " << i;
    EXPECT_EQ(c.rules, kRules) << "byte " << i;
    EXPECT_EQ(Readable(c), std::vector<bool>(4, true)) << "byte " << i;
    ASSERT_EQ(c.problems.size(), 1u) << "byte " << i;
    EXPECT_FALSE(c.problems[0].LosesRules());
    EXPECT_EQ(c.problems[0].offset, 0u);
  }
}

// Cut short: the rules wholly present are read; those cut are lost, as one problem.
TEST(StoreFlush, TruncatedFileKeepsTheRulesBeforeTheCut) {
  const std::string good = EncodeStoreFlush(kRules);
  StoreFlushContents c;
  ASSERT_TRUE(DecodeStoreFlush(good.substr(0, StoreFlushRuleOffset(2) + 5), 4, &c).IsCorruption());
  EXPECT_EQ(Readable(c), (std::vector<bool>{true, true, false, false}));
  ASSERT_EQ(c.problems.size(), 1u);
  EXPECT_EQ(c.problems[0].first, 2u);
  EXPECT_EQ(c.problems[0].last, 3u);
  EXPECT_EQ(c.problems[0].offset, StoreFlushRuleOffset(2));
  // Into the header: every rule lost, the header reported too.
  ASSERT_TRUE(DecodeStoreFlush(good.substr(0, 10), 4, &c).IsCorruption());
  EXPECT_EQ(Readable(c), std::vector<bool>(4, false));
  ASSERT_EQ(c.problems.size(), 2u);
  EXPECT_FALSE(c.problems[0].LosesRules());
  EXPECT_EQ(c.problems[1].first, 0u);
  EXPECT_EQ(c.problems[1].last, 3u);
  // Bytes past the last rule are reported, and lose nothing.
  ASSERT_TRUE(DecodeStoreFlush(good + "xx", 4, &c).IsCorruption());
  EXPECT_EQ(Readable(c), std::vector<bool>(4, true));
  EXPECT_EQ(c.problems.at(0).offset, StoreFlushSize(4));
}

// An intact header that names another partition count, or a later format, loses every
// rule: they cannot be placed, or read.
TEST(StoreFlush, IntactHeaderOfAnotherStoreOrFormatLosesEveryRule) {
  StoreFlushContents c;
  EXPECT_TRUE(DecodeStoreFlush(EncodeStoreFlush(kRules), 5, &c).IsCorruption());
  EXPECT_EQ(Readable(c), std::vector<bool>(5, false));
  std::string later = EncodeStoreFlush(kRules);
  PutU32(later.data() + 8, 3);
  PutU32(later.data() + 20, Crc32c(later.data(), 20));
  EXPECT_TRUE(DecodeStoreFlush(later, 4, &c).IsCorruption());
  EXPECT_EQ(Readable(c), std::vector<bool>(4, false));
  EXPECT_NE(c.problems.at(0).what.find("unsupported format version 3"), std::string::npos);
}

// Format 1, byte for byte as tests/golden/v2-*/data/FLUSH_ALL (4 partitions, after one
// flush_all): read; any damage loses every rule.
TEST(StoreFlush, ReadsFormat1OfEarlierBuilds) {
  const std::string v1(
      "BALFLS1\0\x01\0\0\0\x04\0\0\0"
      "\0\0\x10\0\0\0\0\0\0\0\0\0\0\0\0\0"
      "\x01\0\x08\0\0\0\0\0\0\0\0\0\0\0\0\0"
      "\x02\0\x0e\0\0\0\0\0\0\0\0\0\0\0\0\0"
      "\x03\0\x0c\0\0\0\0\0\0\0\0\0\0\0\0\0"
      "uypA\0\0\0\0",
      88);
  ASSERT_EQ(v1.size(), StoreFlushV1Size(4));
  StoreFlushContents c;
  Status s = DecodeStoreFlush(v1, 4, &c);
  ASSERT_TRUE(s.ok()) << s.ToString();
  EXPECT_EQ(c.format_version, 1u);
  EXPECT_EQ(c.rules, (std::vector<FlushRule>{
                         {0x100000, 0, 0}, {0x80001, 0, 0}, {0xe0002, 0, 0}, {0xc0003, 0, 0}}));
  for (size_t i : {size_t{0}, size_t{8}, size_t{13}, size_t{20}, size_t{50}, size_t{80}}) {
    std::string bad = v1;
    bad[i] ^= 1;
    EXPECT_TRUE(DecodeStoreFlush(bad, 4, &c).IsCorruption()) << "byte " << i;
    EXPECT_EQ(Readable(c), std::vector<bool>(4, false)) << "byte " << i;
    ASSERT_EQ(c.problems.size(), 1u) << "byte " << i;
    EXPECT_EQ(c.problems[0].first, 0u);
    EXPECT_EQ(c.problems[0].last, 3u);
  }
  EXPECT_TRUE(DecodeStoreFlush(v1.substr(0, 80), 4, &c).IsCorruption());
  EXPECT_EQ(Readable(c), std::vector<bool>(4, false));
}

}  // namespace
}  // namespace bale::format
