#include "loadgen/histogram.h"

#include <algorithm>
#include <cmath>

namespace bale::loadgen {

namespace {
constexpr size_t kHalf = size_t{1} << (Histogram::kSubBits - 1);
}  // namespace

Histogram::Histogram() : counts_(IndexOf(kMaxTrackable) + 1, 0) {}

uint64_t Histogram::HighestAt(size_t index) {
  // Indexes below 2 * kHalf are the values themselves; above, bucket `shift` holds
  // sub-buckets kHalf..2 * kHalf - 1, each 2^shift wide.
  const size_t shift = index < 2 * kHalf ? 0 : (index >> (kSubBits - 1)) - 1;
  const uint64_t sub = index - (shift << (kSubBits - 1));
  return ((sub + 1) << shift) - 1;
}

void Histogram::Merge(const Histogram& other) {
  for (size_t i = 0; i < counts_.size(); ++i) counts_[i] += other.counts_[i];
  total_ += other.total_;
  sum_ += other.sum_;
  min_ = std::min(min_, other.min_);
  max_ = std::max(max_, other.max_);
}

void Histogram::Clear() {
  std::fill(counts_.begin(), counts_.end(), 0);
  total_ = sum_ = max_ = 0;
  min_ = UINT64_MAX;
}

uint64_t Histogram::ValueAt(double q) const {
  if (total_ == 0) return 0;
  q = std::clamp(q, 0.0, 1.0);
  // The rank of the value asked for, from 1 (nearest rank: at least the first value).
  // The factor keeps 0.99 * 100 from rounding up to rank 101's ceiling.
  const double exact = q * static_cast<double>(total_) * (1 - 1e-12);
  const auto rank = std::max<uint64_t>(1, static_cast<uint64_t>(std::ceil(exact)));
  uint64_t seen = 0;
  for (size_t i = 0; i < counts_.size(); ++i) {
    seen += counts_[i];
    if (seen < rank) continue;
    // The last bucket also holds every value past the range: its highest is max().
    return i + 1 == counts_.size() ? max_ : std::clamp(HighestAt(i), min(), max_);
  }
  return max_;
}

}  // namespace bale::loadgen
