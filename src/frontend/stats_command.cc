// MemcacheCommands::Stats and Slabs: memcached's `stats` and its subcommands (settings,
// reset, items, slabs, sizes, conns, detail, cachedump) and `slabs`, in memcached
// 1.6.18's line format, plus bale's own figures (bale_*). bale keeps every object in
// one class (class 1, as large as the item size limit): docs/memcached.md, "Stats",
// says what each figure means here.
#include <sys/resource.h>
#include <sys/statvfs.h>
#include <unistd.h>

#include <cstdlib>
#include <ctime>

#include "base/decimal.h"
#include "frontend/memcache_commands.h"
#include "frontend/store_figures.h"
#include "proto/memcache_parser.h"

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
  out->append("STAT ");
  out->append(name);
  out->push_back(' ');
  AppendDecimal(out, value);
  out->append("\r\n");
}

// Appends a reply (a void expression, so that a branch can `return Append(...)`).
void Append(std::string* out, std::string_view s) { out->append(s); }

std::string Seconds(const struct timeval& tv) {
  char buf[48];
  std::snprintf(buf, sizeof(buf), "%ld.%06ld", static_cast<long>(tv.tv_sec),
                static_cast<long>(tv.tv_usec));
  return buf;
}

// memcached's limit_maxbytes: what bale may fill, the size of the file system holding
// the data directory less the disk reserve (0 when it cannot be told).
uint64_t DiskCapacity(const std::string& dir, uint64_t reserve) {
  struct statvfs fs;
  if (dir.empty() || ::statvfs(dir.c_str(), &fs) != 0) return 0;
  uint64_t size = static_cast<uint64_t>(fs.f_blocks) * fs.f_frsize;
  return size > reserve ? size - reserve : 0;
}

// The whitespace-separated tokens of a stats or slabs line after the command.
struct Args {
  std::string_view tok[8];
  size_t n = 0;
  explicit Args(std::string_view s) {
    while (n < 8 && proto::NextToken(&s, &tok[n])) n++;
  }
};

// memcached's safe_strtoul/safe_strtol: the whole token a decimal number.
bool ParseLong(std::string_view s, long* out) {
  if (s.empty() || s.size() > 20) return false;
  std::string z(s);
  char* end = nullptr;
  *out = std::strtol(z.c_str(), &end, 10);
  return end != z.c_str() && *end == '\0';
}

}  // namespace

void MemcacheCommands::Stats(const proto::Request& req, std::string* out) {
  Args a(req.args);
  std::string_view sub = a.n > 0 ? a.tok[0] : std::string_view();
  if (a.n == 0) return GeneralStats(out);
  if (sub == "reset") {
    stats_source_->Reset();
    return Append(out, "RESET\r\n");
  }
  if (sub == "settings") return SettingsStats(out);
  if (sub == "items" || sub == "slabs") {
    ThreadStats t;
    stats_source_->Sum(&t);
    ObjectStats ss = store_->Stats();
    sub == "items" ? ItemStats(t, ss, out) : SlabStats(t, ss, out);
    return Append(out, "END\r\n");
  }
  // bale keeps no size histogram (memcached's is off unless -o track_sizes); memcached
  // ends sizes_enable's and sizes_disable's answers without END.
  if (sub == "sizes") {
    Stat(out, "sizes_status", "disabled");
    return Append(out, "END\r\n");
  }
  if (sub == "sizes_disable") return Stat(out, "sizes_status", "disabled");
  if (sub == "sizes_enable") {
    Stat(out, "sizes_status", "error");
    return Stat(out, "sizes_error", "not_supported");
  }
  if (sub == "extstore") return Append(out, "END\r\n");  // as memcached without -o ext_path
  if (sub == "conns") return ConnStats(out);
  if (sub == "detail") {
    std::string_view what = a.n > 1 ? a.tok[1] : std::string_view();
    if (what == "on" || what == "off") return Append(out, "OK\r\n");
    if (what == "dump") return Append(out, "END\r\n");  // no per-prefix figures kept
    return Append(out, "CLIENT_ERROR usage: stats detail on|off|dump\r\n");
  }
  if (sub == "cachedump") {
    long id = 0, limit = 0;
    if (a.n < 3) return Append(out, "CLIENT_ERROR bad command line\r\n");
    if (!ParseLong(a.tok[1], &id) || !ParseLong(a.tok[2], &limit) || id < 0 || limit < 0) {
      return Append(out, "CLIENT_ERROR bad command line format\r\n");
    }
    if (id >= kSlabClasses) return Append(out, "CLIENT_ERROR Illegal slab id\r\n");
    return Append(out, "END\r\n");  // objects are not listed by class
  }
  out->append("ERROR\r\n");
}

// `stats conns`: each memcached connection's address, the address it came in on, and
// the seconds since its last input. Its state is conn_parse_cmd for one that sent input
// within the last second (the one asking among them) and conn_read (memcached's for a
// connection awaiting a command) for the others; the listening sockets are not listed.
void MemcacheCommands::ConnStats(std::string* out) {
  time_t now = ::time(nullptr);
  std::vector<net::ConnInfo> conns = stats_source_->Connections();
  std::string name;
  for (const net::ConnInfo& c : conns) {
    auto stat = [&](std::string_view what, std::string_view value) {
      name.assign(std::to_string(c.fd)).append(":").append(what);
      Stat(out, name, value);
    };
    stat("addr", c.peer);
    stat("listen_addr", c.local);
    stat("state", now - c.last_active <= 1 ? "conn_parse_cmd" : "conn_read");
    stat("secs_since_last_cmd",
         std::to_string(c.last_active < now ? static_cast<uint64_t>(now - c.last_active) : 0));
  }
  out->append("END\r\n");
}

