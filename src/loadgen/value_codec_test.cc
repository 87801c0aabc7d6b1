#include "loadgen/value_codec.h"

#include <gtest/gtest.h>

#include <string>

namespace bale::loadgen {
namespace {

TEST(LoadgenValueCodec, MadeValuesVerify) {
  const ValueMaker maker(100000, 1);
  std::string v;
  for (size_t size : {16, 17, 100, 4096, 100000}) {
    maker.Make("load:7", size * 31, size, &v);
    ASSERT_EQ(v.size(), size);
    EXPECT_EQ(VerifyValue("load:7", v), VerifyResult::kOk) << size;
  }
}

TEST(LoadgenValueCodec, AFlippedByteAnywhereFails) {
  const ValueMaker maker(64, 2);
  std::string v;
  maker.Make("k", 1, 64, &v);
  for (size_t i = 0; i < v.size(); ++i) {
    for (int bit : {0, 7}) {
      std::string bad = v;
      bad[i] = static_cast<char>(bad[i] ^ (1 << bit));
      EXPECT_EQ(VerifyValue("k", bad), VerifyResult::kBadCheck) << "byte " << i << " bit " << bit;
    }
  }
}

TEST(LoadgenValueCodec, AnotherKeysValueFails) {
  const ValueMaker maker(100, 3);
  std::string v;
  maker.Make("load:1", 9, 100, &v);
  EXPECT_EQ(VerifyValue("load:2", v), VerifyResult::kBadCheck);
  EXPECT_EQ(VerifyValue("load:10", v), VerifyResult::kBadCheck);
  EXPECT_EQ(VerifyValue("", v), VerifyResult::kBadCheck);
}

TEST(LoadgenValueCodec, ATornValueFails) {
  const ValueMaker maker(200, 4);
  std::string v;
  maker.Make("k", 5, 100, &v);
  EXPECT_EQ(VerifyValue("k", v.substr(0, 99)), VerifyResult::kBadCheck);
  EXPECT_EQ(VerifyValue("k", v.substr(0, 16)), VerifyResult::kBadCheck);
  EXPECT_EQ(VerifyValue("k", v.substr(0, 15)), VerifyResult::kTooShort);
  EXPECT_EQ(VerifyValue("k", ""), VerifyResult::kTooShort);
  EXPECT_EQ(VerifyValue("k", v + "x"), VerifyResult::kBadCheck);
  std::string other;  // the head of one write and the tail of another
  maker.Make("k", 6, 100, &other);
  EXPECT_EQ(VerifyValue("k", v.substr(0, 50) + other.substr(50)), VerifyResult::kBadCheck);
}

TEST(LoadgenValueCodec, SerialsMakeDifferentValues) {
  const ValueMaker maker(100, 5);
  std::string a, b;
  maker.Make("k", 1, 100, &a);
  maker.Make("k", 2, 100, &b);
  EXPECT_NE(a, b);
  EXPECT_NE(a.substr(16), b.substr(16));  // the filler moves too
  EXPECT_EQ(VerifyValue("k", b), VerifyResult::kOk);
}

}  // namespace
}  // namespace bale::loadgen
