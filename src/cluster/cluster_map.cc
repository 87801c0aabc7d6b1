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

}  // namespace bale
