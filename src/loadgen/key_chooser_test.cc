#include "loadgen/key_chooser.h"

#include <gtest/gtest.h>

#include <cmath>
#include <vector>

namespace bale::loadgen {
namespace {

std::vector<uint64_t> Draw(const KeyChooser& c, uint64_t seed, int n) {
  Rng rng(seed);
  std::vector<uint64_t> counts(c.keys());
  for (int i = 0; i < n; ++i) {
    const uint64_t k = c.Next(rng);
    EXPECT_LT(k, c.keys());
    if (k < c.keys()) ++counts[k];
  }
  return counts;
}

TEST(LoadgenKeyChooser, UniformIsFlat) {
  const KeyChooser c(10, KeyDist{KeyDist::Kind::kUniform, 0});
  const int n = 1000000;
  for (uint64_t count : Draw(c, 1, n)) EXPECT_NEAR(count, n / 10, n / 10 * 0.02);
}

// Zipf(s) over `keys`: rank r (index r - 1) with probability r^-s / sum of k^-s.
void ExpectZipf(uint64_t keys, double s, std::vector<uint64_t> ranks, double tolerance) {
  const KeyChooser c(keys, KeyDist{KeyDist::Kind::kZipf, s});
  const int n = 2000000;
  const std::vector<uint64_t> counts = Draw(c, 42, n);
  double norm = 0;
  for (uint64_t k = 1; k <= keys; ++k) norm += std::pow(static_cast<double>(k), -s);
  for (uint64_t r : ranks) {
    const double want = n * std::pow(static_cast<double>(r), -s) / norm;
    EXPECT_NEAR(static_cast<double>(counts[r - 1]), want, want * tolerance)
        << "s " << s << " rank " << r;
  }
}

TEST(LoadgenKeyChooser, ZipfFrequenciesFollowTheLaw) {
  ExpectZipf(1000, 0.99, {1, 2, 3, 10}, 0.03);
  ExpectZipf(1000, 0.99, {100}, 0.12);
  ExpectZipf(100000, 0.99, {1, 2, 10}, 0.03);
  ExpectZipf(1000, 0.5, {1, 2, 10}, 0.05);
  ExpectZipf(1000, 1.0, {1, 2, 10}, 0.03);  // the law's own special case
  ExpectZipf(1000, 1.5, {1, 2, 3, 10}, 0.03);
}

TEST(LoadgenKeyChooser, OneKeyAndTheSameSeedRepeat) {
  const KeyChooser one(1, KeyDist{KeyDist::Kind::kZipf, 0.99});
  Rng rng(3);
  for (int i = 0; i < 100; ++i) EXPECT_EQ(one.Next(rng), 0u);
  const KeyChooser c(1000, KeyDist{KeyDist::Kind::kZipf, 0.99});
  EXPECT_EQ(Draw(c, 5, 1000), Draw(c, 5, 1000));
}

TEST(LoadgenKeyChooser, KeyNameIsPrefixAndDecimal) {
  std::string key = "old";
  KeyName("load:", 0, &key);
  EXPECT_EQ(key, "load:0");
  KeyName("", 18446744073709551615ULL, &key);
  EXPECT_EQ(key, "18446744073709551615");
}

}  // namespace
}  // namespace bale::loadgen
