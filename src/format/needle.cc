#include "format/needle.h"

#include <cassert>
#include <cstring>

#include "base/checksum.h"
#include "format/coding.h"

namespace bale::format {

namespace o = needle_offsets;

namespace {

// Writes header, key and content type at p (NeedleRawSize(key, content_type, 0) bytes)
// and the checksum of those bytes followed by `value`.
void EncodePrefixAt(uint32_t salt, const NeedleHeader& h, std::string_view key,
                    std::string_view content_type, std::string_view value, char* p) {
  assert(key.size() <= kMaxKeyLen && content_type.size() <= kMaxContentTypeLen);
  PutU32(p + o::kMagic, kNeedleMagic);
  PutU64(p + o::kVersion, h.version);
  PutU64(p + o::kCookie, h.cookie);
  PutU32(p + o::kValueLen, static_cast<uint32_t>(value.size()));
  PutU32(p + o::kFlags, h.flags);
  PutU32(p + o::kExpiry, h.expiry);
  PutU32(p + o::kMtime, h.mtime);
  p[o::kKeyLen] = static_cast<char>(key.size());
  p[o::kKind] = static_cast<char>(h.kind);
  p[o::kContentTypeLen] = static_cast<char>(content_type.size());
  p[o::kMarks] = static_cast<char>(h.marks);
  std::memcpy(p + o::kKey, key.data(), key.size());
  if (!content_type.empty()) {
    std::memcpy(p + o::kKey + key.size(), content_type.data(), content_type.size());
  }
  size_t prefix = NeedleRawSize(key.size(), content_type.size(), 0);
  // Chained: the same CRC as over the contiguous record.
  uint32_t crc = Crc32c(p + o::kVersion, prefix - o::kVersion, salt);
  PutU32(p + o::kCrc, Crc32c(value, crc));
}

}  // namespace

void EncodeNeedle(uint32_t salt, const NeedleHeader& h, std::string_view key,
                  std::string_view content_type, std::string_view value, std::string* dst) {
  size_t start = dst->size();
  size_t prefix = NeedleRawSize(key.size(), content_type.size(), 0);
  size_t raw = prefix + value.size();
  size_t total = NeedleSize(key.size(), content_type.size(), value.size());
  dst->resize(start + total);
  char* p = dst->data() + start;
  EncodePrefixAt(salt, h, key, content_type, value, p);
  if (!value.empty()) std::memcpy(p + prefix, value.data(), value.size());
  std::memset(p + raw, 0, total - raw);
}

void EncodeNeedlePrefix(uint32_t salt, const NeedleHeader& h, std::string_view key,
                        std::string_view content_type, std::string_view value, std::string* dst) {
  size_t start = dst->size();
  dst->resize(start + NeedleRawSize(key.size(), content_type.size(), 0));
  EncodePrefixAt(salt, h, key, content_type, value, dst->data() + start);
}

Status DecodeNeedleHeader(std::string_view buf, NeedleHeader* h) {
  if (buf.size() < kNeedleHeaderSize) return Status::Corruption("short needle header");
  const char* p = buf.data();
  if (GetU32(p + o::kMagic) != kNeedleMagic) return Status::Corruption("bad needle magic");
  h->version = GetU64(p + o::kVersion);
  h->cookie = GetU64(p + o::kCookie);
  h->value_len = GetU32(p + o::kValueLen);
  h->flags = GetU32(p + o::kFlags);
  h->expiry = GetU32(p + o::kExpiry);
  h->mtime = GetU32(p + o::kMtime);
  h->key_len = static_cast<uint8_t>(p[o::kKeyLen]);
  auto kind = static_cast<uint8_t>(p[o::kKind]);
  if (kind > static_cast<uint8_t>(NeedleKind::kTouch)) {
    return Status::Corruption("bad needle kind");
  }
  h->kind = static_cast<NeedleKind>(kind);
  h->content_type_len = static_cast<uint8_t>(p[o::kContentTypeLen]);
  h->marks = static_cast<uint8_t>(p[o::kMarks]);
  if ((h->marks & ~kKnownMarks) != 0) return Status::Corruption("bad needle marks");
  if (h->key_len == 0 || h->key_len > kMaxKeyLen) return Status::Corruption("bad key length");
  if (h->value_len > kMaxValueLen) return Status::Corruption("bad value length");
  if (h->content_type_len > kMaxContentTypeLen) {
    return Status::Corruption("bad content type length");
  }
  if (h->kind == NeedleKind::kTouch &&
      (h->value_len != kTouchValueSize || h->content_type_len != 0)) {
    return Status::Corruption("bad touch record");
  }
  return Status::OK();
}

void EncodeTouchTarget(const TouchTarget& t, char out[kTouchValueSize]) {
  PutU64(out, t.seq);
  PutU32(out + 8, t.generation);
  PutU32(out + 12, t.offset_units);
}

Status DecodeTouchTarget(std::string_view value, TouchTarget* t) {
  if (value.size() != kTouchValueSize) return Status::Corruption("bad touch record");
  t->seq = GetU64(value.data());
  t->generation = GetU32(value.data() + 8);
  t->offset_units = GetU32(value.data() + 12);
  return Status::OK();
}

Status VerifyNeedle(uint32_t salt, std::string_view buf, const NeedleHeader& h,
                    std::string_view* key, std::string_view* content_type,
                    std::string_view* value) {
  size_t raw = NeedleRawSize(h);
  if (buf.size() < raw) return Status::Corruption("short needle");
  uint32_t want = GetU32(buf.data() + o::kCrc);
  if (Crc32c(buf.data() + o::kVersion, raw - o::kVersion, salt) != want) {
    return Status::Corruption("needle checksum mismatch");
  }
  *key = buf.substr(o::kKey, h.key_len);
  *content_type = buf.substr(o::kKey + h.key_len, h.content_type_len);
  *value = buf.substr(o::kKey + h.key_len + h.content_type_len, h.value_len);
  return Status::OK();
}

uint32_t NeedleSaltFor(std::string_view buf, const NeedleHeader& h) {
  size_t raw = NeedleRawSize(h);
  return Crc32cSeedFor(buf.data() + o::kVersion, raw - o::kVersion, GetU32(buf.data() + o::kCrc));
}

}  // namespace bale::format
