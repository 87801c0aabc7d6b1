#include "loadgen/histogram.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <vector>

#include "loadgen/rng.h"

namespace bale::loadgen {
namespace {

// The nearest-rank value of `sorted` at q, as ValueAt defines it.
uint64_t ExactAt(const std::vector<uint64_t>& sorted, double q) {
  const auto rank = std::max<size_t>(1, static_cast<size_t>(std::ceil(q * sorted.size() - 1e-9)));
  return sorted[rank - 1];
}

TEST(LoadgenHistogram, SmallValuesAreExact) {
  Histogram h;
  for (uint64_t v = 1; v <= 1000; ++v) h.Record(v);
  EXPECT_EQ(h.count(), 1000u);
  EXPECT_EQ(h.min(), 1u);
  EXPECT_EQ(h.max(), 1000u);
  EXPECT_DOUBLE_EQ(h.Mean(), 500.5);
  EXPECT_EQ(h.ValueAt(0.5), 500u);
  EXPECT_EQ(h.ValueAt(0.9), 900u);
  EXPECT_EQ(h.ValueAt(0.99), 990u);
  EXPECT_EQ(h.ValueAt(0.999), 999u);
  EXPECT_EQ(h.ValueAt(1.0), 1000u);
  EXPECT_EQ(h.ValueAt(0.0), 1u);  // at least the first value
}

TEST(LoadgenHistogram, EmptyAnswersZero) {
  Histogram h;
  EXPECT_EQ(h.count(), 0u);
  EXPECT_EQ(h.min(), 0u);
  EXPECT_EQ(h.max(), 0u);
  EXPECT_EQ(h.Mean(), 0);
  EXPECT_EQ(h.ValueAt(0.99), 0u);
}

TEST(LoadgenHistogram, OneValueIsEveryPercentile) {
  Histogram h;
  h.Record(123456789);  // not a bucket boundary: the clamp to min and max makes it exact
  for (double q : {0.0, 0.5, 0.99, 1.0}) EXPECT_EQ(h.ValueAt(q), 123456789u) << q;
}

TEST(LoadgenHistogram, LargeValuesHaveThreeSignificantDigits) {
  // Latencies from 1 µs to 60 s on a log scale, against the sorted samples.
  Rng rng(7);
  Histogram h;
  std::vector<uint64_t> values;
  for (int i = 0; i < 100000; ++i) {
    const auto v = static_cast<uint64_t>(std::exp(std::log(1e3) + rng.Unit() * std::log(6e7)));
    values.push_back(v);
    h.Record(v);
  }
  std::sort(values.begin(), values.end());
  for (double q : {0.01, 0.5, 0.9, 0.99, 0.999, 0.9999}) {
    const double exact = static_cast<double>(ExactAt(values, q));
    EXPECT_NEAR(static_cast<double>(h.ValueAt(q)), exact, exact / 1000) << q;
  }
  EXPECT_EQ(h.max(), values.back());
  EXPECT_EQ(h.min(), values.front());
}

TEST(LoadgenHistogram, BucketsCoverEveryValueWithinAThousandth) {
  size_t last = 0;
  for (uint64_t v = 1; v < Histogram::kMaxTrackable; v = v * 3 / 2 + 1) {
    const size_t i = Histogram::IndexOf(v);
    EXPECT_GE(Histogram::HighestAt(i), v);
    EXPECT_LE(Histogram::HighestAt(i) - v, v / 1024) << v;
    EXPECT_GE(i, last);
    last = i;
    // The next bucket starts right after this one ends.
    EXPECT_EQ(Histogram::IndexOf(Histogram::HighestAt(i) + 1), i + 1);
  }
  EXPECT_EQ(Histogram::HighestAt(Histogram::IndexOf(Histogram::kMaxTrackable)),
            Histogram::kMaxTrackable);
}

TEST(LoadgenHistogram, MergeEqualsRecordingEverythingInOne) {
  Rng rng(11);
  Histogram a, b, all;
  for (int i = 0; i < 50000; ++i) {
    const uint64_t v = 1000 + rng.Below(50000000);
    (i % 3 == 0 ? a : b).Record(v);
    all.Record(v);
  }
  Histogram merged;
  merged.Merge(a);
  merged.Merge(b);
  EXPECT_EQ(merged.count(), all.count());
  EXPECT_EQ(merged.min(), all.min());
  EXPECT_EQ(merged.max(), all.max());
  EXPECT_DOUBLE_EQ(merged.Mean(), all.Mean());
  for (double q : {0.0, 0.1, 0.5, 0.9, 0.99, 0.999, 1.0}) {
    EXPECT_EQ(merged.ValueAt(q), all.ValueAt(q)) << q;
  }
  Histogram empty;
  merged.Merge(empty);  // merging nothing changes nothing (min stays)
  EXPECT_EQ(merged.min(), all.min());
}

TEST(LoadgenHistogram, ValuesPastTheRangeKeepTheirMax) {
  Histogram h;
  h.Record(10);
  const uint64_t hour = 3600ULL * 1000000000ULL;
  h.Record(hour);
  EXPECT_EQ(h.max(), hour);
  EXPECT_EQ(h.ValueAt(1.0), hour);
  EXPECT_EQ(h.ValueAt(0.5), 10u);
  h.Clear();
  EXPECT_EQ(h.count(), 0u);
  EXPECT_EQ(h.ValueAt(1.0), 0u);
  h.Record(5);
  EXPECT_EQ(h.min(), 5u);
}

}  // namespace
}  // namespace bale::loadgen
