// HttpRoutes::Metrics and StatusJson: /metrics in Prometheus' text format (every name
// prefixed bale_) and /status as JSON, plus the JSON string escaping the HTTP replies
// share.
#include <sys/statvfs.h>

#include <cstdio>
#include <nlohmann/json.hpp>  // Debian nlohmann-json3-dev: /status is not a hot path

#include "frontend/http_reply.h"
#include "frontend/store_figures.h"

namespace bale {
namespace {

class PromText {
 public:
  explicit PromText(std::string* out) : out_(out) {}

  void Family(std::string_view name, std::string_view type, std::string_view help) {
    out_->append("# HELP bale_").append(name).push_back(' ');
    out_->append(help).append("\n# TYPE bale_").append(name).push_back(' ');
    out_->append(type).push_back('\n');
  }
  void Sample(std::string_view name, std::string_view labels, uint64_t value) {
    Name(name, labels);
    out_->append(std::to_string(value)).push_back('\n');
  }
  void SampleDouble(std::string_view name, std::string_view labels, double value) {
    Name(name, labels);
    char buf[40];
    std::snprintf(buf, sizeof(buf), "%.9g", value);
    out_->append(buf).push_back('\n');
  }
  void Gauge(std::string_view name, std::string_view help, uint64_t value) {
    Family(name, "gauge", help);
    Sample(name, "", value);
  }
  void Counter(std::string_view name, std::string_view help, uint64_t value) {
    Family(name, "counter", help);
    Sample(name, "", value);
  }
  void Histogram(std::string_view name, std::string_view labels, const LatencyHistogram& h) {
    uint64_t cumulative = 0;
    std::string bucket_name = std::string(name) + "_bucket";
    for (size_t b = 0; b < kLatencyBuckets; b++) {
      cumulative += h.buckets[b].load(std::memory_order_relaxed);
      char le[48];
      if (b + 1 < kLatencyBuckets) {
        std::snprintf(le, sizeof(le), "le=\"%g\"", kLatencyBounds[b]);
      } else {
        std::snprintf(le, sizeof(le), "le=\"+Inf\"");
      }
      std::string l = labels.empty() ? std::string(le) : std::string(labels) + "," + le;
      Sample(bucket_name, l, cumulative);
    }
    SampleDouble(std::string(name) + "_sum", labels,
                 static_cast<double>(h.sum_ns.load(std::memory_order_relaxed)) * 1e-9);
    Sample(std::string(name) + "_count", labels, h.count.load(std::memory_order_relaxed));
  }

