// LoadReport: what a load run measured, and its forms: the human report, the JSON
// report (--json), the progress line of each second, and the exit code.
//
// Contract: a LoadReport holds the measured requests only (scheduled in the measured
// window, warmup excluded); throughput is the requests the servers answered divided by
// elapsed_s. Latencies are in microseconds in every form. ExitCode is 1 when a value
// failed verification or a reply broke the protocol, else 0: timeouts, refused
// connections and error replies are reported but are the server's state, not a fault
// of the run. docs/bench.md describes every field.
#pragma once

#include <cstdint>
#include <ostream>
#include <string>
#include <string_view>

#include "loadgen/histogram.h"
#include "loadgen/load_config.h"
#include "loadgen/load_counts.h"

namespace bale::loadgen {

struct LoadReport {
  LoadConfig config;
  // From the start of the measured window to its last answer, at least --duration: a
  // client that fell behind, or replies that come late, stretch it.
  double elapsed_s = 0;
  Counts counts;
  Histogram get_latency, set_latency;
  Histogram lag;  // how late each request was sent after its scheduled time
  bool prefilled = false;
  Counts prefill;
  double prefill_s = 0;
};

void PrintReport(const LoadReport& r, std::ostream& out);
void PrintReportJson(const LoadReport& r, std::ostream& out);
[[nodiscard]] int ExitCode(const LoadReport& r);

// "[   3s]  10000 done/s  p99 54.1 µs  misses 0  errors 0" and the label ("warmup").
std::string ProgressLine(int64_t second, const Histogram& latency, const Counts& counts,
                         std::string_view label);

}  // namespace bale::loadgen
