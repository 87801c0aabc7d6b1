// Store flush marker: the file "FLUSH_ALL" at the top of a data directory records what
// flush_all has hidden, for every partition at once, so that one atomic replacement
// (WriteFileAtomic: temporary file, fdatasync, rename, directory fsync) makes a flush
// take effect everywhere or nowhere. It supersedes the per-partition "FLUSH" files
// (volume_meta.h) that earlier builds wrote: when FLUSH_ALL exists they are ignored.
//
//   offset  size  field
//   ------  ----  -----------------------------------------------------------
//        0     8  magic           kStoreFlushMagic ("BALFLS1" and a zero byte)
//        8     4  format_version  kStoreFlushFormatVersion
//       12     4  partitions      P, as in STORE
//       16  16*P  rules           P x FlushRule, partition 0 first:
//                   +0   8  flush_version   needles of the partition with a version at
//                                           or below it are flushed
//                   +8   4  flush_time      unix seconds; needles written (mtime) before
//                                           it are flushed once the clock reaches it;
//                                           0 = none pending
//                   +12  4  flushed_before  unix seconds; needles written before it are
//                                           flushed (an earlier flush_time, reached);
//                                           0 = none
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
inline constexpr uint32_t kStoreFlushFormatVersion = 1;
inline constexpr size_t kStoreFlushHeaderSize = 16;
inline constexpr size_t kFlushRuleSize = 16;
inline constexpr size_t kStoreFlushTrailerSize = 8;
inline constexpr char kStoreFlushFileName[] = "FLUSH_ALL";

namespace store_flush_offsets {
inline constexpr size_t kMagic = 0, kFormatVersion = 8, kPartitions = 12, kRules = 16;
inline constexpr size_t kRuleVersion = 0, kRuleTime = 8, kRuleBefore = 12;
static_assert(kRules == kStoreFlushHeaderSize);
static_assert(kRuleBefore + 4 == kFlushRuleSize);
}  // namespace store_flush_offsets

constexpr size_t StoreFlushSize(size_t partitions) {
  return kStoreFlushHeaderSize + kFlushRuleSize * partitions + kStoreFlushTrailerSize;
}
static_assert(StoreFlushSize(0) == 24);
static_assert(StoreFlushSize(64) == 1048);

// What flush_all has hidden in one partition (see the layout above).
struct FlushRule {
  uint64_t flush_version = 0;
  uint32_t flush_time = 0;
  uint32_t flushed_before = 0;
  bool operator==(const FlushRule&) const = default;
};

std::string EncodeStoreFlush(std::span<const FlushRule> rules);
// Corruption unless `buf` is a whole, intact marker for exactly `partitions` partitions.
Status DecodeStoreFlush(std::string_view buf, uint32_t partitions, std::vector<FlushRule>* rules);

}  // namespace bale::format
