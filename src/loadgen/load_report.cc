#include "loadgen/load_report.h"

#include <cstdio>
#include <nlohmann/json.hpp>

namespace bale::loadgen {

namespace {

struct Quantile {
  const char* name;
  double q;
};
constexpr Quantile kQuantiles[] = {{"p50", 0.5}, {"p90", 0.9}, {"p99", 0.99}, {"p999", 0.999}};

double Us(double ns) { return ns / 1000.0; }

std::string Fixed(double v, int decimals = 1) {
  char buf[48];
  std::snprintf(buf, sizeof(buf), "%.*f", decimals, v);
  return buf;
}

nlohmann::json LatencyJson(const Histogram& h) {
  nlohmann::json j{{"count", h.count()}, {"mean", Us(h.Mean())}, {"min", Us(h.min())}};
  for (const Quantile& q : kQuantiles) j[q.name] = Us(h.ValueAt(q.q));
  j["max"] = Us(h.max());
  return j;
}

std::string LatencyRow(std::string_view name, const Histogram& h) {
  std::string row = "  " + std::string(name);
  row.resize(10, ' ');
  char buf[128];
  std::snprintf(buf, sizeof(buf), "%10llu %9.1f", static_cast<unsigned long long>(h.count()),
                Us(h.Mean()));
  row += buf;
  for (const Quantile& q : kQuantiles) {
    std::snprintf(buf, sizeof(buf), " %9.1f", Us(h.ValueAt(q.q)));
    row += buf;
  }
  std::snprintf(buf, sizeof(buf), " %9.1f\n", Us(h.max()));
  return row + buf;
}

std::string ErrorList(const Counts& c) {
  std::string s;
  for (int k = 0; k < kErrorKinds; ++k) {
    s += s.empty() ? "" : ", ";
    s += std::string(ErrorKindName(static_cast<ErrorKind>(k))) + " " + std::to_string(c.errors[k]);
  }
  return s;
}

Histogram AllLatency(const LoadReport& r) {
  Histogram all = r.get_latency;
  all.Merge(r.set_latency);
  return all;
}

std::string Mode(const LoadConfig& c) {
  if (c.rate <= 0) return "flat out (closed loop, pipeline " + std::to_string(c.pipeline) + ")";
  return "open loop at " + Fixed(c.rate, 0) + "/s";
}

}  // namespace

void PrintReport(const LoadReport& r, std::ostream& out) {
  const LoadConfig& c = r.config;
  const Counts& n = r.counts;
  out << "bale bench load: " << ProtocolName(c.protocol) << ", " << c.servers.size()
      << " server(s), " << c.connections << " connections, " << c.threads << " thread(s), "
      << Mode(c) << ", " << Fixed(c.duration_s) << " s (warmup " << Fixed(c.warmup_s) << " s)\n";
  out << "keys " << c.keys << " (" << KeyDistName(c.key_dist) << "), values "
      << ValueSizeName(c.value_size) << " bytes, mix " << MixName(c.mix) << "\n";
  out << "requests   " << n.gets + n.sets << ", answered " << n.answered << " in "
      << Fixed(r.elapsed_s, 3) << " s: " << Fixed(n.answered / r.elapsed_s) << "/s\n";
  out << "gets       " << n.gets << ": " << n.hits << " hits (" << n.verified << " verified), "
      << n.misses << " misses\n";
  out << "sets       " << n.sets << ": " << n.stored << " stored\n";
  out << "errors     " << n.ErrorTotal() << " (" << ErrorList(n) << ")\n";
  out << "latency µs     count      mean       p50       p90       p99     p99.9       max\n";
  out << LatencyRow("all", AllLatency(r)) << LatencyRow("get", r.get_latency)
      << LatencyRow("set", r.set_latency);
  if (c.rate > 0) {
    out << "client     " << n.late_sends << " late sends (over 1 ms), lag p99 "
        << Fixed(Us(r.lag.ValueAt(0.99))) << " µs, max " << Fixed(Us(r.lag.max())) << " µs\n";
  }
  if (r.prefilled) {
    out << "prefill    " << c.keys << " keys in " << Fixed(r.prefill_s, 2)
        << " s: " << r.prefill.stored << " stored, " << r.prefill.ErrorTotal() << " errors\n";
  }
}

void PrintReportJson(const LoadReport& r, std::ostream& out) {
  const LoadConfig& c = r.config;
  const Counts& n = r.counts;
  nlohmann::json servers = nlohmann::json::array();
  for (const ServerAddress& s : c.servers) servers.push_back(s.ToString());
  nlohmann::json errors{{"total", n.ErrorTotal()}};
  for (int k = 0; k < kErrorKinds; ++k) {
    errors[std::string(ErrorKindName(static_cast<ErrorKind>(k)))] = n.errors[k];
  }
  nlohmann::json j{{"protocol", std::string(ProtocolName(c.protocol))},
                   {"servers", servers},
                   {"mode", c.rate > 0 ? "open" : "closed"},
                   {"rate", c.rate},
                   {"connections", c.connections},
                   {"threads", c.threads},
                   {"pipeline", c.pipeline},
                   {"duration_s", c.duration_s},
                   {"warmup_s", c.warmup_s},
                   {"timeout_s", c.timeout_s},
                   {"keys", c.keys},
                   {"key_dist", KeyDistName(c.key_dist)},
                   {"value_size", ValueSizeName(c.value_size)},
                   {"mix", MixName(c.mix)},
                   {"requests", n.gets + n.sets},
                   {"answered", n.answered},
                   {"elapsed_s", r.elapsed_s},
                   {"throughput", n.answered / r.elapsed_s},
                   {"gets", n.gets},
                   {"sets", n.sets},
                   {"hits", n.hits},
                   {"verified", n.verified},
                   {"misses", n.misses},
                   {"stored", n.stored},
                   {"errors", errors}};
  j["latency_us"] = {{"all", LatencyJson(AllLatency(r))},
                     {"get", LatencyJson(r.get_latency)},
                     {"set", LatencyJson(r.set_latency)}};
  j["client"] = {{"late_sends", n.late_sends},
                 {"lag_us",
                  {{"p50", Us(r.lag.ValueAt(0.5))},
                   {"p99", Us(r.lag.ValueAt(0.99))},
                   {"max", Us(r.lag.max())}}}};
  if (r.prefilled) {
    j["prefill"] = {{"keys", c.keys},
                    {"seconds", r.prefill_s},
                    {"stored", r.prefill.stored},
                    {"errors", r.prefill.ErrorTotal()}};
  }
  out << j.dump(2) << "\n";
}

int ExitCode(const LoadReport& r) {
  const bool broken = r.counts.error(ErrorKind::kVerify) > 0 ||
                      r.counts.error(ErrorKind::kProtocol) > 0 ||
                      r.prefill.error(ErrorKind::kProtocol) > 0;
  return broken ? 1 : 0;
}

std::string ProgressLine(int64_t second, const Histogram& latency, const Counts& counts,
                         std::string_view label) {
  char buf[160];
  std::snprintf(buf, sizeof(buf), "[%5llds] %8llu done/s  p99 %8.1f µs  misses %llu  errors %llu",
                static_cast<long long>(second + 1),
                static_cast<unsigned long long>(counts.answered), Us(latency.ValueAt(0.99)),
                static_cast<unsigned long long>(counts.misses),
                static_cast<unsigned long long>(counts.ErrorTotal()));
  std::string line = buf;
  if (!label.empty()) line += "  (" + std::string(label) + ")";
  return line;
}

}  // namespace bale::loadgen
