// Fixed-width little-endian encoding, the byte order of every bale file.
#pragma once

#include <bit>
#include <cstdint>
#include <cstring>

namespace bale::format {

static_assert(std::endian::native == std::endian::little,
              "bale's on-disk formats are little-endian; add byte swaps for this target");

inline void PutU16(char* p, uint16_t v) { std::memcpy(p, &v, 2); }
inline void PutU32(char* p, uint32_t v) { std::memcpy(p, &v, 4); }
inline void PutU64(char* p, uint64_t v) { std::memcpy(p, &v, 8); }
inline uint16_t GetU16(const char* p) {
  uint16_t v;
  std::memcpy(&v, p, 2);
  return v;
}
inline uint32_t GetU32(const char* p) {
  uint32_t v;
  std::memcpy(&v, p, 4);
  return v;
}
inline uint64_t GetU64(const char* p) {
  uint64_t v;
  std::memcpy(&v, p, 8);
  return v;
}

}  // namespace bale::format
