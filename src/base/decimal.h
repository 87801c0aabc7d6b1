// Decimal numbers in protocol text (memcached tokens, HTTP fields, stored counters):
// the one parser every layer uses, so that they agree on what a number is.
//
// Contract: ParseDecimal accepts exactly what std::from_chars accepts for T (an
// optional '-' for signed types, digits, no '+', no spaces) and only if it consumes the
// whole of `s` and the value fits T. Header-only; no allocation.
#pragma once

#include <charconv>
#include <string_view>
#include <system_error>

namespace bale {

template <class T>
[[nodiscard]] bool ParseDecimal(std::string_view s, T* out) {
  if (s.empty()) return false;
  auto r = std::from_chars(s.data(), s.data() + s.size(), *out);
  return r.ec == std::errc() && r.ptr == s.data() + s.size();
}

// Appends `v` in decimal.
template <class T, class String>
void AppendDecimal(String* out, T v) {
  char buf[24];
  auto r = std::to_chars(buf, buf + sizeof(buf), v);
  out->append(buf, static_cast<size_t>(r.ptr - buf));
}

}  // namespace bale
