#include "cluster/cluster_map.h"

#include <algorithm>
#include <string>

namespace bale {

ClusterMap ClusterMap::AllLocal(uint32_t partition_count) {
  ClusterMap m;
  m.partition_count_ = partition_count;
  m.held_.resize(partition_count);
  for (uint32_t p = 0; p < partition_count; p++) m.held_[p] = p;
  m.holds_.assign(partition_count, 1);
  return m;
}

Status ClusterMap::Holding(uint32_t partition_count, std::vector<uint32_t> held, uint64_t epoch,
                           ClusterMap* out) {
  if (partition_count == 0 || partition_count > kMaxPartitions) {
    return Status::InvalidArgument("the partition count must be 1.." +
                                   std::to_string(kMaxPartitions));
  }
  std::sort(held.begin(), held.end());
  held.erase(std::unique(held.begin(), held.end()), held.end());
  if (!held.empty() && held.back() >= partition_count) {
    return Status::InvalidArgument("partition " + std::to_string(held.back()) +
                                   " is out of range (" + std::to_string(partition_count) +
                                   " partitions)");
  }
  ClusterMap m;
  m.partition_count_ = partition_count;
  m.epoch_ = epoch;
  m.holds_.assign(partition_count, 0);
  for (uint32_t p : held) m.holds_[p] = 1;
  m.held_ = std::move(held);
  *out = std::move(m);
  return Status::OK();
}

Status ClusterMap::Assigned(uint32_t partition_count, uint64_t epoch,
                            std::vector<ClusterNode> nodes, std::vector<uint32_t> owners,
                            std::string_view self, ClusterMap* out) {
  if (owners.size() != partition_count) {
    return Status::InvalidArgument("the map names owners for " + std::to_string(owners.size()) +
                                   " partitions, not " + std::to_string(partition_count));
  }
  for (size_t i = 0; i < nodes.size(); i++) {
    for (size_t j = 0; j < i; j++) {
      if (nodes[i].id == nodes[j].id) {
        return Status::InvalidArgument("node id " + nodes[i].id + " appears twice in the map");
      }
    }
  }
  uint32_t self_index = kNoOwner;
  for (size_t i = 0; i < nodes.size(); i++) {
    if (!self.empty() && nodes[i].id == self) self_index = static_cast<uint32_t>(i);
  }
  std::vector<uint32_t> held;
  for (uint32_t p = 0; p < owners.size(); p++) {
    if (owners[p] != kNoOwner && owners[p] >= nodes.size()) {
      return Status::InvalidArgument("partition " + std::to_string(p) + " names owner " +
                                     std::to_string(owners[p]) + " of " +
                                     std::to_string(nodes.size()) + " nodes");
    }
    if (self_index != kNoOwner && owners[p] == self_index) held.push_back(p);
  }
  ClusterMap m;
  Status s = Holding(partition_count, std::move(held), epoch, &m);
  if (!s.ok()) return s;
  m.nodes_ = std::move(nodes);
  m.owners_ = std::move(owners);
  *out = std::move(m);
  return Status::OK();
}

uint32_t ClusterMap::NodeIndex(std::string_view id) const {
  for (size_t i = 0; i < nodes_.size(); i++) {
    if (nodes_[i].id == id) return static_cast<uint32_t>(i);
  }
  return kNoOwner;
}

}  // namespace bale
