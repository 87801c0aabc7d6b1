#include "base/checksum.h"

#include <isa-l/crc.h>

#define XXH_INLINE_ALL
#include <xxhash.h>

namespace bale {

uint32_t Crc32c(const void* data, size_t n, uint32_t crc) {
  // ISA-L's crc32_iscsi neither pre- nor post-inverts; do both here.
  auto* p = static_cast<unsigned char*>(const_cast<void*>(data));
  uint32_t c = ~crc;
  while (n > 0) {
    int chunk = n > (1u << 30) ? (1 << 30) : static_cast<int>(n);
    c = crc32_iscsi(p, chunk, c);
    p += chunk;
    n -= static_cast<size_t>(chunk);
  }
  return ~c;
}

uint64_t HashKey(std::string_view key) { return XXH3_64bits(key.data(), key.size()); }

}  // namespace bale
