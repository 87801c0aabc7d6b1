// ClusterMap: which partition a key belongs to, and which partitions this process holds.
//
// Contract:
// - A key's partition is HashKey(key) % partition_count() (base/checksum.h). The formula
//   is fixed: data directories on disk were laid out with it, so every key must keep
//   mapping to the partition it was stored in. partition_count() is fixed when a data
//   directory (or later, a cluster) is created.
// - held() lists the partitions this process serves, ascending and without repeats.
//   `bale serve` holds all of them (ClusterMap::AllLocal); a store node of a cluster
//   holds some. Holds(p) is false for a partition out of range.
// - epoch() orders maps: a newer map has a larger epoch (DESIGN.md §5, fencing). A map
//   built locally has epoch 0. Owners, replica sets and in-sync sets per partition come
//   with the directory; this type is the value they will extend.
// - A plain value: copyable, immutable once built, no locks, no I/O. Depends on
//   src/base only, so the store, the faces, the router and the directory can all use it.
#pragma once

#include <cstdint>
#include <string_view>
#include <vector>

#include "base/checksum.h"
#include "base/status.h"

namespace bale {

class ClusterMap {
 public:
  static constexpr uint32_t kMaxPartitions = 65536;

  ClusterMap() = default;
  // Every partition of `partition_count` held here (a single-machine store).
  static ClusterMap AllLocal(uint32_t partition_count);
  // A map holding only `held` (in any order; repeats are ignored). InvalidArgument when
  // partition_count is 0 or above kMaxPartitions, or a held partition is out of range.
  static Status Holding(uint32_t partition_count, std::vector<uint32_t> held, uint64_t epoch,
                        ClusterMap* out);

  uint32_t partition_count() const { return partition_count_; }
  uint64_t epoch() const { return epoch_; }
  const std::vector<uint32_t>& held() const { return held_; }
  bool holds_all() const { return held_.size() == partition_count_; }

  uint32_t PartitionOf(std::string_view key) const { return PartitionOfHash(HashKey(key)); }
  // The same, from HashKey(key) the caller already has.
  uint32_t PartitionOfHash(uint64_t key_hash) const {
    return static_cast<uint32_t>(key_hash % partition_count_);
  }
  bool Holds(uint32_t partition) const {
    return partition < holds_.size() && holds_[partition] != 0;
  }

 private:
  uint32_t partition_count_ = 0;
  uint64_t epoch_ = 0;
  std::vector<uint32_t> held_;
  std::vector<uint8_t> holds_;  // by partition: 1 if held (Holds without a search)
};

}  // namespace bale
