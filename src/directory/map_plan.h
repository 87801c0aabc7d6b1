// MapPlan: the directory's pure decisions about the cluster map, with no I/O (the
// directory's loop reads etcd, calls these, and writes the result back with a
// transaction conditioned on the map it read).
//
// Contract:
// - PlaceUnowned gives every partition without an owner to an up node, evenly: zones
//   first (each zone gets partitions in proportion to its up nodes), then the node of
//   that zone with the fewest partitions, ties by id. Owned partitions never move (moves
//   come with replication), so a node that joins late starts empty.
// - NextMap folds the registered nodes (those whose lease lives) into the current map:
//   new nodes are added, nodes without a registration are marked down (their partitions
//   stay theirs: with one replica, giving them away would serve empty data), a node's
//   address and zone follow its registration. Partitions are placed once at least
//   `initial_nodes` nodes are up. It returns whether anything changed; a changed map has
//   the next epoch.
#pragma once

#include <cstdint>
#include <vector>

#include "cluster/cluster_map.h"

namespace bale {

// The default partition count of a new cluster: the smallest power of two for which an
// even placement keeps max/mean partitions per node within 1.10 for every N <= 32
// (map_plan_test checks it; docs/cluster.md has the measurement behind it).
inline constexpr uint32_t kDefaultClusterPartitions = 256;

// `owners` has one entry per partition (kNoOwner: none); entries naming a node that is
// not up are kept. Returns the owners with every unowned partition placed (none if no
// node is up).
std::vector<uint32_t> PlaceUnowned(const std::vector<ClusterNode>& nodes,
                                   std::vector<uint32_t> owners);

struct PlanOptions {
  uint32_t initial_nodes = 1;  // place nothing until this many nodes are up
};

// The map after folding `registered` into `current` (see above). `current` may be an
// empty map of `partition_count` partitions with no nodes (a new cluster, epoch 0).
[[nodiscard]] bool NextMap(const ClusterMap& current, const std::vector<ClusterNode>& registered,
                           const PlanOptions& options, ClusterMap* next);

// An empty cluster map: `partition_count` unowned partitions, no nodes, epoch 1.
ClusterMap NewClusterMap(uint32_t partition_count);

}  // namespace bale
