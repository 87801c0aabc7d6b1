// HTTP field semantics bale needs, as pure functions: status texts, percent-encoding of
// keys in URLs, Range (RFC 9110 §14), entity tags and If-None-Match (§13.1.2), HTTP
// dates (IMF-fixdate). No I/O, no allocation beyond the output strings.
#pragma once

#include <cstdint>
#include <ctime>
#include <string>
#include <string_view>

namespace bale::proto {

// "OK", "Not Found", ...; "Unknown" for codes bale never sends.
std::string_view StatusText(int code);

// Decodes %XX escapes ('+' is left alone: it is not a space in a path). False on a
// malformed escape.
[[nodiscard]] bool PercentDecode(std::string_view in, std::string* out);
// Escapes every byte but the unreserved ones (A-Z a-z 0-9 - . _ ~), so any memcached
// key becomes one path segment.
void PercentEncode(std::string_view in, std::string* out);

struct ByteRange {
  uint64_t first = 0;
  uint64_t last = 0;  // inclusive
};
enum class RangeKind {
  kNone,           // no Range, several ranges, or malformed: send the whole object
  kSatisfiable,    // *range is set: 206
  kUnsatisfiable,  // 416
};
// Interprets a Range header value for an object of `size` bytes.
RangeKind ParseRange(std::string_view header, uint64_t size, ByteRange* range);

// True if an If-None-Match value ("*" or a list of entity tags, weak or strong) matches
// `etag` (quoted, strong) under the weak comparison §13.1.2 prescribes.
bool IfNoneMatchMatches(std::string_view header, std::string_view etag);

// "Sun, 06 Nov 1994 08:49:37 GMT"; buf must hold 30 bytes; returns the length (29).
size_t FormatHttpDate(time_t t, char* buf);

// Exactly 16 lowercase hex digits (a cookie in a public URL).
[[nodiscard]] bool ParseCookieHex(std::string_view s, uint64_t* out);
void AppendHex16(uint64_t v, std::string* out);

}  // namespace bale::proto
