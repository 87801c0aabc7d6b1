// Needle: one object record in a segment file.
//
// Every needle starts at an offset that is a multiple of kNeedleAlign and is padded
// with zero bytes to the next multiple. All integers are little-endian.
//
//   offset  size  field
//   ------  ----  -----------------------------------------------------------
//        0     4  magic        kNeedleMagic ("NDL1")
//        4     4  crc          CRC-32C of bytes [8, 44 + key_len + value_len),
//                              seeded with the segment's salt (format/superblock.h)
//        8     8  version      the memcached CAS unique, assigned by the volume
//       16     8  cookie       random; guards public URLs (DESIGN.md §3)
//       24     4  value_len    bytes of value
//       28     4  flags        memcached client flags
//       32     4  expiry       absolute unix seconds; 0 = never expires
//       36     4  mtime        unix seconds when written (flush_all with a delay)
//       40     1  key_len      1..250
//       41     1  kind         NeedleKind
//       42     2  reserved     zero
//       44     -  key          key_len bytes
//        -     -  value        value_len bytes
//        -     -  padding      zero bytes up to a multiple of kNeedleAlign
//
// A tombstone is a needle of kind kTombstone with an empty value. The checksum covers
// everything but the magic and itself, so a bit flipped anywhere in the header, key
// or value is detected; the padding is not covered.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "base/status.h"

namespace bale::format {

inline constexpr uint32_t kNeedleMagic = 0x314C444E;  // "NDL1" on disk
inline constexpr size_t kNeedleHeaderSize = 44;
inline constexpr size_t kNeedleAlign = 8;  // also the unit of offsets in the index
inline constexpr size_t kMaxKeyLen = 250;
inline constexpr uint32_t kMaxValueLen = 1u << 30;

enum class NeedleKind : uint8_t { kValue = 0, kTombstone = 1 };

struct NeedleHeader {
  uint64_t version = 0;
  uint64_t cookie = 0;
  uint32_t value_len = 0;
  uint32_t flags = 0;
  uint32_t expiry = 0;
  uint32_t mtime = 0;
  uint8_t key_len = 0;
  NeedleKind kind = NeedleKind::kValue;
};

namespace needle_offsets {
inline constexpr size_t kMagic = 0, kCrc = 4, kVersion = 8, kCookie = 16, kValueLen = 24,
                        kFlags = 28, kExpiry = 32, kMtime = 36, kKeyLen = 40, kKind = 41,
                        kReserved = 42, kKey = 44;
static_assert(kKey == kNeedleHeaderSize);
}  // namespace needle_offsets

// Bytes a needle occupies on disk, padding included.
constexpr size_t NeedleSize(size_t key_len, size_t value_len) {
  size_t raw = kNeedleHeaderSize + key_len + value_len;
  return (raw + kNeedleAlign - 1) & ~(kNeedleAlign - 1);
}
static_assert(NeedleSize(0, 0) == 48);
static_assert(NeedleSize(4, 4) == 56);

// Appends the encoded needle (with padding) to *dst.
void EncodeNeedle(uint32_t salt, const NeedleHeader& h, std::string_view key,
                  std::string_view value, std::string* dst);

// Checks that `buf` starts with a needle header whose magic, lengths and kind are sane
// and fills *h. Returns Corruption otherwise. Does not check the CRC (the header may
// be all we have read so far).
Status DecodeNeedleHeader(std::string_view buf, NeedleHeader* h);

// Given a buffer holding the whole needle (at least NeedleSize bytes unpadded),
// verifies the CRC and returns key and value views into buf.
Status VerifyNeedle(uint32_t salt, std::string_view buf, const NeedleHeader& h,
                    std::string_view* key, std::string_view* value);

}  // namespace bale::format
