// Decimal numbers in protocol text (memcached tokens, HTTP fields, stored counters):
// the one parser every layer uses, so that they agree on what a number is.
//
// Contract: ParseDecimal accepts exactly what std::from_chars accepts for T (an
// optional '-' for signed types, digits, no '+', no spaces) and only if it consumes the
// whole of `s` and the value fits T. ParseByteSize takes memcached's size suffixes
// on top. Header-only; no allocation.
#pragma once

#include <charconv>
#include <cstdint>
#include <string_view>
#include <system_error>

namespace bale {

template <class T>
[[nodiscard]] bool ParseDecimal(std::string_view s, T* out) {
  if (s.empty()) return false;
  auto r = std::from_chars(s.data(), s.data() + s.size(), *out);
  return r.ec == std::errc() && r.ptr == s.data() + s.size();
}

// memcached's size forms: "1000", "512k", "2m", "1g" (any case; powers of 1024). False
// when bad or past 2^64.
[[nodiscard]] inline bool ParseByteSize(std::string_view s, uint64_t* out) {
  uint64_t unit = 1;
  if (!s.empty()) {
    switch (s.back() | 0x20) {
      case 'k':
        unit = 1ULL << 10;
        break;
      case 'm':
        unit = 1ULL << 20;
        break;
      case 'g':
        unit = 1ULL << 30;
        break;
    }
    if (unit != 1) s.remove_suffix(1);
  }
  uint64_t n = 0;
  if (!ParseDecimal(s, &n) || n > UINT64_MAX / unit) return false;
  *out = n * unit;
  return true;
}

// Appends `v` in decimal.
template <class T, class String>
void AppendDecimal(String* out, T v) {
  char buf[24];
  auto r = std::to_chars(buf, buf + sizeof(buf), v);
  out->append(buf, static_cast<size_t>(r.ptr - buf));
}

}  // namespace bale
