#include "loadgen/key_chooser.h"

#include <algorithm>
#include <cmath>

#include "base/decimal.h"

namespace bale::loadgen {

namespace {

// log1p(x) / x, and its series near 0.
double Helper1(double x) {
  return std::abs(x) > 1e-8 ? std::log1p(x) / x : 1 - x * (0.5 - x * (1.0 / 3 - 0.25 * x));
}

// expm1(x) / x, and its series near 0.
double Helper2(double x) {
  return std::abs(x) > 1e-8 ? std::expm1(x) / x
                            : 1 + x * 0.5 * (1 + x * (1.0 / 3) * (1 + 0.25 * x));
}

}  // namespace

KeyChooser::KeyChooser(uint64_t keys, const KeyDist& dist)
    : keys_(std::max<uint64_t>(keys, 1)),
      zipf_(dist.kind == KeyDist::Kind::kZipf),
      exponent_(dist.exponent) {
  if (!zipf_) return;
  h_integral_x1_ = HIntegral(1.5) - 1;
  h_integral_n_ = HIntegral(static_cast<double>(keys_) + 0.5);
  s_ = 2 - HIntegralInverse(HIntegral(2.5) - H(2));
}

// h(x) = x^-s, the density the discrete law is sandwiched by.
double KeyChooser::H(double x) const { return std::exp(-exponent_ * std::log(x)); }

// The integral of h from 1 to x (shifted so that it is continuous in s at s = 1).
double KeyChooser::HIntegral(double x) const {
  const double log_x = std::log(x);
  return Helper2((1 - exponent_) * log_x) * log_x;
}

double KeyChooser::HIntegralInverse(double x) const {
  double t = x * (1 - exponent_);
  if (t < -1) t = -1;  // rounding can take it just past its bound
  return std::exp(Helper1(t) * x);
}

uint64_t KeyChooser::NextZipf(Rng& rng) const {
  const double n = static_cast<double>(keys_);
  while (true) {
    const double u = h_integral_n_ + rng.Unit() * (h_integral_x1_ - h_integral_n_);
    const double x = HIntegralInverse(u);
    double k = std::floor(x + 0.5);
    k = std::clamp(k, 1.0, n);
    if (k - x <= s_ || u >= HIntegral(k + 0.5) - H(k)) return static_cast<uint64_t>(k) - 1;
  }
}

void KeyName(std::string_view prefix, uint64_t index, std::string* out) {
  out->assign(prefix);
  AppendDecimal(out, index);
}

}  // namespace bale::loadgen
