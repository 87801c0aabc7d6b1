// ServerStats: memcached's counters, one block per event-loop thread so the hot path
// writes without locks or shared cache lines; `stats` sums the blocks.
#pragma once

#include <atomic>
#include <cstdint>

namespace bale {

struct ThreadStats {
#define BALE_THREAD_STATS(X)                                                                       \
  X(cmd_get)                                                                                       \
  X(cmd_set)                                                                                       \
  X(cmd_flush) X(cmd_touch) X(cmd_meta) X(get_hits) X(get_misses) X(get_expired) X(delete_hits)    \
      X(delete_misses) X(incr_hits) X(incr_misses) X(decr_hits) X(decr_misses) X(cas_hits)         \
          X(cas_misses) X(cas_badval) X(touch_hits) X(touch_misses) X(bytes_read) X(bytes_written) \
              X(total_items) X(server_errors) X(client_errors) X(corrupt_reads)                    \
                  X(total_connections) X(rejected_connections) X(idle_kicks)
#define BALE_DECLARE(name) std::atomic<uint64_t> name{0};
  BALE_THREAD_STATS(BALE_DECLARE)
#undef BALE_DECLARE
  std::atomic<int64_t> curr_connections{0};

  // Only the owning thread writes: a relaxed load and store is enough.
  static void Add(std::atomic<uint64_t>& c, uint64_t n = 1) {
    c.store(c.load(std::memory_order_relaxed) + n, std::memory_order_relaxed);
  }
};

}  // namespace bale
