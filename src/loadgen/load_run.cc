#include "loadgen/load_run.h"

#include <algorithm>
#include <chrono>
#include <functional>
#include <map>
#include <memory>
#include <thread>
#include <vector>

#include "loadgen/connection.h"
#include "loadgen/load_report.h"
#include "loadgen/worker.h"

namespace bale::loadgen {

namespace {

using Workers = std::vector<std::unique_ptr<Worker>>;

constexpr int64_t kStartDelayNs = 20000000;  // lets the threads start before the schedule

// Runs fn on every worker, one thread each, and waits for them.
void OnThreads(const Workers& workers, const std::function<void(Worker&)>& fn) {
  std::vector<std::thread> threads;
  for (const auto& w : workers) threads.emplace_back([&fn, &w] { fn(*w); });
  for (std::thread& t : threads) t.join();
}

Timeline MakeTimeline(const LoadConfig& c, int64_t start) {
  Timeline t;
  t.start_ns = start;
  t.measure_ns = start + static_cast<int64_t>(c.warmup_s * 1e9);
  t.end_ns = t.measure_ns + static_cast<int64_t>(c.duration_s * 1e9);
  t.drain_ns = t.end_ns + static_cast<int64_t>(c.timeout_s * 1e9);
  return t;
}

// The progress lines: a second is printed once every thread has reported it (all that
// is left, once they have all finished).
class Progress {
 public:
  Progress(const Workers& workers, const Timeline& t, std::ostream& err)
      : workers_(workers), t_(t), err_(err) {}

  void Follow() {
    bool done = false;
    while (!done) {
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
      done = true;
      for (const auto& w : workers_) done = done && w->finished();
      Collect();
      Print(done);
    }
  }

 private:
  struct Second {
    Histogram latency;
    Counts counts;
    size_t reports = 0;
  };

  void Collect() {
    std::vector<SecondSample> samples;
    for (const auto& w : workers_) w->TakeSamples(&samples);
    for (SecondSample& s : samples) {
      Second& sec = seconds_[s.second];
      sec.latency.Merge(s.latency);
      sec.counts.Add(s.counts);
      ++sec.reports;
    }
  }

  void Print(bool all) {
    while (!seconds_.empty() && (all || seconds_.begin()->second.reports == workers_.size())) {
      const auto& [second, sec] = *seconds_.begin();
      const int64_t begins = t_.start_ns + second * 1000000000;
      const char* label = begins < t_.measure_ns ? "warmup" : begins >= t_.end_ns ? "drain" : "";
      const bool empty = sec.counts.gets + sec.counts.sets == 0;
      if (!(empty && begins >= t_.end_ns)) {  // an empty drain second says nothing
        err_ << ProgressLine(second, sec.latency, sec.counts, label) << std::endl;
      }
      seconds_.erase(seconds_.begin());
    }
  }

  const Workers& workers_;
  const Timeline t_;
  std::ostream& err_;
  std::map<int64_t, Second> seconds_;
};

// Resolves the servers and connects every connection; false (with a message) if one fails.
bool Connect(const LoadConfig& c, std::vector<Endpoint>* endpoints, Workers* workers,
             std::ostream& err) {
  endpoints->resize(c.servers.size());
  for (size_t i = 0; i < c.servers.size(); ++i) {
    const Status s = Resolve(c.servers[i], &(*endpoints)[i]);
    if (!s.ok()) {
      err << "bale bench load: " << s.message() << "\n";
      return false;
    }
  }
  for (int t = 0; t < c.threads; ++t) workers->push_back(std::make_unique<Worker>(c, t));
  for (int g = 0; g < c.connections; ++g) {
    (*workers)[g % c.threads]->AddConnection(&(*endpoints)[g % endpoints->size()], g);
  }
  for (const auto& w : *workers) {
    const Status s = w->ConnectAll();
    if (!s.ok()) {
      err << "bale bench load: " << s.message() << "\n";
      return false;
    }
  }
  return true;
}

void Prefill(const Workers& workers, LoadReport* report, std::ostream& err) {
  const int64_t begin = NowNs();
  OnThreads(workers, [](Worker& w) { w.Prefill(); });
  report->prefilled = true;
  report->prefill_s = (NowNs() - begin) / 1e9;
  for (const auto& w : workers) report->prefill.Add(w->prefill_counts());
  err << "prefill: " << report->config.keys << " keys in " << report->prefill_s << " s, "
      << report->prefill.stored << " stored, " << report->prefill.ErrorTotal() << " errors"
      << std::endl;
}

}  // namespace

int RunLoad(const LoadConfig& config, std::ostream& out, std::ostream& err) {
  std::vector<Endpoint> endpoints;  // the connections point into it: it outlives them
  Workers workers;
  if (!Connect(config, &endpoints, &workers, err)) return 2;
  LoadReport report;
  report.config = config;
  if (config.prefill) Prefill(workers, &report, err);

  const Timeline t = MakeTimeline(config, NowNs() + kStartDelayNs);
  std::vector<std::thread> threads;
  for (const auto& w : workers) threads.emplace_back([&w, &t] { w->Run(t); });
  Progress(workers, t, err).Follow();
  for (std::thread& th : threads) th.join();

  int64_t last_answer = t.end_ns;
  for (const auto& w : workers) {
    last_answer = std::max(last_answer, w->last_answer_ns());
    report.counts.Add(w->totals());
    report.get_latency.Merge(w->get_latency());
    report.set_latency.Merge(w->set_latency());
    report.lag.Merge(w->lag());
  }
  report.elapsed_s = (last_answer - t.measure_ns) / 1e9;
  if (config.json) {
    PrintReportJson(report, out);
  } else {
    PrintReport(report, out);
  }
  return ExitCode(report);
}

}  // namespace bale::loadgen
