#include "loadgen/value_codec.h"

#include <algorithm>
#include <cstring>

#include "loadgen/rng.h"

#define XXH_INLINE_ALL
#include <xxhash.h>

namespace bale::loadgen {

namespace {

constexpr size_t kWindows = 4096;  // the filler starts at one of this many pool offsets

uint64_t CheckOf(std::string_view key, const char* body, size_t n) {
  return XXH3_64bits_withSeed(body, n, XXH3_64bits(key.data(), key.size()));
}

void StoreLittle64(char* p, uint64_t v) {
  for (int i = 0; i < 8; ++i) p[i] = static_cast<char>(v >> (8 * i));
}

uint64_t LoadLittle64(const char* p) {
  uint64_t v = 0;
  for (int i = 7; i >= 0; --i) v = (v << 8) | static_cast<unsigned char>(p[i]);
  return v;
}

}  // namespace

ValueMaker::ValueMaker(size_t max_size, uint64_t seed) {
  pool_.resize(max_size + kWindows);
  Rng rng(seed);
  for (size_t i = 0; i < pool_.size(); i += 8) {
    const uint64_t word = rng.Next();
    std::memcpy(&pool_[i], &word, std::min<size_t>(8, pool_.size() - i));
  }
}

void ValueMaker::Make(std::string_view key, uint64_t serial, size_t size, std::string* out) const {
  out->resize(size);
  char* p = out->data();
  StoreLittle64(p + 8, serial);
  std::memcpy(p + kMinValueSize, pool_.data() + serial % kWindows, size - kMinValueSize);
  StoreLittle64(p, CheckOf(key, p + 8, size - 8));
}

VerifyResult VerifyValue(std::string_view key, std::string_view value) {
  if (value.size() < kMinValueSize) return VerifyResult::kTooShort;
  const uint64_t want = LoadLittle64(value.data());
  return CheckOf(key, value.data() + 8, value.size() - 8) == want ? VerifyResult::kOk
                                                                  : VerifyResult::kBadCheck;
}

}  // namespace bale::loadgen
