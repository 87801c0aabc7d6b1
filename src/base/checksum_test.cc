#include "base/checksum.h"

#include <gtest/gtest.h>

namespace bale {
namespace {

TEST(Crc32c, KnownVector) { EXPECT_EQ(Crc32c("123456789"), 0xE3069283u); }

TEST(Crc32c, Chains) {
  std::string a = "hello, ", b = "world";
  EXPECT_EQ(Crc32c(b, Crc32c(a)), Crc32c(a + b));
}

TEST(Crc32c, EmptyIsZero) { EXPECT_EQ(Crc32c(""), 0u); }

TEST(HashKey, StableAndSpread) {
  EXPECT_EQ(HashKey("abc"), HashKey("abc"));
  EXPECT_NE(HashKey("abc"), HashKey("abd"));
}

}  // namespace
}  // namespace bale
