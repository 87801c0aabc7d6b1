// ServerStats: memcached's counters, one block per event-loop thread so the hot path
// writes without locks or shared cache lines; `stats` sums the blocks.
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <string_view>

namespace bale {

// Latency histogram with Prometheus' cumulative buckets computed at export; the upper
// bounds are in seconds. Observe() is called only by the owning thread.
inline constexpr double kLatencyBounds[] = {0.00001, 0.000025, 0.00005, 0.0001, 0.00025, 0.0005,
                                            0.001,   0.0025,   0.005,   0.01,   0.025,   0.05,
                                            0.1,     0.25,     0.5,     1,      2.5,     10};
inline constexpr size_t kLatencyBuckets = sizeof(kLatencyBounds) / sizeof(double) + 1;

struct LatencyHistogram {
  std::atomic<uint64_t> buckets[kLatencyBuckets] = {};  // the last one is +Inf
  std::atomic<uint64_t> sum_ns{0};
  std::atomic<uint64_t> count{0};

  // `n` requests that each took `ns` (a pipelined batch is timed as a whole).
  void Observe(uint64_t ns, uint64_t n = 1) {
    double s = static_cast<double>(ns) * 1e-9;
    size_t b = 0;
    while (b < kLatencyBuckets - 1 && s > kLatencyBounds[b]) b++;
    Bump(buckets[b], n);
    Bump(sum_ns, ns * n);
    Bump(count, n);
  }
  static void Bump(std::atomic<uint64_t>& c, uint64_t n) {
    c.store(c.load(std::memory_order_relaxed) + n, std::memory_order_relaxed);
  }
};

// HTTP requests by route, method and status, for /metrics.
enum class HttpRoute : uint8_t {
  kObject,
  kPublic,
  kUpload,
  kBatch,
  kMetrics,
  kStatus,
  kAdmin,
  kOther
};
inline constexpr size_t kHttpRoutes = 8;
inline constexpr const char* kHttpRouteNames[kHttpRoutes] = {
    "object", "public", "upload", "batch", "metrics", "status", "admin", "other"};
inline constexpr size_t kHttpMethods = 6;
inline constexpr const char* kHttpMethodNames[kHttpMethods] = {"GET",  "HEAD",   "PUT",
                                                               "POST", "DELETE", "other"};
inline constexpr int kHttpCodes[] = {200, 201, 202, 204, 206, 304, 400, 403, 404,
                                     405, 408, 413, 416, 431, 500, 503, 507, 0};  // 0: any other
inline constexpr size_t kHttpCodeSlots = sizeof(kHttpCodes) / sizeof(int);

struct ThreadStats {
// One counter a line; clang-format would fold the list into a staircase.
// clang-format off
#define BALE_THREAD_STATS(X) \
  X(cmd_get) \
  X(cmd_set) \
  X(cmd_flush) \
  X(cmd_touch) \
  X(cmd_meta) \
  X(get_hits) \
  X(get_misses) \
  X(delete_hits) \
  X(delete_misses) \
  X(incr_hits) \
  X(incr_misses) \
  X(decr_hits) \
  X(decr_misses) \
  X(cas_hits) \
  X(cas_misses) \
  X(cas_badval) \
  X(touch_hits) \
  X(touch_misses) \
  X(bytes_read) \
  X(bytes_written) \
  X(total_items) \
  X(server_errors) \
  X(client_errors) \
  X(corrupt_reads) \
  X(total_connections) \
  X(rejected_connections) \
  X(idle_kicks) \
  X(http_body_budget_refusals)
// clang-format on
#define BALE_DECLARE(name) std::atomic<uint64_t> name{0};
  BALE_THREAD_STATS(BALE_DECLARE)
#undef BALE_DECLARE
  std::atomic<int64_t> curr_connections{0};
  std::atomic<uint64_t> http_requests[kHttpRoutes][kHttpMethods][kHttpCodeSlots] = {};
  std::atomic<uint64_t> http_bytes_read{0};
  std::atomic<uint64_t> http_bytes_written{0};
  LatencyHistogram memcached_latency;
  LatencyHistogram http_latency;
  LatencyHistogram group_commit_latency;

  // Adds this block's figures to *total (which only the caller uses).
  void AccumulateInto(ThreadStats* total) const {
    auto add = [](std::atomic<uint64_t>& to, const std::atomic<uint64_t>& from) {
      to.fetch_add(from.load(std::memory_order_relaxed), std::memory_order_relaxed);
    };
#define BALE_SUM(name) add(total->name, name);
    BALE_THREAD_STATS(BALE_SUM)
#undef BALE_SUM
    total->curr_connections.fetch_add(curr_connections.load(std::memory_order_relaxed));
    for (size_t r = 0; r < kHttpRoutes; r++) {
      for (size_t m = 0; m < kHttpMethods; m++) {
        for (size_t c = 0; c < kHttpCodeSlots; c++) {
          add(total->http_requests[r][m][c], http_requests[r][m][c]);
        }
      }
    }
    add(total->http_bytes_read, http_bytes_read);
    add(total->http_bytes_written, http_bytes_written);
    const LatencyHistogram* mine[] = {&memcached_latency, &http_latency, &group_commit_latency};
    LatencyHistogram* theirs[] = {&total->memcached_latency, &total->http_latency,
                                  &total->group_commit_latency};
    for (size_t h = 0; h < 3; h++) {
      for (size_t b = 0; b < kLatencyBuckets; b++) add(theirs[h]->buckets[b], mine[h]->buckets[b]);
      add(theirs[h]->sum_ns, mine[h]->sum_ns);
      add(theirs[h]->count, mine[h]->count);
    }
  }

  static size_t HttpMethodSlot(std::string_view method) {
    for (size_t i = 0; i + 1 < kHttpMethods; i++) {
      if (method == kHttpMethodNames[i]) return i;
    }
    return kHttpMethods - 1;
  }
  static size_t HttpCodeSlot(int code) {
    for (size_t i = 0; i + 1 < kHttpCodeSlots; i++) {
      if (kHttpCodes[i] == code) return i;
    }
    return kHttpCodeSlots - 1;
  }

  // Only the owning thread writes: a relaxed load and store is enough.
  static void Add(std::atomic<uint64_t>& c, uint64_t n = 1) {
    c.store(c.load(std::memory_order_relaxed) + n, std::memory_order_relaxed);
  }
};

}  // namespace bale
