#include "format/journal.h"

#include <gtest/gtest.h>

namespace bale::format {
namespace {

// A whole record: header then payload, as the journal lays it out.
std::string Record(uint32_t salt, const JournalTarget& t, std::string_view payload) {
  std::string r(kJournalRecordHeaderSize, '\0');
  r.append(payload);
  EncodeJournalRecordHeader(salt, t, std::string_view(r).substr(kJournalRecordHeaderSize),
                            r.data());
  return r;
}

JournalTarget Target() {
  JournalTarget t;
  t.partition = 7;
  t.generation = 2;
  t.seq = 123456789012ull;
  t.offset = 4096;
  return t;
}

TEST(JournalFormat, HeaderRoundTripsAndRefusesDamage) {
  std::string h = EncodeJournalHeader({0xDEADBEEF, 42});
  ASSERT_EQ(h.size(), kJournalHeaderSize);
  JournalHeader out;
  ASSERT_TRUE(DecodeJournalHeader(h, &out).ok());
  EXPECT_EQ(out.salt, 0xDEADBEEFu);
  EXPECT_EQ(out.seq, 42u);
  for (size_t i = 0; i < h.size(); i++) {
    std::string bad = h;
    bad[i] ^= 0x10;
    EXPECT_TRUE(DecodeJournalHeader(bad, &out).IsCorruption()) << "byte " << i;
  }
  EXPECT_TRUE(DecodeJournalHeader(h.substr(0, 31), &out).IsCorruption());
  EXPECT_TRUE(DecodeJournalHeader(std::string(32, '\0'), &out).IsCorruption());
}

TEST(JournalFormat, RecordRoundTrips) {
  std::string payload(48, 'x');
  std::string r = Record(99, Target(), payload);
  EXPECT_EQ(JournalRecordLength(r), 48u);
  JournalTarget t;
  std::string_view p;
  ASSERT_TRUE(DecodeJournalRecord(99, r, &t, &p).ok());
  EXPECT_EQ(t.partition, 7u);
  EXPECT_EQ(t.generation, 2u);
  EXPECT_EQ(t.seq, 123456789012ull);
  EXPECT_EQ(t.offset, 4096u);
  EXPECT_EQ(p, payload);
}

TEST(JournalFormat, EveryDamagedByteAndAnotherSaltAreRefused) {
  std::string r = Record(99, Target(), std::string(64, 'v'));
  JournalTarget t;
  std::string_view p;
  EXPECT_TRUE(DecodeJournalRecord(100, r, &t, &p).IsCorruption()) << "another file's salt";
  for (size_t i = 0; i < r.size(); i++) {
    std::string bad = r;
    bad[i] ^= 0x01;
    EXPECT_TRUE(DecodeJournalRecord(99, bad, &t, &p).IsCorruption()) << "byte " << i;
  }
}

TEST(JournalFormat, TruncatedAndImpossibleLengthsAreRefused) {
  std::string r = Record(5, Target(), std::string(64, 'v'));
  JournalTarget t;
  std::string_view p;
  for (size_t n = 0; n < r.size(); n++) {
    EXPECT_TRUE(DecodeJournalRecord(5, r.substr(0, n), &t, &p).IsCorruption()) << n << " bytes";
  }
  std::string zero(kJournalRecordHeaderSize + 8, '\0');
  EXPECT_EQ(JournalRecordLength(zero), 0u);  // a zeroed tail ends the journal
  std::string odd = r;
  odd[4] = 7;  // not a multiple of 8
  EXPECT_EQ(JournalRecordLength(odd), 0u);
  std::string huge = r;
  huge[7] = 0x7F;  // past kMaxJournalPayload
  EXPECT_EQ(JournalRecordLength(huge), 0u);
}

TEST(JournalFormat, FileNames) {
  EXPECT_EQ(JournalFileName(3), "jrn-0000000003.log");
  uint64_t seq = 0;
  EXPECT_TRUE(ParseJournalFileName("jrn-0000000003.log", &seq));
  EXPECT_EQ(seq, 3u);
  EXPECT_FALSE(ParseJournalFileName("jrn-0000000003.log.tmp", &seq));
  EXPECT_FALSE(ParseJournalFileName("jrn-00000000x3.log", &seq));
  EXPECT_FALSE(ParseJournalFileName("seg-0000000003.log", &seq));
}

}  // namespace
}  // namespace bale::format
