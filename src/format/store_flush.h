// Store flush marker: the file "FLUSH_ALL" at the top of a data directory records what
// flush_all has hidden, for every partition at once, so that one atomic replacement
// (WriteFileAtomic: temporary file, fdatasync, rename, directory fsync) makes a flush
// take effect everywhere or nowhere. It supersedes the per-partition "FLUSH" files
// (volume_meta.h) that earlier builds wrote: when FLUSH_ALL exists they are ignored.
//
// Format 2 (written by this build): a header and one rule record per partition, each
// with its own CRC, so that damage leaves unknown only the rules it touches. A rule
// names its partition, so a record read from the wrong place fails its check too; the
// partition count comes from STORE, so the rules can be read even when the header is
// damaged.
//
//   offset  size  field
//   ------  ----  -----------------------------------------------------------
//        0     8  magic           kStoreFlushMagic ("BALFLS1" and a zero byte)
//        8     4  format_version  kStoreFlushFormatVersion (2)
//       12     4  partitions      P, as in STORE
//       16     4  reserved        zero
//       20     4  header_crc      CRC-32C of bytes [0, 20)
//       24  24*P  rules           P x rule record, partition 0 first:
//                   +0   4  partition       the record's partition (its index)
//                   +4   4  flush_time      unix seconds; needles written (mtime) before
//                                           it are flushed once the clock reaches it;
//                                           0 = none pending
//                   +8   8  flush_version   needles of the partition with a version at
//                                           or below it are flushed
//                   +16  4  flushed_before  unix seconds; needles written before it are
//                                           flushed (an earlier flush_time, reached);
//                                           0 = none
//                   +20  4  crc             CRC-32C of the record's bytes [0, 20)
//
// Format 1 (earlier builds; read, never written): one CRC over every rule, so any
// damage leaves every partition's rule unknown.
//
//   offset  size  field
//        0     8  magic           as above
//        8     4  format_version  1
//       12     4  partitions      P
//       16  16*P  rules           P x { u64 flush_version, u32 flush_time,
//                                       u32 flushed_before }, partition 0 first
//   16+16P     4  crc             CRC-32C of bytes [0, 16 + 16P)
//   20+16P     4  reserved        zero
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "base/status.h"

namespace bale::format {

inline constexpr uint64_t kStoreFlushMagic = 0x31534C464C4142ull;  // "BALFLS1\0" on disk
inline constexpr uint32_t kStoreFlushFormatVersion = 2;
inline constexpr uint32_t kStoreFlushFormatVersion1 = 1;  // read only
inline constexpr size_t kStoreFlushHeaderSize = 24;
inline constexpr size_t kFlushRuleSize = 24;
inline constexpr char kStoreFlushFileName[] = "FLUSH_ALL";

namespace store_flush_offsets {
inline constexpr size_t kMagic = 0, kFormatVersion = 8, kPartitions = 12, kReserved = 16,
                        kHeaderCrc = 20, kRules = 24;
inline constexpr size_t kRulePartition = 0, kRuleTime = 4, kRuleVersion = 8, kRuleBefore = 16,
                        kRuleCrc = 20;
static_assert(kHeaderCrc + 4 == kRules && kRules == kStoreFlushHeaderSize);
static_assert(kRuleVersion % 8 == 0 && kRules % 8 == 0 && kFlushRuleSize % 8 == 0);
static_assert(kRuleCrc + 4 == kFlushRuleSize);
// Format 1.
inline constexpr size_t kV1Rules = 16, kV1RuleSize = 16, kV1RuleVersion = 0, kV1RuleTime = 8,
                        kV1RuleBefore = 12, kV1TrailerSize = 8;
static_assert(kV1RuleBefore + 4 == kV1RuleSize);
}  // namespace store_flush_offsets

constexpr size_t StoreFlushSize(size_t partitions) {
  return kStoreFlushHeaderSize + kFlushRuleSize * partitions;
}
constexpr size_t StoreFlushRuleOffset(uint32_t partition) {
  return kStoreFlushHeaderSize + kFlushRuleSize * partition;
}
constexpr size_t StoreFlushV1Size(size_t partitions) {
  return store_flush_offsets::kV1Rules + store_flush_offsets::kV1RuleSize * partitions +
         store_flush_offsets::kV1TrailerSize;
}
static_assert(StoreFlushSize(0) == 24);
static_assert(StoreFlushSize(64) == 1560);
static_assert(StoreFlushRuleOffset(2) == 72);
static_assert(StoreFlushV1Size(4) == 88 && StoreFlushV1Size(64) == 1048);

// What flush_all has hidden in one partition (see the layout above).
struct FlushRule {
  uint64_t flush_version = 0;
  uint32_t flush_time = 0;
  uint32_t flushed_before = 0;
  bool operator==(const FlushRule&) const = default;
};

// One check a marker failed: at `offset`, `what`; the rules of partitions first..last
// (inclusive) could not be read because of it. first > last: no rule is lost (the
// header, or bytes past the rules).
struct StoreFlushProblem {
  uint32_t first = 1;
  uint32_t last = 0;
  uint64_t offset = 0;
  std::string what;
  bool LosesRules() const { return first <= last; }
};

// What could be read of a marker.
struct StoreFlushContents {
  uint32_t format_version = 0;   // as the header says (0: it could not be read)
  std::vector<FlushRule> rules;  // one per partition; a rule that could not be read is zero
  std::vector<bool> readable;    // per partition: rules[p] is what was written
  std::vector<StoreFlushProblem> problems;  // in file order; none: the marker is intact
};

// Format 2, for rules.size() partitions.
std::string EncodeStoreFlush(std::span<const FlushRule> rules);
// Reads a marker of either format for a store of `partitions` partitions into *out:
// every rule that passes its checks, and a problem for each check that fails (adjacent
// rules failing alike are one problem). Format 2's rules are read even when its header
// is damaged; format 1's only when the whole file is intact; a header that names
// another partition count or an unknown format loses every rule. OK if the marker is
// intact; otherwise Corruption naming the first problem, with *out filled all the same.
Status DecodeStoreFlush(std::string_view buf, uint32_t partitions, StoreFlushContents* out);

}  // namespace bale::format
