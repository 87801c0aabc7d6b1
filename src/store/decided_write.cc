#include "store/decided_write.h"

#include <algorithm>

namespace bale {

void DecidedWrite::Begin(uint32_t salt) {
  salt_ = salt;
  bytes_.clear();
  splices_.clear();
  spliced_bytes_ = 0;
  records_.clear();
  max_version_ = 0;
  has_touch_ = false;
}

uint64_t DecidedWrite::Add(const format::NeedleHeader& h, std::string_view key,
                           std::string_view content_type, std::string_view value) {
  Record r;
  r.header = h;
  r.header.key_len = static_cast<uint8_t>(key.size());
  r.header.content_type_len = static_cast<uint16_t>(content_type.size());
  r.header.value_len = static_cast<uint32_t>(value.size());
  r.rel = size();
  r.size = format::NeedleSize(key.size(), content_type.size(), value.size());
  r.at = bytes_.size();
  if (value.size() <= kDirectValueBytes) {
    format::EncodeNeedle(salt_, h, key, content_type, value, &bytes_);
  } else {
    // Header, key and content type here (the CRC already covers the value), the value
    // from the caller's memory, then the padding.
    format::EncodeNeedlePrefix(salt_, h, key, content_type, value, &bytes_);
    r.splice = static_cast<int32_t>(splices_.size());
    splices_.push_back({bytes_.size(), value});
    spliced_bytes_ += value.size();
    bytes_.append(r.size - format::NeedleRawSize(r.header), '\0');
  }
  max_version_ = std::max(max_version_, h.version);
  has_touch_ |= h.kind == format::NeedleKind::kTouch;
  records_.push_back(r);
  return r.rel;
}

void DecidedWrite::View(size_t i, std::string_view* key, std::string_view* content_type,
                        std::string_view* value) const {
  const Record& r = records_[i];
  const char* p = bytes_.data() + r.at + format::kNeedleHeaderSize;
  *key = std::string_view(p, r.header.key_len);
  *content_type = std::string_view(p + r.header.key_len, r.header.content_type_len);
  if (r.splice >= 0) {
    *value = splices_[r.splice].value;
  } else {
    *value = std::string_view(p + r.header.key_len + r.header.content_type_len, r.header.value_len);
  }
}

void DecidedWrite::Pieces(std::vector<std::string_view>* out) const {
  out->clear();
  size_t from = 0;
  for (const Splice& sp : splices_) {
    out->emplace_back(bytes_.data() + from, sp.at - from);
    out->push_back(sp.value);
    from = sp.at;
  }
  out->emplace_back(bytes_.data() + from, bytes_.size() - from);
}

void DecidedWrite::AppendTo(std::string* out) const {
  out->reserve(out->size() + size());
  size_t from = 0;
  for (const Splice& sp : splices_) {
    out->append(bytes_, from, sp.at - from);
    out->append(sp.value);
    from = sp.at;
  }
  out->append(bytes_, from, bytes_.size() - from);
}

void DecidedWrite::Own() {
  if (splices_.empty()) return;
  std::string all;
  AppendTo(&all);
  bytes_ = std::move(all);
  // Offsets in bytes_ now equal offsets within the append.
  for (Record& r : records_) {
    r.at = r.rel;
    r.splice = -1;
  }
  splices_.clear();
  spliced_bytes_ = 0;
}

Status DecidedWrite::Assign(uint32_t salt, std::string_view bytes) {
  Begin(salt);
  for (size_t at = 0; at < bytes.size();) {
    Record r;
    std::string_view key, content_type, value;
    Status s = format::DecodeNeedleHeader(bytes.substr(at), &r.header);
    if (s.ok()) {
      r.size = format::NeedleSize(r.header);
      if (r.size > bytes.size() - at) s = Status::Corruption("needle past the end");
    }
    if (s.ok())
      s = format::VerifyNeedle(salt, bytes.substr(at), r.header, &key, &content_type, &value);
    if (!s.ok()) {
      Begin(salt);
      return Status::Corruption("decided record @" + std::to_string(at) + ": " +
                                std::string(s.message()));
    }
    r.rel = r.at = at;
    max_version_ = std::max(max_version_, r.header.version);
    has_touch_ |= r.header.kind == format::NeedleKind::kTouch;
    records_.push_back(r);
    at += r.size;
  }
  bytes_.assign(bytes);
  return Status::OK();
}

}  // namespace bale
