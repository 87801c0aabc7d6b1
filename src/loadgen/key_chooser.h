// KeyChooser: which of K keys the next request names, uniformly or by a Zipf law.
//
// Contract: Next returns an index in [0, keys). Uniform: every index alike. Zipf with
// exponent s > 0: index i (rank i + 1) comes with probability proportional to
// (i + 1)^-s, so index 0 is the hottest; sampled in constant time and memory by
// Hörmann and Derflinger's rejection-inversion (as Apache Commons RNG), for any s > 0
// and any K. The key's name is KeyName(prefix, index): the prefix and the index in
// decimal, so consecutive indexes still hash to unrelated partitions. A chooser holds
// no state but its parameters; the Rng is the caller's (one per thread).
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "loadgen/rng.h"

namespace bale::loadgen {

struct KeyDist {
  enum class Kind { kUniform, kZipf };
  Kind kind = Kind::kUniform;
  double exponent = 0.99;  // kZipf only
};

class KeyChooser {
 public:
  KeyChooser(uint64_t keys, const KeyDist& dist);

  uint64_t Next(Rng& rng) const { return zipf_ ? NextZipf(rng) : rng.Below(keys_); }
  uint64_t keys() const { return keys_; }

 private:
  uint64_t NextZipf(Rng& rng) const;
  double H(double x) const;
  double HIntegral(double x) const;
  double HIntegralInverse(double x) const;

  uint64_t keys_;
  bool zipf_;
  double exponent_;
  double h_integral_x1_ = 0;
  double h_integral_n_ = 0;
  double s_ = 0;
};

// Replaces *out with the key of `index`: prefix, then the index in decimal.
void KeyName(std::string_view prefix, uint64_t index, std::string* out);

}  // namespace bale::loadgen
