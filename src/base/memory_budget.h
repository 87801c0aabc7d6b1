// MemoryBudget: a count of bytes that many threads draw from and give back, to bound
// what they hold in memory together (the HTTP request bodies of every event loop), and
// MemoryBudget::Reservation, the share one holder has drawn.
//
// Contract: TryReserve grants n bytes when what is reserved stays within the limit, or
// when nobody but the caller holds any (so one request larger than the whole budget is
// served alone rather than never); otherwise it grants nothing and returns false. It
// is lock-free and safe from any thread. A Reservation gives its bytes back when reset,
// assigned over, or destroyed, so a share cannot outlive its holder.
#pragma once

#include <atomic>
#include <cstdint>

namespace bale {

class MemoryBudget {
 public:
  explicit MemoryBudget(uint64_t limit) : limit_(limit) {}
  MemoryBudget(const MemoryBudget&) = delete;
  MemoryBudget& operator=(const MemoryBudget&) = delete;

  // Reserves n more bytes for a caller that holds `held` already; see the contract.
  bool TryReserve(uint64_t n, uint64_t held = 0);
  // Gives back n bytes reserved before.
  void Release(uint64_t n) { used_.fetch_sub(n, std::memory_order_acq_rel); }

  uint64_t limit() const { return limit_; }
  uint64_t used() const { return used_.load(std::memory_order_acquire); }

  class Reservation;

 private:
  const uint64_t limit_;
  std::atomic<uint64_t> used_{0};
};

// One holder's share of a budget; with no budget (nullptr) every growth is granted.
// Move-only; used by one thread at a time.
class MemoryBudget::Reservation {
 public:
  Reservation() = default;
  explicit Reservation(MemoryBudget* budget) : budget_(budget) {}
  Reservation(Reservation&& other) noexcept : budget_(other.budget_), bytes_(other.bytes_) {
    other.bytes_ = 0;
  }
  Reservation& operator=(Reservation&& other) noexcept;
  Reservation(const Reservation&) = delete;
  Reservation& operator=(const Reservation&) = delete;
  ~Reservation() { Reset(); }

  // Grows the share to `total` bytes (nothing to do if it holds that much already);
  // false if the budget refuses, the share unchanged.
  bool GrowTo(uint64_t total);
  // Gives the whole share back.
  void Reset();

  uint64_t bytes() const { return bytes_; }

 private:
  MemoryBudget* budget_ = nullptr;
  uint64_t bytes_ = 0;
};

}  // namespace bale
