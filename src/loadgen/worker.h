// Worker: one thread of a load run, with its own epoll loop, connections, Rng, key
// chooser, value maker, counts and histograms: nothing on its hot path is shared.
//
// Contract: the main thread builds a Worker, adds its connections and connects them
// (ConnectAll), then one thread calls Prefill and/or Run. Open loop (rate > 0): the
// connection with global number g sends its k-th request at start + (g + k * C) / R
// seconds (fixed intervals; over all C connections a request every 1/R s), at that time
// even when earlier replies are still due (they pipeline), and its latency counts from
// that scheduled time, so a slow server's queue shows; a send more than kLateNs late
// (the client fell behind) is counted and its lag recorded. Flat out (rate 0): each
// connection keeps --pipeline requests in flight and latency counts from the send.
// Requests scheduled in [measure, end) are measured; none is scheduled after end, and
// what has no reply by end + timeout times out. While Run goes on, another thread may
// call TakeSamples (the seconds finished so far, under a mutex taken once a second);
// once finished() the totals may be read.
#pragma once

#include <atomic>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "base/status.h"
#include "loadgen/connection.h"
#include "loadgen/histogram.h"
#include "loadgen/key_chooser.h"
#include "loadgen/load_config.h"
#include "loadgen/load_counts.h"
#include "loadgen/rng.h"
#include "loadgen/value_codec.h"
#include "loadgen/wire.h"

namespace bale::loadgen {

struct Timeline {
  int64_t start_ns = 0;    // the schedule's zero; progress seconds count from here
  int64_t measure_ns = 0;  // start + warmup
  int64_t end_ns = 0;      // measure + duration: nothing is scheduled from here
  int64_t drain_ns = 0;    // end + timeout: what is still in flight then times out
};

// One second of one thread (second 0 begins at start_ns): every request that ended in it.
struct SecondSample {
  int64_t second = 0;
  Histogram latency;
  Counts counts;
};

// Monotonic nanoseconds (CLOCK_MONOTONIC), the clock of every Timeline.
int64_t NowNs();

class Worker {
 public:
  Worker(const LoadConfig& config, int index);
  ~Worker();
  Worker(const Worker&) = delete;
  Worker& operator=(const Worker&) = delete;

  // Adds the connection numbered `global_index` (of config.connections) to `endpoint`.
  void AddConnection(const Endpoint* endpoint, int global_index);
  [[nodiscard]] Status ConnectAll();

  // Sets every key k with k % connections == g over connection g, flat out.
  void Prefill();
  void Run(const Timeline& timeline);

  void TakeSamples(std::vector<SecondSample>* out);
  bool finished() const { return finished_.load(std::memory_order_acquire); }

  const Counts& totals() const { return totals_; }
  const Counts& prefill_counts() const { return prefill_; }
  const Histogram& get_latency() const { return get_latency_; }
  const Histogram& set_latency() const { return set_latency_; }
  const Histogram& lag() const { return lag_; }
  // When the last measured request was answered (0: none was).
  int64_t last_answer_ns() const { return last_answer_ns_; }

 private:
  enum class Phase { kPrefill, kRun };
  struct Slot {
    std::unique_ptr<Connection> conn;
    int global_index = 0;
  };
  // What became of one request.
  struct Outcome {
    ReplyKind reply = ReplyKind::kIncomplete;  // kHit, kMiss, kStored; else none
    bool answered = false;                     // the server replied
    bool failed = false;
    ErrorKind error = ErrorKind::kConnect;
  };

  void Loop();
  bool Finished(int64_t now);
  void Wait(int64_t now);
  int64_t NextWake(int64_t now) const;
  int64_t DueAt(const Slot& s) const;

  void IssueDue(int64_t now);
  void Issue(Slot& s, Op op, uint64_t key, int64_t scheduled, int64_t now);
  void IssueRandom(Slot& s, int64_t scheduled, int64_t now);
  void FlushAll(int64_t now);

  void OnEvent(Slot& s, uint32_t events);
  void ParseReplies(Slot& s, int64_t now);
  bool Complete(Slot& s, const Reply& r, int64_t now);
  bool Verified(const Pending& p, const Reply& r);
  void Fail(Slot& s, ErrorKind first, ErrorKind rest, int64_t now, int64_t retry_at);
  void CheckTimeouts(int64_t now);
  void Reconnect(int64_t now);
  void Watch(Slot& s);

  void Tally(const Pending& p, const Outcome& o, int64_t now);
  static void Count(Counts* c, const Pending& p, const Outcome& o);
  void RollSecond(int64_t now);
  void Publish();

  const LoadConfig& config_;
  const int index_;
  Rng rng_;
  KeyChooser chooser_;
  ValueMaker maker_;
  std::string key_;    // scratch: a request's key
  std::string value_;  // scratch: a set's value
  uint64_t serial_ = 0;
  int epoll_fd_ = -1;
  std::vector<Slot> slots_;
  Phase phase_ = Phase::kRun;
  Timeline t_;
  int64_t timeout_ns_ = 0;
  double interval_ns_ = 0;  // open loop: between one connection's requests

  Counts totals_, prefill_;
  Histogram get_latency_, set_latency_, lag_;
  int64_t last_answer_ns_ = 0;
  int64_t second_ = 0;
  Counts second_counts_;
  Histogram second_latency_;

  std::mutex samples_mu_;
  std::vector<SecondSample> samples_;  // guarded by samples_mu_
  std::atomic<bool> finished_{false};
};

}  // namespace bale::loadgen
