#include "cluster/cluster_map.h"

#include <gtest/gtest.h>

#include <string>

namespace bale {
namespace {

// Data directories on disk were laid out with HashKey(key) % P: the map must agree.
TEST(ClusterMapTest, PartitionIsTheHashModuloTheCount) {
  for (uint32_t count : {1u, 2u, 7u, 64u, 1000u, 65536u}) {
    ClusterMap m = ClusterMap::AllLocal(count);
    for (int i = 0; i < 20000; i++) {
      std::string key = "key:" + std::to_string(i * 7919);
      uint64_t h = HashKey(key);
      ASSERT_EQ(m.PartitionOf(key), static_cast<uint32_t>(h % count)) << key;
      ASSERT_EQ(m.PartitionOfHash(h), m.PartitionOf(key));
    }
  }
}

TEST(ClusterMapTest, AllLocalHoldsEveryPartition) {
  ClusterMap m = ClusterMap::AllLocal(64);
  EXPECT_EQ(m.partition_count(), 64u);
  EXPECT_EQ(m.epoch(), 0u);
  EXPECT_TRUE(m.holds_all());
  ASSERT_EQ(m.held().size(), 64u);
  for (uint32_t p = 0; p < 64; p++) {
    EXPECT_TRUE(m.Holds(p));
    EXPECT_EQ(m.held()[p], p);
  }
  EXPECT_FALSE(m.Holds(64));
}

TEST(ClusterMapTest, HoldingASubset) {
  ClusterMap m;
  ASSERT_TRUE(ClusterMap::Holding(64, {17, 3, 17}, 5, &m).ok());
  EXPECT_EQ(m.held(), (std::vector<uint32_t>{3, 17}));
  EXPECT_EQ(m.epoch(), 5u);
  EXPECT_FALSE(m.holds_all());
  for (uint32_t p = 0; p < 70; p++) EXPECT_EQ(m.Holds(p), p == 3 || p == 17) << p;
  // The mapping does not depend on what is held.
  EXPECT_EQ(m.PartitionOf("abc"), ClusterMap::AllLocal(64).PartitionOf("abc"));
}

TEST(ClusterMapTest, HoldingRejectsBadInput) {
  ClusterMap m;
  EXPECT_TRUE(ClusterMap::Holding(0, {}, 0, &m).IsInvalidArgument());
  EXPECT_TRUE(ClusterMap::Holding(65537, {}, 0, &m).IsInvalidArgument());
  EXPECT_TRUE(ClusterMap::Holding(8, {8}, 0, &m).IsInvalidArgument());
  EXPECT_TRUE(ClusterMap::Holding(8, {}, 0, &m).ok());
  EXPECT_TRUE(m.held().empty());
  EXPECT_FALSE(m.Holds(0));
}

}  // namespace
}  // namespace bale
