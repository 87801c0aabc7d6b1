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

// The seed is recovered from any data and CRC, including empty data and long runs.
TEST(Crc32c, SeedForRecoversTheSeed) {
  uint64_t x = 88172645463325252ull;
  auto next = [&] {
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    return x;
  };
  for (size_t n : {size_t{0}, size_t{1}, size_t{7}, size_t{44}, size_t{4096}, size_t{100000}}) {
    std::string data(n, '\0');
    for (char& c : data) c = static_cast<char>(next());
    for (int round = 0; round < 4; round++) {
      uint32_t seed = static_cast<uint32_t>(next());
      if (round == 0) seed = 0;
      uint32_t want = Crc32c(data, seed);
      EXPECT_EQ(Crc32cSeedFor(data.data(), data.size(), want), seed) << n;
    }
  }
  // A CRC the data never had with a given seed yields another seed, which reproduces it.
  std::string data = "some needle bytes";
  uint32_t seed = Crc32cSeedFor(data.data(), data.size(), 0x12345678u);
  EXPECT_EQ(Crc32c(data, seed), 0x12345678u);
}

TEST(HashKey, StableAndSpread) {
  EXPECT_EQ(HashKey("abc"), HashKey("abc"));
  EXPECT_NE(HashKey("abc"), HashKey("abd"));
}

}  // namespace
}  // namespace bale
