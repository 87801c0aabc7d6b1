#include "format/store_flush.h"

#include "base/checksum.h"
#include "format/coding.h"

namespace bale::format {

namespace o = store_flush_offsets;

std::string EncodeStoreFlush(std::span<const FlushRule> rules) {
  std::string buf(StoreFlushSize(rules.size()), '\0');
  PutU64(buf.data() + o::kMagic, kStoreFlushMagic);
  PutU32(buf.data() + o::kFormatVersion, kStoreFlushFormatVersion);
  PutU32(buf.data() + o::kPartitions, static_cast<uint32_t>(rules.size()));
  char* p = buf.data() + o::kRules;
  for (const FlushRule& r : rules) {
    PutU64(p + o::kRuleVersion, r.flush_version);
    PutU32(p + o::kRuleTime, r.flush_time);
    PutU32(p + o::kRuleBefore, r.flushed_before);
    p += kFlushRuleSize;
  }
  PutU32(p, Crc32c(buf.data(), static_cast<size_t>(p - buf.data())));
  return buf;
}

Status DecodeStoreFlush(std::string_view buf, uint32_t partitions, std::vector<FlushRule>* rules) {
  if (buf.size() < StoreFlushSize(0) || GetU64(buf.data() + o::kMagic) != kStoreFlushMagic) {
    return Status::Corruption("bad FLUSH_ALL marker");
  }
  if (GetU32(buf.data() + o::kFormatVersion) != kStoreFlushFormatVersion) {
    return Status::Corruption("unsupported FLUSH_ALL format version");
  }
  uint32_t n = GetU32(buf.data() + o::kPartitions);
  if (n != partitions || buf.size() != StoreFlushSize(n)) {
    return Status::Corruption("FLUSH_ALL marker names " + std::to_string(n) +
                              " partitions, the store has " + std::to_string(partitions));
  }
  size_t crc_at = o::kRules + kFlushRuleSize * n;
  if (GetU32(buf.data() + crc_at) != Crc32c(buf.data(), crc_at)) {
    return Status::Corruption("FLUSH_ALL marker checksum mismatch");
  }
  rules->assign(n, FlushRule{});
  const char* p = buf.data() + o::kRules;
  for (FlushRule& r : *rules) {
    r.flush_version = GetU64(p + o::kRuleVersion);
    r.flush_time = GetU32(p + o::kRuleTime);
    r.flushed_before = GetU32(p + o::kRuleBefore);
    p += kFlushRuleSize;
  }
  return Status::OK();
}

}  // namespace bale::format
