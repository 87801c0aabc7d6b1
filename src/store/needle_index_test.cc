#include "store/needle_index.h"

#include <gtest/gtest.h>

#include <random>
#include <set>

namespace bale {
namespace {

std::multiset<std::pair<uint32_t, uint32_t>> Candidates(const NeedleIndex& idx, uint32_t tag) {
  std::multiset<std::pair<uint32_t, uint32_t>> out;
  idx.ForEachCandidate(tag, [&](Location l) {
    out.insert({l.slot, l.offset_units});
    return false;
  });
  return out;
}

TEST(NeedleIndex, InsertReplaceErase) {
  NeedleIndex idx;
  idx.Insert(7, {0, 1});
  idx.Insert(8, {0, 2});
  EXPECT_EQ(idx.size(), 2u);
  EXPECT_TRUE(idx.Contains(7, {0, 1}));
  EXPECT_FALSE(idx.Contains(7, {0, 2}));
  EXPECT_TRUE(idx.Replace(7, {0, 1}, {1, 5}));
  EXPECT_TRUE(idx.Contains(7, {1, 5}));
  EXPECT_FALSE(idx.Replace(7, {0, 1}, {1, 6}));
  EXPECT_TRUE(idx.Erase(7, {1, 5}));
  EXPECT_FALSE(idx.Erase(7, {1, 5}));
  EXPECT_EQ(idx.size(), 1u);
}

// Many entries with one tag (forced hash collisions) all stay reachable, and erasing
// some leaves the others.
TEST(NeedleIndex, CollidingTagsAllKept) {
  NeedleIndex idx;
  for (uint32_t i = 0; i < 2000; i++) idx.Insert(0xDEADBEEF, {1, i});
  for (uint32_t i = 0; i < 2000; i++) idx.Insert(i * 2654435761u, {2, i});
  EXPECT_EQ(Candidates(idx, 0xDEADBEEF).size(), 2000u);
  for (uint32_t i = 0; i < 2000; i += 2) ASSERT_TRUE(idx.Erase(0xDEADBEEF, {1, i}));
  auto left = Candidates(idx, 0xDEADBEEF);
  EXPECT_EQ(left.size(), 1000u);
  for (uint32_t i = 1; i < 2000; i += 2) EXPECT_EQ(left.count({1, i}), 1u);
}

// Random operations against a model, across several growths. Entries to erase or move
// are picked uniformly, as hashed keys would be.
TEST(NeedleIndex, MatchesModel) {
  NeedleIndex idx;
  std::vector<std::pair<uint32_t, uint32_t>> model;  // (tag, offset_units), slot 3
  std::mt19937 rng(1);
  uint32_t next_units = 0;
  for (int step = 0; step < 300000; step++) {
    int op = rng() % 10;
    if (op < 6 || model.empty()) {
      uint32_t tag = (rng() % 50000) * 2654435761u;  // few distinct tags: many collisions
      uint32_t units = next_units++;
      idx.Insert(tag, {3, units});
      model.push_back({tag, units});
    } else {
      size_t pick = rng() % model.size();
      auto [tag, units] = model[pick];
      if (op < 8) {
        ASSERT_TRUE(idx.Erase(tag, {3, units}));
        model[pick] = model.back();
        model.pop_back();
      } else {
        uint32_t to = next_units++;
        ASSERT_TRUE(idx.Replace(tag, {3, units}, {3, to}));
        model[pick].second = to;
      }
    }
  }
  ASSERT_EQ(idx.size(), model.size());
  for (const auto& [tag, units] : model) ASSERT_TRUE(idx.Contains(tag, {3, units}));
  for (const auto& [tag, units] : model) {
    ASSERT_TRUE(idx.Erase(tag, {3, units}));
  }
  EXPECT_EQ(idx.size(), 0u);
}

TEST(NeedleIndex, StaysSmall) {
  NeedleIndex idx;
  std::mt19937 rng(2);
  const size_t n = 1000000;
  for (uint32_t i = 0; i < n; i++) idx.Insert(rng(), {0, i});
  // Load stays between 72% and 90%: at most 10 / 0.72 = 13.9 bytes per entry.
  EXPECT_LE(static_cast<double>(idx.MemoryBytes()) / n, 14.0);
  EXPECT_GE(static_cast<double>(idx.size()) / idx.capacity(), 0.7);
}

}  // namespace
}  // namespace bale
