// Checksums and key hashing, fixed once for every on-disk format and index.
//
// Crc32c: CRC-32C (Castagnoli, the iSCSI polynomial) from ISA-L, with the standard
// pre- and post-inversion, so Crc32c("123456789") == 0xE3069283. Chainable:
// Crc32c(b, Crc32c(a)) == Crc32c(a + b).
// Crc32cSeedFor: the one seed with which the bytes have a given CRC (the CRC is an
// invertible affine function of its seed), so a lost seed can be recovered from data it
// was used on (a segment's salt from its needles, store/segment.h).
// HashKey: 64-bit XXH3 of the key bytes; the index keeps its upper 32 bits.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string_view>

namespace bale {

uint32_t Crc32c(const void* data, size_t n, uint32_t crc = 0);
inline uint32_t Crc32c(std::string_view s, uint32_t crc = 0) {
  return Crc32c(s.data(), s.size(), crc);
}

// The seed `crc` for which Crc32c(data, n, crc) == want. There is exactly one; finding
// it takes 33 passes over the data.
uint32_t Crc32cSeedFor(const void* data, size_t n, uint32_t want);

uint64_t HashKey(std::string_view key);

}  // namespace bale
