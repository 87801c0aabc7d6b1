// Multipart: splits a multipart/form-data body (RFC 7578), what a browser sends when a
// user uploads several files in one form: an album, in Haystack's terms.
//
// Contract: pure functions over bytes already received. Parts are views into `body`;
// part contents are opaque bytes (CRLFs and boundary look-alikes inside are kept as long
// as they are not CRLF "--" boundary). Anything malformed is InvalidArgument with a
// reason: a missing boundary, a part without headers end, no closing delimiter.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "base/status.h"

namespace bale::proto {

struct MultipartPart {
  std::string name;      // Content-Disposition name="..."
  std::string filename;  // Content-Disposition filename="..." (may be empty)
  std::string content_type;
  std::string_view body;
};

// The boundary parameter of a "multipart/form-data; boundary=..." Content-Type.
[[nodiscard]] bool MultipartBoundary(std::string_view content_type, std::string* boundary);

[[nodiscard]] Status ParseMultipart(std::string_view body, std::string_view boundary,
                                    std::vector<MultipartPart>* parts);

}  // namespace bale::proto
