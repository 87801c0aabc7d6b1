// Compactor: reclaims the space of dead needles by itself (DESIGN.md §8).
//
// Contract: background threads (policy.threads, each with its own share of the volumes:
// compactions wait mostly on fdatasync, so several overlap even on few cores) look at
// their volumes' segments each poll_ms and compact (Volume::Compact) each whose dead bytes reach
// both min_dead_bytes and min_dead_ratio of its size, the head included; Volume's own throttle
// (VolumeOptions::compaction_bytes_per_s) paces each copy. Request() asks for a pass over every
// segment with any dead bytes at all, at once (the admin endpoint); it returns without waiting.
// Progress and totals are in totals(); a line goes to the log for each compaction of a large
// segment and a summary every summary_s while work is done. A failed compaction is logged and
// retried at a later pass; the volume keeps serving (Compact leaves the old segment authoritative
// until its commit point).
//
// The same thread keeps restarts short: it checkpoints the volumes with the longest
// tails whenever their sum passes tail_budget_bytes, so that a restart after kill -9
// scans at most about that much, whatever the number of partitions.
//
// The decision (which segment, now) is taken here and carried out by Volume::Compact,
// whose result depends only on the segment's bytes, the index and the clock it is given:
// a primary can later send the decision to its replicas, which hold the same needles.
#pragma once

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <mutex>
#include <set>
#include <string>
#include <thread>
#include <tuple>
#include <vector>

#include "store/volume.h"

namespace bale {

struct CompactionPolicy {
  bool automatic = true;
  double min_dead_ratio = 0.5;
  uint64_t min_dead_bytes = 256 << 10;
  uint32_t poll_ms = 100;
  size_t threads = 4;
  uint32_t summary_s = 10;
  uint64_t log_above_bytes = 64 << 20;  // segments this large get their own log lines
  uint32_t progress_s = 5;              // ... and one with their progress this often
  // Restart time: when the bytes a restart would scan beyond the checkpoints, summed over
  // the volumes, pass this, the volumes with the most are checkpointed (0: never here).
  uint64_t tail_budget_bytes = 256 << 20;
};

struct CompactorTotals {
  uint64_t compactions = 0;
  uint64_t failures = 0;
  uint64_t reclaimed_bytes = 0;
  uint64_t requests = 0;     // on-demand passes asked for
  uint64_t checkpoints = 0;  // written to keep the restart tail under its budget
  bool running = false;      // a compaction is in progress
  bool request_pending = false;
};

class Compactor {
 public:
  using Log = std::function<void(const std::string&)>;
  Compactor(std::vector<Volume*> volumes, const CompactionPolicy& policy, Log log);
  ~Compactor();

  // Called at each poll; while it returns true (a full disk) every poll makes a pass
  // over every segment with dead bytes. Set before Start.
  void SetFullDiskCheck(std::function<bool()> check) { full_check_ = std::move(check); }
  void Start();  // the background thread (automatic passes and requests)
  void Stop();
  // Asks for a pass over every segment with dead bytes, soon; false if stopped.
  bool Request();
  // Runs that pass on the caller's thread (tests, and bale without the thread).
  void CompactAllNow();
  CompactorTotals totals() const;

 private:
  void Run(size_t worker);
  // One pass over the worker's volumes (every volume when `all`): compacts what is due
  // (everything with dead bytes when `all`).
  void Pass(bool all, size_t worker);
  void Summarize();  // the periodic log line (worker 0)
  void KeepTailsShort();
  bool Due(const SegmentInfo& s, bool all) const;

  std::vector<Volume*> volumes_;
  CompactionPolicy policy_;
  std::function<bool()> full_check_;
  std::set<std::tuple<Volume*, uint64_t, uint32_t>> failed_;  // (volume, seq, generation)
  Log log_;
  mutable std::mutex mu_;
  std::condition_variable cv_;
  bool stop_ = false;
  bool requested_ = false;
  std::vector<std::thread> threads_;
  size_t workers_ = 1;
  std::atomic<uint64_t> compactions_{0}, failures_{0}, reclaimed_{0}, requests_{0}, checkpoints_{0};
  std::atomic<int> running_{0};
  // For the periodic summary line (worker 0): the totals last reported.
  uint64_t summary_compactions_ = 0, summary_reclaimed_ = 0;
  std::chrono::steady_clock::time_point summary_start_;
};

}  // namespace bale
