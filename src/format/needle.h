// Needle: one object record in a segment file.
//
// Every needle starts at an offset that is a multiple of kNeedleAlign and is padded
// with zero bytes to the next multiple. All integers are little-endian.
//
//   offset  size  field
//   ------  ----  -----------------------------------------------------------
//        0     4  magic             kNeedleMagic ("NDL1")
//        4     4  crc               CRC-32C of bytes [8, 44 + key_len + content_type_len
//                                   + value_len), seeded with the segment's salt
//                                   (format/superblock.h)
//        8     8  version           the memcached CAS unique, assigned by the volume
//       16     8  cookie            random; guards public URLs (DESIGN.md §3)
//       24     4  value_len         bytes of value
//       28     4  flags             memcached client flags
//       32     4  expiry            absolute unix seconds; 0 = never expires
//       36     4  mtime             unix seconds when written (flush_all with a delay)
//       40     1  key_len           1..250
//       41     1  kind              NeedleKind
//       42     1  content_type_len  0..255; 0 = no content type
//       43     1  marks             NeedleMark bits (kMarkStale); 0 before marks existed
//       44     -  key               key_len bytes
//        -     -  content_type      content_type_len bytes (an HTTP Content-Type)
//        -     -  value             value_len bytes
//        -     -  padding           zero bytes up to a multiple of kNeedleAlign
//
// A tombstone is a needle of kind kTombstone with an empty value and no content type.
//
// A touch record (kind kTouch) gives an object a new expiry without copying its value
// (memcached's touch, gat, mg T). Its header repeats the object's version, cookie,
// flags and mtime with the new expiry; it has no content type, and its 16-byte value
// names the needle that holds the object's value (the target, always a kValue needle
// of the same key and version):
//
//   offset  size  field (of the value)
//   ------  ----  -----------------------------------------------------------
//        0     8  seq           the target's segment sequence number
//        8     4  generation    that segment's generation (format/superblock.h)
//       12     4  offset_units  the target's offset in it / kNeedleAlign
//
// A generation is immutable below its end, so while (seq, generation) exists the
// target is where the record says. Compaction never leaves a live touch record whose
// generation it replaced: it merges the pair into one value needle (store/compaction.cc).
// The checksum covers everything but the magic and itself, so a bit flipped anywhere in
// the header, key, content type or value is detected; the padding is not covered.
//
// Marks: kMarkStale is memcached's stale mark (meta `md I`, `ms I`): the object is
// served, flagged X, until a new value replaces it. A touch record repeats its object's
// marks. Bits other than kKnownMarks are corruption.
//
// Compatibility: byte 43 was the high byte of a u16 content_type_len whose values were
// at most 255 (larger ones were rejected as corrupt), so every needle written before
// marks existed reads with marks 0, unchanged. content_type_len took the place of a u16 "reserved"
// field that was always written as zero (and rejected when it was not). Needles written before the
// content type existed therefore read as needles without one, with the same layout and
// checksum: old segments need no conversion. The converse does not hold: a reader that
// predates the field rejects a needle that has a content type as corrupt.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "base/content_type.h"
#include "base/status.h"

