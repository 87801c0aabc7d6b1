// FileSend: part of a reply to send straight from a file with sendfile(2) instead of
// copying it into the connection's output buffer, so that a reply naming the same large
// object many times costs a few bytes per mention, not the object's size.
//
// Contract: the bytes [offset, offset + len) of descriptor `fd` go out at byte `at` of
// the connection's output buffer, in order with what surrounds them. `hold` keeps the
// file (and so `fd`) open until they are sent; the file's bytes in that range must not
// change meanwhile (segments are append-only, so a written needle never does).
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>

namespace bale::net {

struct FileSend {
  size_t at = 0;
  std::shared_ptr<const void> hold;
  int fd = -1;
  uint64_t offset = 0;
  uint64_t len = 0;
};

}  // namespace bale::net
