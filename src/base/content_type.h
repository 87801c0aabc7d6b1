// Content types stored with objects and echoed in HTTP response heads: the rule the
// HTTP face checks on write and the needle format enforces (format/needle.h).
#pragma once

#include <cstddef>
#include <string_view>

namespace bale {

inline constexpr size_t kMaxContentTypeBytes = 255;

// At most kMaxContentTypeBytes bytes and no control bytes (CR and LF would split a
// response head), HTAB aside.
constexpr bool IsValidContentType(std::string_view t) {
  if (t.size() > kMaxContentTypeBytes) return false;
  for (char ch : t) {
    auto c = static_cast<unsigned char>(ch);
    if ((c < 0x20 && c != '\t') || c == 0x7F) return false;
  }
  return true;
}

}  // namespace bale
