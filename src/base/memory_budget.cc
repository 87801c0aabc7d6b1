#include "base/memory_budget.h"

namespace bale {

bool MemoryBudget::TryReserve(uint64_t n, uint64_t held) {
  uint64_t used = used_.load(std::memory_order_relaxed);
  do {
    bool fits = n <= limit_ && used <= limit_ - n;
    // Alone: everything reserved is the caller's own (used can pass the limit only so).
    if (!fits && used != held) return false;
  } while (!used_.compare_exchange_weak(used, used + n, std::memory_order_acq_rel,
                                        std::memory_order_relaxed));
  return true;
}

MemoryBudget::Reservation& MemoryBudget::Reservation::operator=(Reservation&& other) noexcept {
  if (this != &other) {
    Reset();
    budget_ = other.budget_;
    bytes_ = other.bytes_;
    other.bytes_ = 0;
  }
  return *this;
}

bool MemoryBudget::Reservation::GrowTo(uint64_t total) {
  if (total <= bytes_) return true;
  if (budget_ != nullptr && !budget_->TryReserve(total - bytes_, bytes_)) return false;
  bytes_ = total;
  return true;
}

void MemoryBudget::Reservation::Reset() {
  if (budget_ != nullptr && bytes_ > 0) budget_->Release(bytes_);
  bytes_ = 0;
}

}  // namespace bale