 private:
  void Name(std::string_view name, std::string_view labels) {
    out_->append("bale_").append(name);
    if (!labels.empty()) out_->append("{").append(labels).append("}");
    out_->push_back(' ');
  }
  std::string* out_;
};

std::string Labels(std::initializer_list<std::pair<std::string_view, std::string_view>> kv) {
  std::string s;
  for (const auto& [k, v] : kv) {
    if (!s.empty()) s.push_back(',');
    s.append(k).append("=\"").append(v).append("\"");
  }
  return s;
}

}  // namespace

void AppendJsonString(std::string_view s, std::string* out) {
  out->append(nlohmann::json(std::string(s))
                  .dump(-1, ' ', false, nlohmann::json::error_handler_t::replace));
}

void HttpRoutes::Metrics(Reply* r) {
  ThreadStats t;
  stats_source_->Sum(&t);
  ObjectStats ss = store_->Stats();
  std::string& o = r->scratch->text;
  o.clear();
  PromText p(&o);

  p.Family("requests_total", "counter", "Requests answered, by protocol.");
  p.Sample("requests_total", "protocol=\"memcached\"", t.memcached_latency.count.load());
  p.Sample("requests_total", "protocol=\"http\"", t.http_latency.count.load());

  p.Family("memcached_commands_total", "counter", "memcached commands by command and outcome.");
  auto mc = [&](std::string_view cmd, std::string_view outcome, const std::atomic<uint64_t>& v) {
    p.Sample("memcached_commands_total", Labels({{"command", cmd}, {"outcome", outcome}}),
             v.load());
  };
  mc("get", "hit", t.get_hits);
  mc("get", "miss", t.get_misses);
  mc("set", "all", t.cmd_set);
  mc("delete", "hit", t.delete_hits);
  mc("delete", "miss", t.delete_misses);
  mc("incr", "hit", t.incr_hits);
  mc("incr", "miss", t.incr_misses);
  mc("decr", "hit", t.decr_hits);
  mc("decr", "miss", t.decr_misses);
  mc("cas", "hit", t.cas_hits);
  mc("cas", "miss", t.cas_misses);
  mc("cas", "badval", t.cas_badval);
  mc("touch", "hit", t.touch_hits);
  mc("touch", "miss", t.touch_misses);
  mc("flush_all", "all", t.cmd_flush);
  mc("meta", "all", t.cmd_meta);

  p.Family("http_requests_total", "counter", "HTTP requests by route, method and status.");
  for (size_t route = 0; route < kHttpRoutes; route++) {
    for (size_t m = 0; m < kHttpMethods; m++) {
      for (size_t c = 0; c < kHttpCodeSlots; c++) {
        uint64_t n = t.http_requests[route][m][c].load();
        if (n == 0) continue;
        std::string code = kHttpCodes[c] == 0 ? "other" : std::to_string(kHttpCodes[c]);
        p.Sample("http_requests_total",
                 Labels({{"route", kHttpRouteNames[route]},
                         {"method", kHttpMethodNames[m]},
                         {"code", code}}),
                 n);
      }
    }
  }
  p.Family("request_duration_seconds", "histogram",
           "Time from a request's bytes being read to its reply being queued, before any "
           "group-commit wait (pipelined memcached requests are timed per batch).");
  p.Histogram("request_duration_seconds", "protocol=\"memcached\"", t.memcached_latency);
  p.Histogram("request_duration_seconds", "protocol=\"http\"", t.http_latency);
  p.Family("group_commit_duration_seconds", "histogram",
           "fdatasync rounds of --durability sync, one per event-loop round with writes.");
  p.Histogram("group_commit_duration_seconds", "", t.group_commit_latency);

  p.Family("bytes_read_total", "counter", "Bytes received from clients.");
  p.Sample("bytes_read_total", "protocol=\"memcached\"", t.bytes_read.load());
  p.Sample("bytes_read_total", "protocol=\"http\"", t.http_bytes_read.load());
  p.Family("bytes_written_total", "counter", "Bytes sent to clients.");
  p.Sample("bytes_written_total", "protocol=\"memcached\"", t.bytes_written.load());
  p.Sample("bytes_written_total", "protocol=\"http\"", t.http_bytes_written.load());

  p.Gauge("connections", "Open client connections.",
          static_cast<uint64_t>(std::max<int64_t>(0, t.curr_connections.load())));
  p.Counter("connections_total", "Connections accepted.", t.total_connections.load());
  p.Counter("connections_rejected_total", "Connections refused over --max-connections.",
            t.rejected_connections.load());
  p.Gauge("http_body_bytes",
          "Bytes of HTTP request bodies held in memory now, drawn from --http-body-budget.",
          stats_source_->http_body_bytes());
  p.Counter("http_body_budget_refusals_total",
            "HTTP requests answered 503 because --http-body-budget could not hold their body.",
            t.http_body_budget_refusals.load());
  p.Counter("server_errors_total", "Requests that failed in the store.", t.server_errors.load());
  p.Counter("corrupt_reads_total", "Reads that found a damaged record.", t.corrupt_reads.load());
  for (const StoreFigure& f : kStoreFigures) {
    if (f.metric.empty() || f.value == nullptr) continue;
    if (f.counter) {
      p.Counter(f.metric, f.help, f.value(ss));
    } else {
      p.Gauge(f.metric, f.help, f.value(ss));
    }
  }
  p.Gauge("uptime_seconds", "Seconds since the server started.", stats_source_->uptime_s());

  r->Start(200);
  r->Finish("text/plain; version=0.0.4; charset=utf-8", o);
}

void HttpRoutes::StatusJson(Reply* r) {
  ObjectStats ss = store_->Stats();
  ThreadStats t;
  stats_source_->Sum(&t);
  const MemcacheSettings& s = *settings_;
  nlohmann::json j;
  j["version"] = std::string(kServerVersion);
  j["uptime_seconds"] = stats_source_->uptime_s();
  j["config"] = {{"data_dir", s.data_dir},
                 {"memcached_port", s.port},
                 {"http_port", http_->port},
                 {"durability", std::string(store_->durability_name())},
                 {"threads", s.threads},
                 {"max_item_size", s.max_item_size},
                 {"max_connections", s.max_connections},
                 {"idle_timeout_seconds", s.idle_timeout_s},
                 {"flush_all_enabled", !s.disable_flush_all},
                 {"http_max_body", http_->max_body_bytes},
                 {"http_body_budget", http_->body_budget_bytes},
                 {"http_timeout_seconds", http_->timeout_s},
                 {"http_public_only", http_->public_only}};
  j["partitions"] = ss.partitions;
  j["objects"] = ss.objects;
  j["index_bytes"] = ss.index_bytes;
  j["durability_lag_bytes"] = ss.unsynced_bytes;
  j["connections"] = std::max<int64_t>(0, t.curr_connections.load());
  nlohmann::json disk = {{"segments", ss.segments}, {"used_bytes", ss.disk_bytes}};
  struct statvfs fs;
  if (::statvfs(s.data_dir.c_str(), &fs) == 0) {
    disk["free_bytes"] = static_cast<uint64_t>(fs.f_bavail) * fs.f_frsize;
    disk["size_bytes"] = static_cast<uint64_t>(fs.f_blocks) * fs.f_frsize;
  }
  disk["full"] = ss.disk_full;
  disk["reserve_bytes"] = ss.disk_reserve_bytes;
  j["disk"] = disk;
  j["compaction"] = {{"finished", ss.compactions},
                     {"running", ss.compaction_running},
                     {"request_pending", ss.compaction_request_pending},
                     {"failures", ss.compaction_failures},
                     {"reclaimed_bytes", ss.compaction_reclaimed},
                     {"dead_bytes", ss.dead_bytes},
                     {"scanned_bytes", ss.compaction_scanned},
                     {"total_bytes", ss.compaction_total}};
  // What the store found wrong when it opened (docs/store.md, "What damage does").
  nlohmann::json reports = nlohmann::json::array();
  std::vector<uint32_t> damaged, unavailable;
  for (const DamageReportView& d : store_->Damage()) {
    nlohmann::json partition = d.partition;  // null: a file of the whole store
    if (d.partition == DamageReportView::kStoreWide) partition = nullptr;
    reports.push_back({{"partition", partition},
                       {"kind", d.kind},
                       {"file", d.file},
                       {"offset", d.offset},
                       {"what", d.what}});
  }
  std::vector<PartitionHealth> health = store_->Health();
  for (uint32_t p = 0; p < health.size(); p++) {
    if (health[p].damaged) damaged.push_back(p);
    if (health[p].unavailable) unavailable.push_back(p);
  }
  j["damage"] = {{"damaged_partitions", damaged},
                 {"unavailable_partitions", unavailable},
                 {"corrupt_records", ss.corrupt_records},
                 {"truncated_bytes", ss.truncated_bytes},
                 {"damaged_segments", ss.damaged_segments},
                 {"unreadable_segments", ss.unreadable_segments},
                 {"missing_segments", ss.missing_segments},
                 {"flush_all_damaged", ss.flush_all_damaged},
                 {"reports", reports}};
  std::string& body = r->scratch->text;
  body = j.dump(2, ' ', false, nlohmann::json::error_handler_t::replace);
  body.push_back('\n');
  r->Start(200);
  r->Finish("application/json", body);
}

// POST /admin/compact: a pass over every segment with dead bytes, by the store's
// compactor thread; answered at once (202), progress in /status and /metrics.
void HttpRoutes::AdminCompact(Reply* r) {
  if (!store_->RequestCompaction()) return r->Error(503, "compaction is stopped");
  ObjectStats ss = store_->Stats();
  nlohmann::json j = {{"requested", true},
                      {"dead_bytes", ss.dead_bytes},
                      {"compactions_so_far", ss.compactor_compactions},
                      {"progress", "GET /status: compaction"}};
  std::string& body = r->scratch->text;
  body = j.dump();
  body.push_back('\n');
  r->Start(202);
  r->Finish("application/json", body);
}

}  // namespace bale