void MemcacheCommands::SettingsStats(std::string* out) {
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
}

// `stats items`: memcached's names for class 1, shown (as memcached shows a class) only
// while it holds objects.
void MemcacheCommands::ItemStats(const ThreadStats& t, const ObjectStats& ss, std::string* out) {
  if (ss.live_objects == 0) return;
  uint64_t now = static_cast<uint64_t>(::time(nullptr));
  uint64_t age = ss.oldest_mtime != 0 && ss.oldest_mtime < now ? now - ss.oldest_mtime : 0;
  const struct {
    std::string_view name;
    uint64_t value;
  } items[] = {
      {"number", ss.live_objects},
      {"number_hot", 0},
      {"number_warm", 0},
      {"number_cold", ss.live_objects},
      {"age_hot", 0},
      {"age_warm", 0},
      {"age", age},
      {"mem_requested", ss.live_bytes},
      {"evicted", 0},
      {"evicted_nonzero", 0},
      {"evicted_time", 0},
      {"outofmemory", 0},
      {"tailrepairs", 0},
      {"reclaimed", 0},
      {"expired_unfetched", 0},
      {"evicted_unfetched", 0},
      {"evicted_active", 0},
      {"crawler_reclaimed", 0},
      {"crawler_items_checked", 0},
      {"lrutail_reflocked", 0},
      {"moves_to_cold", 0},
      {"moves_to_warm", 0},
      {"moves_within_lru", 0},
      {"direct_reclaims", 0},
      {"hits_to_hot", 0},
      {"hits_to_warm", 0},
      {"hits_to_cold", t.get_hits.load()},
      {"hits_to_temp", 0},
  };
  std::string name;
  for (const auto& i : items) {
    name.assign("items:1:");
    name.append(i.name);
    Stat(out, name, i.value);
  }
}

// `stats slabs`: class 1 holds every object, one to a chunk as large as the item size
// limit and one chunk to a page: pages and chunks count the objects, and the memory is
// their bytes on disk. The per-class command counters are the server's.
void MemcacheCommands::SlabStats(const ThreadStats& t, const ObjectStats& ss, std::string* out) {
  if (ss.live_objects > 0) {
    const struct {
      std::string_view name;
      uint64_t value;
    } slabs[] = {
        {"chunk_size", settings_->max_item_size},
        {"chunks_per_page", 1},
        {"total_pages", ss.live_objects},
        {"total_chunks", ss.live_objects},
        {"used_chunks", ss.live_objects},
        {"free_chunks", 0},
        {"free_chunks_end", 0},
        {"get_hits", t.get_hits.load()},
        {"cmd_set", t.cmd_set.load()},
        {"delete_hits", t.delete_hits.load()},
        {"incr_hits", t.incr_hits.load()},
        {"decr_hits", t.decr_hits.load()},
        {"cas_hits", t.cas_hits.load()},
        {"cas_badval", t.cas_badval.load()},
        {"touch_hits", t.touch_hits.load()},
    };
    std::string name;
    for (const auto& s : slabs) {
      name.assign("1:");
      name.append(s.name);
      Stat(out, name, s.value);
    }
  }
  Stat(out, "active_slabs", uint64_t{ss.live_objects > 0 ? 1u : 0u});
  Stat(out, "total_malloced", ss.live_bytes);
}

// `slabs reassign <src> <dst>` and `slabs automove <0|1|2>` (`ratio <r>`), answered as
// memcached 1.6.18 answers them; there are no pages to move, and automove has nothing
// to do.
void MemcacheCommands::Slabs(const proto::Request& req, std::string* out) {
  Args a(req.args);
  bool noreply = false;  // automove's alone, as in memcached
  auto reply = [&](std::string_view s) {
    if (noreply) return;
    out->append(s);
    out->append("\r\n");
  };
  if (a.n == 3 && a.tok[0] == "reassign") {
    long src = 0, dst = 0;
    if (!ParseLong(a.tok[1], &src) || !ParseLong(a.tok[2], &dst)) {
      return reply("CLIENT_ERROR bad command line format");
    }
    // memcached's checks with its default classes (1..kLargestClass, 0 the page pool):
    // -1 (any source) finds none to give, and no class has pages to spare.
    if (src == dst) return reply("SAME src and dst class are identical");
    if (src < 0 || src > kLargestClass || dst < 0 || dst > kLargestClass) {
      return reply("BADCLASS invalid src or dst class id");
    }
    return reply("NOSPARE source class has no spare pages");
  }
  if (a.n < 2 || a.tok[0] != "automove") return reply("ERROR");
  noreply = a.tok[a.n - 1] == "noreply";
  if (a.tok[1] == "ratio") {
    std::string r(a.n > 2 ? a.tok[2] : std::string_view());
    char* end = nullptr;
    if (a.n > 2) std::strtod(r.c_str(), &end);
    if (a.n < 3 || end == r.c_str() || *end != '\0') return reply("ERROR");
    return reply("OK");
  }
  long level = 0;
  if (!ParseLong(a.tok[1], &level) || level < 0) {
    return reply("CLIENT_ERROR bad command line format");
  }
  reply(level <= 2 ? "OK" : "ERROR");
}

void MemcacheCommands::GeneralStats(std::string* out) {
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
  Stat(out, "get_expired", ss.expired_reads);
  Stat(out, "get_flushed", ss.flushed_reads);
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
  Stat(out, "limit_maxbytes", DiskCapacity(settings_->data_dir, ss.disk_reserve_bytes));
  Stat(out, "threads", static_cast<uint64_t>(settings_->threads));
  BALE_STAT(idle_kicks);
  Stat(out, "curr_items", ss.live_objects);
  BALE_STAT(total_items);
  Stat(out, "bytes", ss.live_bytes);
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
