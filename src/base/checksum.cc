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

uint32_t Crc32cSeedFor(const void* data, size_t n, uint32_t want) {
  // Crc32c(data, n, seed) == A(seed) ^ Crc32c(data, n, 0) with A linear over GF(2) (and
  // invertible: it is multiplication by a power of x modulo the CRC polynomial, which x
  // does not divide). Column i of A is the effect of seed bit i; solve A(seed) == target
  // by elimination, keeping for each pivot row which seed bits compose it.
  const uint32_t base = Crc32c(data, n, 0);
  uint32_t row[32] = {}, bits[32] = {};  // indexed by the pivot's highest set bit
  for (int i = 0; i < 32; i++) {
    uint32_t v = Crc32c(data, n, uint32_t{1} << i) ^ base, m = uint32_t{1} << i;
    for (int b = 31; b >= 0 && v != 0; b--) {
      if ((v >> b & 1) == 0) continue;
      if (row[b] == 0) {
        row[b] = v;
        bits[b] = m;
        break;
      }
      v ^= row[b];
      m ^= bits[b];
    }
  }
  uint32_t target = want ^ base, seed = 0;
  for (int b = 31; b >= 0; b--) {
    if ((target >> b & 1) == 0) continue;
    target ^= row[b];  // row[b] != 0: A is invertible, so every pivot exists
    seed ^= bits[b];
  }
  return seed;
}

uint64_t HashKey(std::string_view key) { return XXH3_64bits(key.data(), key.size()); }

}  // namespace bale
