#include "directory/map_plan.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <map>

namespace bale {
namespace {

std::vector<ClusterNode> Nodes(int n, int zones = 0) {
  std::vector<ClusterNode> out;
  for (int i = 0; i < n; i++) {
    ClusterNode node;
    node.id = "s" + std::to_string(100 + i);
    node.host = "127.0.0.1";
    node.port = static_cast<uint16_t>(7000 + i);
    if (zones > 0) node.zone = "z" + std::to_string(i % zones);
    out.push_back(node);
  }
  return out;
}

std::vector<uint64_t> Loads(const std::vector<uint32_t>& owners, size_t nodes) {
  std::vector<uint64_t> load(nodes, 0);
  for (uint32_t o : owners) {
    EXPECT_NE(o, ClusterMap::kNoOwner);
    if (o < nodes) load[o]++;
  }
  return load;
}

TEST(MapPlan, DefaultPartitionsBalanceEveryClusterUpTo32NodesWithin10Percent) {
  for (int n = 1; n <= 32; n++) {
    for (int zones : {0, 2, 3}) {
      std::vector<uint32_t> owners(kDefaultClusterPartitions, ClusterMap::kNoOwner);
      std::vector<uint64_t> load = Loads(PlaceUnowned(Nodes(n, zones), owners), n);
      double mean = double(kDefaultClusterPartitions) / n;
      double max = double(*std::max_element(load.begin(), load.end()));
      EXPECT_LE(max / mean, 1.10) << n << " nodes, " << zones << " zones";
    }
  }
}

TEST(MapPlan, DefaultIsTheSmallestPowerOfTwoThatBalances) {
  auto worst = [](uint32_t p) {
    double w = 0;
    for (uint32_t n = 1; n <= 32; n++) w = std::max(w, double((p + n - 1) / n) * n / p);
    return w;
  };
  EXPECT_LE(worst(kDefaultClusterPartitions), 1.10);
  EXPECT_GT(worst(kDefaultClusterPartitions / 2), 1.10);
}

TEST(MapPlan, ZonesGetPartitionsInProportionToTheirNodes) {
  std::vector<ClusterNode> nodes = Nodes(4);
  nodes[0].zone = "a";  // one node in zone a, three in zone b
  for (int i = 1; i < 4; i++) nodes[i].zone = "b";
  std::vector<uint32_t> owners =
      PlaceUnowned(nodes, std::vector<uint32_t>(256, ClusterMap::kNoOwner));
  std::vector<uint64_t> load = Loads(owners, 4);
  for (uint64_t l : load) EXPECT_EQ(l, 64u);
}

TEST(MapPlan, OwnedPartitionsStayAndDownNodesGetNothingNew) {
  std::vector<ClusterNode> nodes = Nodes(3);
  nodes[2].up = false;
  std::vector<uint32_t> owners(12, ClusterMap::kNoOwner);
  owners[0] = 2;  // a down node keeps what it owns
  owners[1] = 0;
  owners = PlaceUnowned(nodes, owners);
  EXPECT_EQ(owners[0], 2u);
  EXPECT_EQ(owners[1], 0u);
  std::vector<uint64_t> load = Loads(owners, 3);
  EXPECT_EQ(load[2], 1u);
  EXPECT_EQ(load[0] + load[1], 11u);
  EXPECT_LE(std::max(load[0], load[1]) - std::min(load[0], load[1]), 1u);
}

TEST(MapPlan, NoNodeUpPlacesNothing) {
  std::vector<ClusterNode> nodes = Nodes(2);
  for (auto& n : nodes) n.up = false;
  std::vector<uint32_t> owners =
      PlaceUnowned(nodes, std::vector<uint32_t>(8, ClusterMap::kNoOwner));
  for (uint32_t o : owners) EXPECT_EQ(o, ClusterMap::kNoOwner);
}

TEST(MapPlan, NextMapWaitsForInitialNodesThenPlacesAndBumpsTheEpoch) {
  ClusterMap m = NewClusterMap(16);
  PlanOptions opts;
  opts.initial_nodes = 3;
  std::vector<ClusterNode> reg = Nodes(2);
  ClusterMap next;
  ASSERT_TRUE(NextMap(m, reg, opts, &next));  // two nodes join, nothing placed yet
  EXPECT_EQ(next.epoch(), 2u);
  EXPECT_EQ(next.nodes().size(), 2u);
  for (uint32_t p = 0; p < 16; p++) EXPECT_EQ(next.OwnerOf(p), nullptr);
  ClusterMap same;
  EXPECT_FALSE(NextMap(next, reg, opts, &same));  // nothing new: no new epoch

  reg = Nodes(3);
  ClusterMap placed;
  ASSERT_TRUE(NextMap(next, reg, opts, &placed));
  EXPECT_EQ(placed.epoch(), 3u);
  std::vector<uint64_t> load = Loads(placed.owners(), 3);
  for (uint64_t l : load) EXPECT_GE(l, 5u);

  // s101 loses its lease: marked down, keeps its partitions; a fourth node starts empty.
  std::vector<ClusterNode> later = {reg[0], reg[2], Nodes(4)[3]};
  ClusterMap after;
  ASSERT_TRUE(NextMap(placed, later, opts, &after));
  EXPECT_EQ(after.epoch(), 4u);
  ASSERT_EQ(after.nodes().size(), 4u);
  EXPECT_FALSE(after.nodes()[1].up);
  EXPECT_EQ(after.owners(), placed.owners());

  // It comes back on another port: the map follows its registration.
  std::vector<ClusterNode> back = later;
  back.push_back(reg[1]);
  back.back().port = 9999;
  ClusterMap again;
  ASSERT_TRUE(NextMap(after, back, opts, &again));
  EXPECT_TRUE(again.nodes()[1].up);
  EXPECT_EQ(again.nodes()[1].port, 9999);
  EXPECT_EQ(again.owners(), placed.owners());
}

}  // namespace
}  // namespace bale
