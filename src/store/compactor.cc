#include "store/compactor.h"

#include <chrono>
#include <cstdio>
#include <tuple>

namespace bale {

namespace {

std::string Mb(uint64_t bytes) {
  char buf[32];
  std::snprintf(buf, sizeof(buf), "%.1f MB", static_cast<double>(bytes) / 1e6);
  return buf;
}

}  // namespace

Compactor::Compactor(std::vector<Volume*> volumes, const CompactionPolicy& policy, Log log)
    : volumes_(std::move(volumes)), policy_(policy), log_(std::move(log)) {
  summary_start_ = std::chrono::steady_clock::now();
}

Compactor::~Compactor() { Stop(); }

void Compactor::Start() {
  std::lock_guard<std::mutex> l(mu_);
  if (!threads_.empty() || stop_) return;
  workers_ = std::max<size_t>(1, std::min<size_t>(policy_.threads, volumes_.size()));
  for (size_t w = 0; w < workers_; w++) threads_.emplace_back([this, w] { Run(w); });
}

void Compactor::Stop() {
  {
    std::lock_guard<std::mutex> l(mu_);
    stop_ = true;
  }
  cv_.notify_all();
  for (std::thread& t : threads_) {
    if (t.joinable()) t.join();
  }
}

bool Compactor::Request() {
  {
    std::lock_guard<std::mutex> l(mu_);
    if (stop_ || threads_.empty()) return false;
    requested_ = true;
  }
  requests_.fetch_add(1);
  cv_.notify_all();
  return true;
}

CompactorTotals Compactor::totals() const {
  CompactorTotals t;
  t.compactions = compactions_.load();
  t.failures = failures_.load();
  t.reclaimed_bytes = reclaimed_.load();
  t.requests = requests_.load();
  t.checkpoints = checkpoints_.load();
  t.running = running_.load() > 0;
  std::lock_guard<std::mutex> l(mu_);
  t.request_pending = requested_;
  return t;
}

void Compactor::Run(size_t worker) {
  std::unique_lock<std::mutex> l(mu_);
  while (!stop_) {
    cv_.wait_for(l, std::chrono::milliseconds(policy_.poll_ms),
                 [this, worker] { return stop_ || (worker == 0 && requested_); });
    if (stop_) break;
    bool all = worker == 0 && requested_;
    if (worker == 0) requested_ = false;
    l.unlock();
    // Worker 0 also takes on-demand passes and a full disk's, over every volume.
    bool full = worker == 0 && full_check_ && full_check_();
    if (all || full) {
      Pass(true, worker);
    } else if (policy_.automatic) {
      Pass(false, worker);
    }
    if (worker == 0) {
      KeepTailsShort();
      Summarize();
    }
    l.lock();
  }
}

void Compactor::CompactAllNow() { Pass(true, 0); }

void Compactor::KeepTailsShort() {
  if (policy_.tail_budget_bytes == 0) return;
  uint64_t total = 0;
  for (Volume* v : volumes_) total += v->UncheckpointedBytes();
  while (total > policy_.tail_budget_bytes) {
    Volume* longest = nullptr;
    for (Volume* v : volumes_) {
      if (longest == nullptr || v->UncheckpointedBytes() > longest->UncheckpointedBytes()) {
        longest = v;
      }
    }
    uint64_t tail = longest->UncheckpointedBytes();
    if (tail == 0 || !longest->Checkpoint().ok() || longest->UncheckpointedBytes() >= tail) {
      return;  // a full disk, a damaged volume: later
    }
    checkpoints_.fetch_add(1);
    total -= tail;
    std::lock_guard<std::mutex> l(mu_);
    if (stop_) return;
  }
}

bool Compactor::Due(const SegmentInfo& s, bool all) const {
  if (s.dead_bytes == 0 || s.damaged) return false;
  if (all) return true;
  return s.dead_bytes >= policy_.min_dead_bytes &&
         static_cast<double>(s.dead_bytes) >= policy_.min_dead_ratio * static_cast<double>(s.bytes);
}

void Compactor::Pass(bool all, size_t worker) {
  const uint64_t compactions_before = compactions_.load(), reclaimed_before = reclaimed_.load();
  for (size_t i = 0; i < volumes_.size(); i++) {
    if (!all && i % workers_ != worker) continue;  // each worker has its own volumes
    Volume* v = volumes_[i];
    for (SegmentInfo s : v->Segments()) {
      if (!s.dead_known && !s.damaged) {
        // What died before a restart: counted once, then judged like the rest.
        uint64_t seq = s.seq;
        if (!v->SurveyDead(seq).ok()) continue;
        bool found = false;
        for (const SegmentInfo& again : v->Segments()) {
          if (again.seq == seq) {
            s = again;
            found = true;
          }
        }
        if (!found) continue;
      }
      if (!Due(s, all)) continue;
      // A segment whose compaction failed waits for an on-demand pass (or a new
      // generation), so that one bad file does not fill the log every poll.
      auto failed_key = std::make_tuple(v, s.seq, s.generation);
      {
        std::lock_guard<std::mutex> l(mu_);
        if (stop_) return;
        if (!all && failed_.count(failed_key) > 0) continue;
      }
      bool loud = s.bytes >= policy_.log_above_bytes;
      std::string what = "partition " + std::to_string(v->options().partition) + " segment " +
                         std::to_string(s.seq) + (s.sealed ? "" : " (head)");
      if (loud) {
        log_("compacting " + what + ": " + Mb(s.bytes) + ", " + Mb(s.dead_bytes) + " dead");
      }
      auto start = std::chrono::steady_clock::now();
      running_.fetch_add(1);
      CompactionResult r;
      // A large segment's copy reports how far it has got, every progress_s.
      auto last = start;
      Volume::CompactionProgress progress;
      if (loud) {
        progress = [&](uint64_t scanned, uint64_t total) {
          auto now = std::chrono::steady_clock::now();
          if (now - last < std::chrono::seconds(policy_.progress_s)) return;
          last = now;
          log_("compacting " + what + ": " + Mb(scanned) + " of " + Mb(total) + " scanned");
        };
      }
      Status st = v->Compact(s.seq, &r, progress);
      running_.fetch_sub(1);
      if (!st.ok()) {
        {
          std::lock_guard<std::mutex> l(mu_);
          failed_.insert(failed_key);
        }
        failures_.fetch_add(1);
        log_("compaction of " + what + " failed: " + st.ToString());
        continue;
      }
      uint64_t freed = r.bytes_before - std::min(r.bytes_before, r.bytes_after);
      compactions_.fetch_add(1);
      reclaimed_.fetch_add(freed);
      if (loud) {
        double secs =
            std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
        char buf[64];
        std::snprintf(buf, sizeof(buf), " in %.1f s", secs);
        log_("compacted " + what + ": " + Mb(r.bytes_before) + " -> " + Mb(r.bytes_after) + buf);
      }
    }
  }
  if (all && compactions_.load() > compactions_before) {
    log_("compaction on request: " + std::to_string(compactions_.load() - compactions_before) +
         " segments compacted, " + Mb(reclaimed_.load() - reclaimed_before) + " reclaimed");
  }
}

void Compactor::Summarize() {
  auto now = std::chrono::steady_clock::now();
  uint64_t done = compactions_.load() - summary_compactions_;
  if (done == 0) {
    summary_start_ = now;
    return;
  }
  if (now - summary_start_ < std::chrono::seconds(policy_.summary_s)) return;
  uint64_t freed = reclaimed_.load() - summary_reclaimed_;
  log_("compaction: " + std::to_string(done) + " segments compacted, " + Mb(freed) +
       " reclaimed in the last " +
       std::to_string(
           std::chrono::duration_cast<std::chrono::seconds>(now - summary_start_).count()) +
       " s (" + std::to_string(compactions_.load()) + " since start)");
  summary_compactions_ += done;
  summary_reclaimed_ += freed;
  summary_start_ = now;
}

}  // namespace bale
