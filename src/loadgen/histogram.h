// Histogram: latencies in nanoseconds, counted in HdrHistogram's log-linear buckets.
//
// Contract: Record never allocates and keeps no samples; values below 2048 ns are
// counted exactly, larger ones with a relative error under 1/1024 (three significant
// digits), up to kMaxTrackable (about 36 minutes; larger values count as that, while
// max() keeps the true largest). ValueAt(q) answers the smallest recorded bucket's
// highest value below which a fraction q of the values lie (HdrHistogram's
// getValueAtPercentile), clamped to [min(), max()]. Merge adds another histogram, so
// threads each keep their own and a report adds them up. 256 KiB each.
#pragma once

#include <cstddef>
#include <cstdint>
#include <vector>

namespace bale::loadgen {

class Histogram {
 public:
  static constexpr int kSubBits = 11;  // 2048 sub-buckets: three significant digits
  static constexpr uint64_t kMaxTrackable = (uint64_t{1} << 41) - 1;

  Histogram();

  void Record(uint64_t value_ns) {
    const uint64_t v = value_ns > kMaxTrackable ? kMaxTrackable : value_ns;
    ++counts_[IndexOf(v)];
    ++total_;
    sum_ += value_ns;
    if (value_ns < min_) min_ = value_ns;
    if (value_ns > max_) max_ = value_ns;
  }
  void Merge(const Histogram& other);
  void Clear();

  uint64_t count() const { return total_; }
  uint64_t min() const { return total_ == 0 ? 0 : min_; }
  uint64_t max() const { return max_; }
  double Mean() const { return total_ == 0 ? 0 : static_cast<double>(sum_) / total_; }
  // q in [0, 1]: 0.5 is the median, 0.999 p99.9. 0 when empty.
  uint64_t ValueAt(double q) const;

  // The bucket layout, for tests: a value's index and the highest value of an index.
  static size_t IndexOf(uint64_t v) {
    const int bit = 63 - __builtin_clzll(v | 1);
    const int shift = bit < kSubBits ? 0 : bit - (kSubBits - 1);
    return (static_cast<size_t>(shift) << (kSubBits - 1)) + static_cast<size_t>(v >> shift);
  }
  static uint64_t HighestAt(size_t index);

 private:
  std::vector<uint64_t> counts_;
  uint64_t total_ = 0;
  uint64_t sum_ = 0;
  uint64_t min_ = UINT64_MAX;
  uint64_t max_ = 0;
};

}  // namespace bale::loadgen
