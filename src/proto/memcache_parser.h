// The memcached text and meta protocol parser: a pure function from bytes to a Request.
//
// Contract: ParseRequest looks at the start of `input` and reports one of
// - kIncomplete: more bytes are needed (nothing consumed);
// - kRequest: *req holds a command; `consumed` bytes (line and data block) belong to
//   it; for a storage command over the size limit (req->too_large) the data block is
//   not in `consumed` and `swallow` more bytes must be discarded as they arrive;
// - kError: `consumed` bytes were a bad request; reply `error` (memcached's exact
//   string) unless `noreply`; the connection stays usable;
// - kClose: memcached would close the connection (a line too long, an HTTP request).
// It never allocates and never reads past `input`. Behaviour follows memcached 1.6.18
// (shared/reference/memcached-protocol.md), including where that desynchronises a
// client: a malformed storage line does not swallow its data block.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string_view>

#include "proto/memcache_request.h"

namespace bale::proto {

struct ParserLimits {
  uint32_t max_item_size = 1024 * 1024;
  size_t max_line = 2048;                 // a line with no '\n' within this closes...
  size_t max_get_line = 2 * 1024 * 1024;  // ...unless it is a get/gets
};

enum class ParseStatus { kIncomplete, kRequest, kError, kClose };

struct ParseResult {
  ParseStatus status = ParseStatus::kIncomplete;
  size_t consumed = 0;
  uint64_t swallow = 0;
  std::string_view error;
  bool noreply = false;
};

ParseResult ParseRequest(std::string_view input, const ParserLimits& limits, Request* req);

// Splits the next space-separated token off *rest; false when none is left.
bool NextToken(std::string_view* rest, std::string_view* token);

inline constexpr size_t kMaxKeyLength = 250;

}  // namespace bale::proto
