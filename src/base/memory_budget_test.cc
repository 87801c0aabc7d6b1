#include "base/memory_budget.h"

#include <gtest/gtest.h>

#include <atomic>
#include <random>
#include <thread>
#include <utility>
#include <vector>

namespace bale {
namespace {

TEST(MemoryBudget, ReservesUpToTheLimitAndRefusesPastIt) {
  MemoryBudget b(100);
  EXPECT_TRUE(b.TryReserve(60));
  EXPECT_TRUE(b.TryReserve(40));
  EXPECT_EQ(b.used(), 100u);
  EXPECT_FALSE(b.TryReserve(1));
  EXPECT_EQ(b.used(), 100u);  // a refusal takes nothing
  b.Release(40);
  EXPECT_FALSE(b.TryReserve(41));
  EXPECT_TRUE(b.TryReserve(40));
  b.Release(100);
  EXPECT_EQ(b.used(), 0u);
}

TEST(MemoryBudget, MoreThanTheLimitOnlyWhenNobodyElseHoldsAny) {
  MemoryBudget b(100);
  EXPECT_TRUE(b.TryReserve(1));
  EXPECT_FALSE(b.TryReserve(150));
  b.Release(1);
  EXPECT_TRUE(b.TryReserve(150));  // alone
  EXPECT_EQ(b.used(), 150u);
  EXPECT_FALSE(b.TryReserve(1));       // and while it is held, nobody else
  EXPECT_TRUE(b.TryReserve(10, 150));  // the holder itself may grow
  b.Release(160);
  EXPECT_EQ(b.used(), 0u);
}

TEST(MemoryBudget, LimitsNearTheTopOfTheRangeDoNotWrap) {
  MemoryBudget b(UINT64_MAX - 1);
  EXPECT_TRUE(b.TryReserve(UINT64_MAX - 10));
  EXPECT_FALSE(b.TryReserve(20));
  EXPECT_TRUE(b.TryReserve(9));
  EXPECT_FALSE(b.TryReserve(1));
  b.Release(UINT64_MAX - 1);
  EXPECT_EQ(b.used(), 0u);
}

TEST(MemoryBudgetReservation, GrowsAndGivesEverythingBackWhenDestroyed) {
  MemoryBudget b(100);
  {
    MemoryBudget::Reservation r(&b);
    EXPECT_TRUE(r.GrowTo(30));
    EXPECT_TRUE(r.GrowTo(20));  // holds 30 already
    EXPECT_EQ(r.bytes(), 30u);
    EXPECT_TRUE(r.GrowTo(70));
    EXPECT_EQ(r.bytes(), 70u);
    EXPECT_EQ(b.used(), 70u);
    MemoryBudget::Reservation other(&b);
    EXPECT_FALSE(other.GrowTo(31));
    EXPECT_EQ(other.bytes(), 0u);
    EXPECT_TRUE(other.GrowTo(30));
    EXPECT_EQ(b.used(), 100u);
    EXPECT_FALSE(r.GrowTo(71));  // refused: the share stays as it was
    EXPECT_EQ(r.bytes(), 70u);
  }
  EXPECT_EQ(b.used(), 0u);
}

TEST(MemoryBudgetReservation, AloneItGrowsPastTheLimit) {
  MemoryBudget b(100);
  MemoryBudget::Reservation r(&b);
  EXPECT_TRUE(r.GrowTo(80));
  EXPECT_TRUE(r.GrowTo(150));  // only its own bytes are reserved
  MemoryBudget::Reservation other(&b);
  EXPECT_FALSE(other.GrowTo(1));
  r.Reset();
  EXPECT_EQ(r.bytes(), 0u);
  EXPECT_EQ(b.used(), 0u);
  EXPECT_TRUE(other.GrowTo(1));
  EXPECT_FALSE(r.GrowTo(150));  // no longer alone
}

TEST(MemoryBudgetReservation, MovesCarryTheShareAndAssignmentReleasesTheOldOne) {
  MemoryBudget b(100);
  MemoryBudget::Reservation a(&b);
  ASSERT_TRUE(a.GrowTo(40));
  MemoryBudget::Reservation moved(std::move(a));
  EXPECT_EQ(moved.bytes(), 40u);
  a.Reset();  // the moved-from one holds nothing to give back
  EXPECT_EQ(b.used(), 40u);
  MemoryBudget::Reservation c(&b);
  ASSERT_TRUE(c.GrowTo(50));
  moved = std::move(c);  // 40 given back, 50 carried over
  EXPECT_EQ(moved.bytes(), 50u);
  EXPECT_EQ(b.used(), 50u);
  moved = MemoryBudget::Reservation();
  EXPECT_EQ(b.used(), 0u);
}

TEST(MemoryBudgetReservation, WithoutABudgetEverythingIsGranted) {
  MemoryBudget::Reservation r;
  EXPECT_TRUE(r.GrowTo(uint64_t{1} << 40));
  EXPECT_EQ(r.bytes(), uint64_t{1} << 40);
  r.Reset();
  EXPECT_EQ(r.bytes(), 0u);
}

// Threads drawing and giving back at once: never more than the limit out at any moment
// (every request here is within it), and nothing left over at the end.
TEST(MemoryBudget, ThreadsNeverTakeMoreThanTheLimitTogether) {
  constexpr uint64_t kLimit = 1000;
  MemoryBudget b(kLimit);
  std::atomic<uint64_t> granted{0}, refused{0};
  std::atomic<bool> over{false};
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; t++) {
    threads.emplace_back([&, t] {
      std::mt19937 rng(t);
      std::vector<MemoryBudget::Reservation> held;
      for (int i = 0; i < 20000; i++) {
        if (held.size() < 4 && rng() % 2 == 0) {
          MemoryBudget::Reservation r(&b);
          if (r.GrowTo(1 + rng() % 300)) {
            granted.fetch_add(1);
            held.push_back(std::move(r));
          } else {
            refused.fetch_add(1);
          }
        } else if (!held.empty()) {
          held.erase(held.begin() + static_cast<long>(rng() % held.size()));
        }
        if (b.used() > kLimit) over = true;
      }
    });
  }
  for (auto& th : threads) th.join();
  EXPECT_FALSE(over.load());
  EXPECT_GT(granted.load(), 0u);
  EXPECT_GT(refused.load(), 0u);  // 4 threads x up to 4 x 300 bytes: the limit was met
  EXPECT_EQ(b.used(), 0u);
}

}  // namespace
}  // namespace bale
