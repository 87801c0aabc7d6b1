#include "cluster/map_codec.h"

#include <gtest/gtest.h>

namespace bale {
namespace {

ClusterMap Sample(std::string_view self) {
  std::vector<ClusterNode> nodes(2);
  nodes[0] = {"s1", "127.0.0.1", 7001, "a", true};
  nodes[1] = {"s2", "::1", 7002, "", false};
  ClusterMap m;
  EXPECT_TRUE(ClusterMap::Assigned(4, 9, nodes, {0, 1, ClusterMap::kNoOwner, 0}, self, &m).ok());
  return m;
}

TEST(MapCodec, RoundTripKeepsNodesOwnersAndEpochSeenFromAnyNode) {
  std::string text = EncodeMap(Sample(""));
  ClusterMap m;
  ASSERT_TRUE(DecodeMap(text, "s1", &m).ok());
  EXPECT_EQ(m.epoch(), 9u);
  EXPECT_EQ(m.partition_count(), 4u);
  EXPECT_EQ(m.nodes(), Sample("").nodes());
  EXPECT_EQ(m.held(), (std::vector<uint32_t>{0, 3}));
  EXPECT_EQ(m.OwnerOf(1)->id, "s2");
  EXPECT_EQ(m.OwnerOf(2), nullptr);
  ASSERT_TRUE(DecodeMap(text, "", &m).ok());
  EXPECT_TRUE(m.held().empty());
  EXPECT_EQ(EncodeMap(m), text);
}

TEST(MapCodec, BadTextIsCorruptionNeverAThrow) {
  ClusterMap m;
  for (std::string_view bad :
       {"", "{", "[]", "null", R"({"epoch":1})",
        R"({"epoch":1,"partitions":2,"nodes":[],"owners":[0,0]})",
        R"({"epoch":1,"partitions":2,"nodes":[],"owners":[-1]})",
        R"({"epoch":1,"partitions":0,"nodes":[],"owners":[]})",
        R"({"epoch":"x","partitions":1,"nodes":[],"owners":[-1]})",
        R"({"epoch":1,"partitions":1,"nodes":[{"id":"a","host":"h","port":0}],"owners":[0]})",
        R"({"epoch":1,"partitions":1,"nodes":[{"id":"a","host":"h","port":1},)"
        R"({"id":"a","host":"h","port":2}],"owners":[0]})"}) {
    Status s = DecodeMap(bad, "", &m);
    EXPECT_TRUE(s.IsCorruption()) << bad << ": " << s.ToString();
  }
}

TEST(MapCodec, NodeRegistrationRoundTrip) {
  ClusterNode n{"s9", "127.0.0.1", 7009, "z", true};
  ClusterNode back;
  ASSERT_TRUE(DecodeNode(EncodeNode(n), &back).ok());
  EXPECT_EQ(back, n);
  EXPECT_TRUE(DecodeNode("{\"id\":\"\",\"host\":\"h\",\"port\":1}", &back).IsCorruption());
  EXPECT_TRUE(DecodeNode("nope", &back).IsCorruption());
}

}  // namespace
}  // namespace bale
