#include "directory/map_plan.h"

#include <algorithm>
#include <cassert>
#include <map>
#include <string>

namespace bale {

std::vector<uint32_t> PlaceUnowned(const std::vector<ClusterNode>& nodes,
                                   std::vector<uint32_t> owners) {
  std::vector<uint64_t> load(nodes.size(), 0);
  std::map<std::string, uint64_t> zone_load, zone_nodes;
  for (size_t i = 0; i < nodes.size(); i++) {
    if (nodes[i].up) zone_nodes[nodes[i].zone]++;
  }
  if (zone_nodes.empty()) return owners;
  for (uint32_t o : owners) {
    if (o == ClusterMap::kNoOwner || o >= nodes.size()) continue;
    load[o]++;
    if (nodes[o].up) zone_load[nodes[o].zone]++;
  }
  for (uint32_t& owner : owners) {
    if (owner != ClusterMap::kNoOwner && owner < nodes.size()) continue;
    // The zone whose up nodes carry the fewest partitions each (compared as fractions).
    const std::string* zone = nullptr;
    for (const auto& [z, count] : zone_nodes) {
      if (zone == nullptr || zone_load[z] * zone_nodes[*zone] < zone_load[*zone] * count) {
        zone = &z;
      }
    }
    uint32_t best = ClusterMap::kNoOwner;
    for (uint32_t i = 0; i < nodes.size(); i++) {
      if (!nodes[i].up || nodes[i].zone != *zone) continue;
      if (best == ClusterMap::kNoOwner || load[i] < load[best] ||
          (load[i] == load[best] && nodes[i].id < nodes[best].id)) {
        best = i;
      }
    }
    assert(best != ClusterMap::kNoOwner);
    owner = best;
    load[best]++;
    zone_load[*zone]++;
  }
  return owners;
}

ClusterMap NewClusterMap(uint32_t partition_count) {
  ClusterMap m;
  Status s = ClusterMap::Assigned(
      partition_count, 1, {}, std::vector<uint32_t>(partition_count, ClusterMap::kNoOwner), "", &m);
  assert(s.ok());
  (void)s;
  return m;
}

bool NextMap(const ClusterMap& current, const std::vector<ClusterNode>& registered,
             const PlanOptions& options, ClusterMap* next) {
  std::vector<ClusterNode> nodes = current.nodes();
  for (ClusterNode& n : nodes) n.up = false;
  for (const ClusterNode& r : registered) {
    auto it = std::find_if(nodes.begin(), nodes.end(),
                           [&](const ClusterNode& n) { return n.id == r.id; });
    ClusterNode up = r;
    up.up = true;
    if (it == nodes.end()) {
      nodes.push_back(std::move(up));
    } else {
      *it = std::move(up);
    }
  }
  std::vector<uint32_t> owners = current.owners();
  owners.resize(current.partition_count(), ClusterMap::kNoOwner);
  uint32_t up_nodes = 0;
  for (const ClusterNode& n : nodes) up_nodes += n.up ? 1 : 0;
  if (up_nodes >= std::max<uint32_t>(1, options.initial_nodes)) {
    owners = PlaceUnowned(nodes, std::move(owners));
  }
  if (nodes == current.nodes() && owners == current.owners()) return false;
  Status s = ClusterMap::Assigned(current.partition_count(), current.epoch() + 1, std::move(nodes),
                                  std::move(owners), "", next);
  assert(s.ok());
  (void)s;
  return true;
}

}  // namespace bale
