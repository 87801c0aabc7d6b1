// MemcacheCommands::Stats: memcached's `stats`, `stats settings` and `stats reset`, plus
// bale's own figures (bale_*).
#include <sys/resource.h>
#include <unistd.h>

#include <ctime>

#include "frontend/memcache_commands.h"
#include "frontend/store_figures.h"

namespace bale {
namespace {

void Stat(std::string* out, std::string_view name, std::string_view value) {
  out->append("STAT ");
  out->append(name);
  out->push_back(' ');
  out->append(value);
  out->append("\r\n");
}

void Stat(std::string* out, std::string_view name, uint64_t value) {
  Stat(out, name, std::to_string(value));
}

std::string Seconds(const struct timeval& tv) {
  char buf[48];
  std::snprintf(buf, sizeof(buf), "%ld.%06ld", static_cast<long>(tv.tv_sec),
                static_cast<long>(tv.tv_usec));
  return buf;
}

}  // namespace

void MemcacheCommands::Stats(const proto::Request& req, std::string* out) {
  if (req.args == "reset") {
    stats_source_->Reset();
    out->append("RESET\r\n");
    return;
  }
  if (req.args == "settings") {
    const MemcacheSettings& s = *settings_;
    Stat(out, "maxconns", s.max_connections);
    Stat(out, "tcpport", s.port);
    Stat(out, "udpport", uint64_t{0});
    Stat(out, "num_threads", static_cast<uint64_t>(s.threads));
    Stat(out, "item_size_max", s.max_item_size);
    Stat(out, "evictions", "off");
    Stat(out, "flush_enabled", s.disable_flush_all ? "no" : "yes");
    Stat(out, "idle_timeout", s.idle_timeout_s);
    Stat(out, "cas_enabled", "yes");
    Stat(out, "bale_data_dir", s.data_dir);
    Stat(out, "bale_durability", store_->durability_name());
    Stat(out, "bale_partitions", store_->partitions());
    Stat(out, "bale_io_uring", s.io_uring ? "yes" : "no");
    out->append("END\r\n");
    return;
  }
  if (!req.args.empty()) {
    out->append("ERROR\r\n");
    return;
  }
  ThreadStats t;
  stats_source_->Sum(&t);
  ObjectStats ss = store_->Stats();
  struct rusage ru;
  ::getrusage(RUSAGE_SELF, &ru);
  Stat(out, "pid", static_cast<uint64_t>(::getpid()));
  Stat(out, "uptime", stats_source_->uptime_s());
  Stat(out, "time", static_cast<uint64_t>(::time(nullptr)));
  Stat(out, "version", kVersion);
  Stat(out, "pointer_size", uint64_t{8 * sizeof(void*)});
  Stat(out, "rusage_user", Seconds(ru.ru_utime));
  Stat(out, "rusage_system", Seconds(ru.ru_stime));
  Stat(out, "max_connections", settings_->max_connections);
  Stat(out, "curr_connections", static_cast<uint64_t>(t.curr_connections.load()));
  Stat(out, "total_connections", t.total_connections.load());
  Stat(out, "rejected_connections", t.rejected_connections.load());
  Stat(out, "connection_structures", static_cast<uint64_t>(t.curr_connections.load()));
#define BALE_STAT(name) Stat(out, #name, t.name.load())
  BALE_STAT(cmd_get);
  BALE_STAT(cmd_set);
  BALE_STAT(cmd_flush);
  BALE_STAT(cmd_touch);
  BALE_STAT(cmd_meta);
  BALE_STAT(get_hits);
  BALE_STAT(get_misses);
  BALE_STAT(get_expired);
  Stat(out, "get_flushed", uint64_t{0});
  BALE_STAT(delete_misses);
  BALE_STAT(delete_hits);
  BALE_STAT(incr_misses);
  BALE_STAT(incr_hits);
  BALE_STAT(decr_misses);
  BALE_STAT(decr_hits);
  BALE_STAT(cas_misses);
  BALE_STAT(cas_hits);
  BALE_STAT(cas_badval);
  BALE_STAT(touch_hits);
  BALE_STAT(touch_misses);
  Stat(out, "auth_cmds", uint64_t{0});
  Stat(out, "auth_errors", uint64_t{0});
  BALE_STAT(bytes_read);
  BALE_STAT(bytes_written);
  Stat(out, "limit_maxbytes", ss.disk_bytes);
  Stat(out, "threads", static_cast<uint64_t>(settings_->threads));
  BALE_STAT(idle_kicks);
  Stat(out, "curr_items", ss.objects);
  BALE_STAT(total_items);
  Stat(out, "bytes", ss.disk_bytes);
  Stat(out, "evictions", uint64_t{0});
  Stat(out, "reclaimed", uint64_t{0});
  // bale's own figures.
  for (const StoreFigure& f : kStoreFigures) {
    if (f.stat.empty()) continue;
    if (f.value == nullptr) {
      Stat(out, f.stat, store_->durability_name());
    } else {
      Stat(out, f.stat, f.value(ss));
    }
  }
  BALE_STAT(corrupt_reads);
  Stat(out, "bale_http_body_bytes", stats_source_->http_body_bytes());
  Stat(out, "bale_http_body_budget_refusals", t.http_body_budget_refusals.load());
  BALE_STAT(server_errors);
  BALE_STAT(client_errors);
#undef BALE_STAT
  out->append("END\r\n");
}

}  // namespace bale