namespace bale::format {

inline constexpr uint32_t kNeedleMagic = 0x314C444E;  // "NDL1" on disk
inline constexpr size_t kNeedleHeaderSize = 44;
inline constexpr size_t kNeedleAlign = 8;  // also the unit of offsets in the index
inline constexpr size_t kMaxKeyLen = 250;
inline constexpr size_t kMaxContentTypeLen = kMaxContentTypeBytes;

// A content type goes into HTTP response heads verbatim (base/content_type.h).
using bale::IsValidContentType;
inline constexpr uint32_t kMaxValueLen = 1u << 30;

enum class NeedleKind : uint8_t { kValue = 0, kTombstone = 1, kTouch = 2 };

struct TouchTarget {
  uint64_t seq = 0;
  uint32_t generation = 0;
  uint32_t offset_units = 0;
  bool operator==(const TouchTarget&) const = default;
};
inline constexpr size_t kTouchValueSize = 16;

struct NeedleHeader {
  uint64_t version = 0;
  uint64_t cookie = 0;
  uint32_t value_len = 0;
  uint32_t flags = 0;
  uint32_t expiry = 0;
  uint32_t mtime = 0;
  uint8_t key_len = 0;
  NeedleKind kind = NeedleKind::kValue;
  uint16_t content_type_len = 0;  // 0..255 (one byte on disk)
  uint8_t marks = 0;              // NeedleMark bits
};

// Bits of NeedleHeader::marks.
inline constexpr uint8_t kMarkStale = 1;
inline constexpr uint8_t kKnownMarks = kMarkStale;

namespace needle_offsets {
inline constexpr size_t kMagic = 0, kCrc = 4, kVersion = 8, kCookie = 16, kValueLen = 24,
                        kFlags = 28, kExpiry = 32, kMtime = 36, kKeyLen = 40, kKind = 41,
                        kContentTypeLen = 42, kMarks = 43, kKey = 44;
static_assert(kKey == kNeedleHeaderSize);
static_assert(kContentTypeLen + 1 == kMarks && kMarks + 1 == kKey);
static_assert(kMaxContentTypeLen <= 255);  // content_type_len fits its byte
}  // namespace needle_offsets

// Bytes of a needle without its padding: what the checksum (from offset 8) covers.
constexpr size_t NeedleRawSize(size_t key_len, size_t content_type_len, size_t value_len) {
  return kNeedleHeaderSize + key_len + content_type_len + value_len;
}
// Bytes a needle occupies on disk, padding included.
constexpr size_t NeedleSize(size_t key_len, size_t content_type_len, size_t value_len) {
  size_t raw = NeedleRawSize(key_len, content_type_len, value_len);
  return (raw + kNeedleAlign - 1) & ~(kNeedleAlign - 1);
}
constexpr size_t NeedleRawSize(const NeedleHeader& h) {
  return NeedleRawSize(h.key_len, h.content_type_len, h.value_len);
}
constexpr size_t NeedleSize(const NeedleHeader& h) {
  return NeedleSize(h.key_len, h.content_type_len, h.value_len);
}
static_assert(NeedleSize(0, 0, 0) == 48);
static_assert(NeedleSize(4, 0, 4) == 56);
static_assert(NeedleSize(4, 4, 4) == 56);
static_assert(NeedleSize(4, 5, 4) == 64);
static_assert(NeedleSize(kMaxKeyLen, kMaxContentTypeLen, 0) == 552);

// Appends the encoded needle (with padding) to *dst. h.key_len, h.content_type_len and
// h.value_len are ignored: the sizes of key, content_type and value are stored. The
// caller checks the lengths (key 1..kMaxKeyLen, content type up to kMaxContentTypeLen).
void EncodeNeedle(uint32_t salt, const NeedleHeader& h, std::string_view key,
                  std::string_view content_type, std::string_view value, std::string* dst);

// Like EncodeNeedle but appends only what precedes the value (header, key and content
// type, NeedleRawSize(key, content_type, 0) bytes), with the checksum already computed
// over `value` as well. The needle on disk is these bytes, then the value, then
// NeedleSize(...) - NeedleRawSize(...) zero bytes: large values can be written from the
// caller's memory (pwritev) instead of being copied next to their header.
void EncodeNeedlePrefix(uint32_t salt, const NeedleHeader& h, std::string_view key,
                        std::string_view content_type, std::string_view value, std::string* dst);

// The value of a touch record, and back. DecodeTouchTarget returns Corruption unless
// `value` is kTouchValueSize bytes.
void EncodeTouchTarget(const TouchTarget& t, char out[kTouchValueSize]);
Status DecodeTouchTarget(std::string_view value, TouchTarget* t);

// Checks that `buf` starts with a needle header whose magic, lengths and kind are sane
// (a touch record: kTouchValueSize bytes of value and no content type) and fills *h. Returns
// Corruption otherwise (content_type_len above kMaxContentTypeLen included). Does not check the CRC
// (the header may be all we have read so far).
Status DecodeNeedleHeader(std::string_view buf, NeedleHeader* h);

// Given a buffer holding the whole needle (at least NeedleRawSize(h) bytes), verifies
// the CRC and returns key, content type and value views into buf.
Status VerifyNeedle(uint32_t salt, std::string_view buf, const NeedleHeader& h,
                    std::string_view* key, std::string_view* content_type, std::string_view* value);

// The salt with which the needle in `buf` (at least NeedleRawSize(h) bytes) passes its
// checksum. Every salt makes some checksum pass, so one needle proves nothing; two needles
// of a segment that yield the same salt recover a damaged superblock's (store/segment.h).
uint32_t NeedleSaltFor(std::string_view buf, const NeedleHeader& h);

}  // namespace bale::format
