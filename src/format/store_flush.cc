#include "format/store_flush.h"

#include <algorithm>

#include "base/checksum.h"
#include "format/coding.h"

namespace bale::format {

namespace o = store_flush_offsets;

namespace {

// Adds a problem that loses the rules first..last, joined to the previous one when
// that lost the rules just before for the same reason.
void Lose(StoreFlushContents* out, uint32_t first, uint32_t last, uint64_t offset,
          std::string what) {
  for (uint32_t p = first; p <= last && p < out->readable.size(); p++) {
    out->readable[p] = false;
    out->rules[p] = FlushRule{};
  }
  if (!out->problems.empty()) {
    StoreFlushProblem& prev = out->problems.back();
    if (prev.LosesRules() && prev.last + 1 == first && prev.what == what) {
      prev.last = last;
      return;
    }
  }
  out->problems.push_back({first, last, offset, std::move(what)});
}

void Note(StoreFlushContents* out, uint64_t offset, std::string what) {
  out->problems.push_back({1, 0, offset, std::move(what)});
}

// Format 1: one checksum over everything, so all rules or none.
void DecodeV1(std::string_view buf, uint32_t partitions, StoreFlushContents* out) {
  const uint32_t all = partitions - 1;  // partitions > 0
  if (GetU64(buf.data() + o::kMagic) != kStoreFlushMagic) {
    return Lose(out, 0, all, o::kMagic, "bad magic (format 1: every rule is unknown)");
  }
  uint32_t n = GetU32(buf.data() + o::kPartitions);
  if (n != partitions || buf.size() != StoreFlushV1Size(n)) {
    return Lose(out, 0, all, o::kPartitions,
                "format 1 marker of " + std::to_string(n) + " partitions and " +
                    std::to_string(buf.size()) + " bytes; the store has " +
                    std::to_string(partitions) + " partitions (every rule is unknown)");
  }
  size_t crc_at = o::kV1Rules + o::kV1RuleSize * n;
  if (GetU32(buf.data() + crc_at) != Crc32c(buf.data(), crc_at)) {
    return Lose(out, 0, all, crc_at,
                "checksum mismatch (format 1 has one checksum for every rule: every rule "
                "is unknown)");
  }
  const char* p = buf.data() + o::kV1Rules;
  for (FlushRule& r : out->rules) {
    r.flush_version = GetU64(p + o::kV1RuleVersion);
    r.flush_time = GetU32(p + o::kV1RuleTime);
    r.flushed_before = GetU32(p + o::kV1RuleBefore);
    p += o::kV1RuleSize;
  }
  out->readable.assign(partitions, true);
}

// Format 2: the header, then each rule on its own.
void DecodeV2(std::string_view buf, uint32_t partitions, StoreFlushContents* out) {
  const uint32_t all = partitions - 1;  // first > last when there are none
  const bool header_ok = buf.size() >= kStoreFlushHeaderSize &&
                         GetU32(buf.data() + o::kHeaderCrc) == Crc32c(buf.data(), o::kHeaderCrc) &&
                         GetU64(buf.data() + o::kMagic) == kStoreFlushMagic;
  if (header_ok) {
    out->format_version = GetU32(buf.data() + o::kFormatVersion);
    uint32_t n = GetU32(buf.data() + o::kPartitions);
    if (out->format_version != kStoreFlushFormatVersion) {
      return Lose(out, 0, all, o::kFormatVersion,
                  "unsupported format version " + std::to_string(out->format_version) +
                      ": every rule is unknown");
    }
    if (n != partitions) {
      return Lose(out, 0, all, o::kPartitions,
                  "the marker names " + std::to_string(n) + " partitions, the store has " +
                      std::to_string(partitions) + ": every rule is unknown");
    }
  } else {
    Note(out, 0,
         buf.size() < kStoreFlushHeaderSize
             ? "header cut short (" + std::to_string(buf.size()) + " bytes)"
             : "header fails its checksum (the rules are checked on their own)");
  }
  // The rules check themselves; the partition count is the store's.
  for (uint32_t p = 0; p < partitions; p++) {
    const size_t at = StoreFlushRuleOffset(p);
    if (at + kFlushRuleSize > buf.size()) {
      return Lose(out, p, all, at,
                  "cut short: the file ends at " + std::to_string(buf.size()) +
                      ", before the end of this rule");
    }
    const char* r = buf.data() + at;
    if (GetU32(r + o::kRuleCrc) != Crc32c(r, o::kRuleCrc)) {
      Lose(out, p, p, at, "rule fails its checksum");
    } else if (uint32_t named = GetU32(r + o::kRulePartition); named != p) {
      Lose(out, p, p, at, "rule of partition " + std::to_string(named) + " in the wrong place");
    } else {
      out->rules[p] = FlushRule{GetU64(r + o::kRuleVersion), GetU32(r + o::kRuleTime),
                                GetU32(r + o::kRuleBefore)};
      out->readable[p] = true;
    }
  }
  if (buf.size() > StoreFlushSize(partitions)) {
    Note(out, StoreFlushSize(partitions),
         std::to_string(buf.size() - StoreFlushSize(partitions)) + " bytes past the last rule");
  }
}

void Reset(uint32_t partitions, StoreFlushContents* out) {
  out->format_version = 0;
  out->rules.assign(partitions, FlushRule{});
  out->readable.assign(partitions, false);
  out->problems.clear();
}

}  // namespace

std::string EncodeStoreFlush(std::span<const FlushRule> rules) {
  std::string buf(StoreFlushSize(rules.size()), '\0');
  PutU64(buf.data() + o::kMagic, kStoreFlushMagic);
  PutU32(buf.data() + o::kFormatVersion, kStoreFlushFormatVersion);
  PutU32(buf.data() + o::kPartitions, static_cast<uint32_t>(rules.size()));
  PutU32(buf.data() + o::kHeaderCrc, Crc32c(buf.data(), o::kHeaderCrc));
  for (uint32_t i = 0; i < rules.size(); i++) {
    char* p = buf.data() + StoreFlushRuleOffset(i);
    PutU32(p + o::kRulePartition, i);
    PutU32(p + o::kRuleTime, rules[i].flush_time);
    PutU64(p + o::kRuleVersion, rules[i].flush_version);
    PutU32(p + o::kRuleBefore, rules[i].flushed_before);
    PutU32(p + o::kRuleCrc, Crc32c(p, o::kRuleCrc));
  }
  return buf;
}

Status DecodeStoreFlush(std::string_view buf, uint32_t partitions, StoreFlushContents* out) {
  Reset(partitions, out);
  const bool says_v1 = buf.size() >= o::kV1Rules &&
                       GetU32(buf.data() + o::kFormatVersion) == kStoreFlushFormatVersion1;
  if (says_v1 && buf.size() == StoreFlushV1Size(partitions)) {
    out->format_version = kStoreFlushFormatVersion1;
    DecodeV1(buf, partitions, out);
  } else {
    // Format 2, or a damaged header (a version field that reads 1 included).
    DecodeV2(buf, partitions, out);
    const bool none =
        std::find(out->readable.begin(), out->readable.end(), true) == out->readable.end();
    if (none && (says_v1 || buf.size() == StoreFlushV1Size(partitions))) {
      // No rule of format 2: a damaged format 1 marker (its size or version field).
      Reset(partitions, out);
      out->format_version = kStoreFlushFormatVersion1;
      DecodeV1(buf, partitions, out);
    }
  }
  if (out->problems.empty()) return Status::OK();
  const StoreFlushProblem& first = out->problems.front();
  return Status::Corruption("FLUSH_ALL: offset " + std::to_string(first.offset) + ": " +
                            first.what);
}

}  // namespace bale::format
