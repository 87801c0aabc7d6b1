// What both faces (memcached, HTTP) share besides the ObjectStore: the server's
// memcached-side settings, the server-wide figures `stats` and /metrics report
// (StatsSource), a request's outcome for its connection, and the size from which a
// value leaves by sendfile instead of a copy.
//
// Contract: plain declarations; includes only std, net/ and frontend/server_stats.h.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "frontend/server_stats.h"
#include "net/file_send.h"
#include "net/service.h"

namespace bale {

using net::FileSend;
// Values from this size go out by sendfile from their segment, not copied into the reply.
inline constexpr size_t kSendfileBytes = 64 << 10;

struct MemcacheSettings {
  uint32_t max_item_size = 1024 * 1024;
  bool disable_flush_all = false;
  uint32_t max_connections = 1024;
  uint16_t port = 11211;
  int threads = 2;
  uint32_t idle_timeout_s = 0;
  std::string data_dir;
  bool io_uring = false;  // socket I/O batched through io_uring (net/io_batch.h)
};

// The server-wide view that `stats` reports.
class StatsSource {
 public:
  virtual ~StatsSource() = default;
  virtual void Sum(ThreadStats* total) const = 0;
  virtual void Reset() = 0;
  virtual uint64_t uptime_s() const = 0;
  // Bytes of HTTP request bodies held now, drawn from --http-body-budget.
  virtual uint64_t http_body_bytes() const = 0;
  // The memcached connections open now (`stats conns`); none when it cannot be told.
  virtual std::vector<net::ConnInfo> Connections() const { return {}; }
};

enum class Outcome { kContinue, kClose };

// The version both faces report (memcached's `version`, /status): memcached's, then
// bale's.
inline constexpr std::string_view kServerVersion = "1.6.18-bale-0.1.0";

}  // namespace bale
