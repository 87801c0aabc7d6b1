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
//   built locally has epoch 0.
// - A cluster's map (ClusterMap::Assigned) also lists the nodes and each partition's
//   owner (one replica per partition today; replica sets come with replication), and
//   is seen from one node: held() is what that node owns. A router sees it from no node
//   (holds nothing). map_codec.h stores it in etcd as JSON.
// - A plain value: copyable, immutable once built, no locks, no I/O. Depends on
//   src/base only, so the store, the faces, the router and the directory can all use it.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "base/checksum.h"
#include "base/status.h"

namespace bale {

// A store node as the map knows it.
struct ClusterNode {
  std::string id;    // chosen by the node once and kept in its data directory
  std::string host;  // where its internal protocol listens
  uint16_t port = 0;
  std::string zone;  // placement puts replicas in distinct zones (empty: none given)
  bool up = true;    // false once its lease expired (its partitions stay assigned to it)

  bool operator==(const ClusterNode&) const = default;
};

class ClusterMap {
 public:
  static constexpr uint32_t kMaxPartitions = 65536;
  static constexpr uint32_t kNoOwner = UINT32_MAX;

  ClusterMap() = default;
  // Every partition of `partition_count` held here (a single-machine store).
  static ClusterMap AllLocal(uint32_t partition_count);
  // A map holding only `held` (in any order; repeats are ignored). InvalidArgument when
  // partition_count is 0 or above kMaxPartitions, or a held partition is out of range.
  static Status Holding(uint32_t partition_count, std::vector<uint32_t> held, uint64_t epoch,
                        ClusterMap* out);

  // A cluster's map: `owners[p]` is an index into `nodes` (or kNoOwner), seen from the
  // node whose id is `self` (empty: from a router, holding nothing). InvalidArgument on
  // a bad count, owners.size() != partition_count, an owner out of range or two nodes
  // with one id.
  static Status Assigned(uint32_t partition_count, uint64_t epoch, std::vector<ClusterNode> nodes,
                         std::vector<uint32_t> owners, std::string_view self, ClusterMap* out);

  uint32_t partition_count() const { return partition_count_; }
  const std::vector<ClusterNode>& nodes() const { return nodes_; }
  const std::vector<uint32_t>& owners() const { return owners_; }  // empty: not a cluster's
  // The node that owns `partition`, nullptr if none (or not a cluster's map).
  const ClusterNode* OwnerOf(uint32_t partition) const {
    if (partition >= owners_.size() || owners_[partition] == kNoOwner) return nullptr;
    return &nodes_[owners_[partition]];
  }
  // The index in nodes() of the node with this id, or kNoOwner.
  uint32_t NodeIndex(std::string_view id) const;
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
  std::vector<ClusterNode> nodes_;
  std::vector<uint32_t> owners_;
};

}  // namespace bale
