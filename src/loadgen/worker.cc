#include "loadgen/worker.h"

#include <sys/epoll.h>
#include <sys/prctl.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>

namespace bale::loadgen {

namespace {

constexpr int64_t kSecondNs = 1000000000;
constexpr int64_t kRetryNs = 100000000;  // a failed connection is tried again after this
constexpr int64_t kMaxSleepNs = 100000000;
constexpr size_t kPrefillDepth = 16;  // prefill's requests in flight per connection

}  // namespace

int64_t NowNs() {
  timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return ts.tv_sec * kSecondNs + ts.tv_nsec;
}

Worker::Worker(const LoadConfig& config, int index)
    : config_(config),
      index_(index),
      rng_(config.seed * 0x9e3779b97f4a7c15ULL + static_cast<uint64_t>(index)),
      chooser_(config.keys, config.key_dist),
      maker_(config.value_size.max, config.seed + static_cast<uint64_t>(index)),
      epoll_fd_(epoll_create1(EPOLL_CLOEXEC)),
      timeout_ns_(static_cast<int64_t>(config.timeout_s * 1e9)),
      interval_ns_(config.rate > 0 ? 1e9 * config.connections / config.rate : 0) {
  serial_ = static_cast<uint64_t>(index) << 40;
}

Worker::~Worker() {
  slots_.clear();
  if (epoll_fd_ >= 0) close(epoll_fd_);
}

void Worker::AddConnection(const Endpoint* endpoint, int global_index) {
  slots_.push_back(Slot{std::make_unique<Connection>(endpoint), global_index});
}

Status Worker::ConnectAll() {
  if (epoll_fd_ < 0) return Status::FromErrno("epoll_create1", errno);
  for (Slot& s : slots_) {
    BALE_RETURN_IF_ERROR(s.conn->ConnectNow(config_.timeout_s));
    Watch(s);
  }
  return Status::OK();
}

void Worker::Prefill() {
  prctl(PR_SET_TIMERSLACK, 1UL, 0, 0, 0);
  phase_ = Phase::kPrefill;
  for (Slot& s : slots_) s.conn->prefill_next = static_cast<uint64_t>(s.global_index);
  Loop();
}

void Worker::Run(const Timeline& timeline) {
  prctl(PR_SET_TIMERSLACK, 1UL, 0, 0, 0);
  phase_ = Phase::kRun;
  t_ = timeline;
  const timespec start{static_cast<time_t>(t_.start_ns / kSecondNs),
                       static_cast<long>(t_.start_ns % kSecondNs)};
  while (clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &start, nullptr) == EINTR) {
  }
  Loop();
  std::lock_guard<std::mutex> lock(samples_mu_);
  samples_.push_back(SecondSample{second_, std::move(second_latency_), second_counts_});
  finished_.store(true, std::memory_order_release);
}

void Worker::TakeSamples(std::vector<SecondSample>* out) {
  std::lock_guard<std::mutex> lock(samples_mu_);
  for (SecondSample& s : samples_) out->push_back(std::move(s));
  samples_.clear();
}

// ---- the loop ----

void Worker::Loop() {
  while (true) {
    int64_t now = NowNs();
    if (phase_ == Phase::kRun) RollSecond(now);
    Reconnect(now);
    IssueDue(now);
    FlushAll(now);
    CheckTimeouts(now);
    if (Finished(now)) return;
    Wait(now);
  }
}

bool Worker::Finished(int64_t now) {
  for (Slot& s : slots_) {
    const Connection& c = *s.conn;
    if (phase_ == Phase::kPrefill && c.prefill_next < config_.keys) return false;
    if (!c.pending.empty()) {
      if (phase_ == Phase::kPrefill || now < t_.drain_ns) return false;
      Fail(s, ErrorKind::kTimeout, ErrorKind::kTimeout, now, now);
    }
  }
  return phase_ == Phase::kPrefill || now >= t_.end_ns;
}

void Worker::Wait(int64_t now) {
  const int64_t wait = std::max<int64_t>(0, NextWake(now) - now);
  const timespec ts{static_cast<time_t>(wait / kSecondNs), static_cast<long>(wait % kSecondNs)};
  epoll_event events[64];
  int n = epoll_pwait2(epoll_fd_, events, 64, &ts, nullptr);
  if (n < 0 && errno == ENOSYS) {  // before Linux 5.11: milliseconds, rounded up
    n = epoll_wait(epoll_fd_, events, 64, static_cast<int>((wait + 999999) / 1000000));
  }
  for (int i = 0; i < n; ++i) OnEvent(slots_[events[i].data.u64], events[i].events);
}

int64_t Worker::DueAt(const Slot& s) const {
  const double k = static_cast<double>(s.conn->schedule_index) * config_.connections;
  return t_.start_ns + static_cast<int64_t>((s.global_index + k) * (1e9 / config_.rate));
}

int64_t Worker::NextWake(int64_t now) const {
  int64_t wake = now + kMaxSleepNs;
  if (phase_ == Phase::kRun) {
    wake = std::min(wake, t_.start_ns + (second_ + 1) * kSecondNs);
    wake = std::min(wake, now < t_.end_ns ? t_.end_ns : t_.drain_ns);
  }
  const bool reconnecting = phase_ == Phase::kPrefill || now < t_.end_ns;
  for (const Slot& s : slots_) {
    const Connection& c = *s.conn;
    if (!c.pending.empty()) wake = std::min(wake, c.pending.front().sent_ns + timeout_ns_);
    if (c.state() == Connection::State::kConnecting ||
        (c.state() == Connection::State::kDown && reconnecting)) {
      wake = std::min(wake, c.retry_at_ns);
    }
    if (phase_ == Phase::kRun && config_.rate > 0 && now < t_.end_ns) {
      wake = std::min(wake, DueAt(s));
    }
  }
  return wake;
}

// ---- sending ----

void Worker::IssueDue(int64_t now) {
  for (Slot& s : slots_) {
    Connection& c = *s.conn;
    if (phase_ == Phase::kPrefill) {
      if (c.state() == Connection::State::kDown) continue;  // its keys wait for it
      const size_t depth = std::max<size_t>(kPrefillDepth, config_.pipeline);
      while (c.pending.size() < depth && c.prefill_next < config_.keys) {
        Issue(s, Op::kSet, c.prefill_next, now, now);
        c.prefill_next += static_cast<uint64_t>(config_.connections);
      }
    } else if (config_.rate > 0) {
      for (int64_t due = DueAt(s); due <= now && due < t_.end_ns; due = DueAt(s)) {
        IssueRandom(s, due, now);
        ++c.schedule_index;
      }
    } else if (now < t_.end_ns && c.state() != Connection::State::kDown) {
      while (c.pending.size() < static_cast<size_t>(config_.pipeline)) IssueRandom(s, now, now);
    }
  }
}

void Worker::IssueRandom(Slot& s, int64_t scheduled, int64_t now) {
  const Op op = config_.mix.Next(rng_);
  Issue(s, op, chooser_.Next(rng_), scheduled, now);
}

void Worker::Issue(Slot& s, Op op, uint64_t key, int64_t scheduled, int64_t now) {
  Connection& c = *s.conn;
  Pending p;
  p.op = op;
  p.key = key;
  p.scheduled_ns = scheduled;
  p.sent_ns = now;
  p.measured = phase_ == Phase::kRun && scheduled >= t_.measure_ns && scheduled < t_.end_ns;
  p.opaque = c.next_opaque++;
  if (c.state() == Connection::State::kDown) {  // not sent: no connection to send it on
    Tally(p, Outcome{.failed = true, .error = ErrorKind::kConnect}, now);
    return;
  }
  KeyName(config_.key_prefix, key, &key_);
  if (op == Op::kSet) maker_.Make(key_, serial_++, config_.value_size.Next(rng_), &value_);
  AppendRequest(config_.protocol, op, key_, value_, p.opaque, c.endpoint().host, c.out());
  if (p.measured) {
    lag_.Record(static_cast<uint64_t>(now - scheduled));
    if (now - scheduled > kLateNs) ++totals_.late_sends;
  }
  c.pending.push_back(p);
}

void Worker::FlushAll(int64_t now) {
  for (Slot& s : slots_) {
    Connection& c = *s.conn;
    if (c.state() != Connection::State::kUp || !c.HasUnsent()) continue;
    if (!c.Flush()) {
      Fail(s, ErrorKind::kClosed, ErrorKind::kClosed, now, now + kRetryNs);
      continue;
    }
    Watch(s);
  }
}

// ---- receiving ----

void Worker::OnEvent(Slot& s, uint32_t events) {
  Connection& c = *s.conn;
  if (c.fd() < 0) return;
  if (c.state() == Connection::State::kConnecting) {
    const int64_t now = NowNs();
    if (!c.FinishConnect()) {
      Fail(s, ErrorKind::kConnect, ErrorKind::kConnect, now, now + kRetryNs);
      return;
    }
    Watch(s);
  }
  if (events & (EPOLLIN | EPOLLERR | EPOLLHUP)) {
    const Connection::ReadResult r = c.Read();
    const int64_t now = NowNs();
    if (r == Connection::ReadResult::kData) ParseReplies(s, now);
    if (r == Connection::ReadResult::kClosed && c.state() == Connection::State::kUp) {
      Fail(s, ErrorKind::kClosed, ErrorKind::kClosed, now, now);
      return;
    }
  }
  if ((events & EPOLLOUT) && c.state() == Connection::State::kUp) {
    if (!c.Flush()) {
      const int64_t now = NowNs();
      Fail(s, ErrorKind::kClosed, ErrorKind::kClosed, now, now + kRetryNs);
      return;
    }
    Watch(s);
  }
}

void Worker::ParseReplies(Slot& s, int64_t now) {
  Connection& c = *s.conn;
  while (c.state() == Connection::State::kUp) {
    const std::string_view in = c.input();
    if (in.empty() || in.size() < c.needed) return;
    if (c.pending.empty()) {  // a reply to nothing: count it against a get of this moment
      Pending stray;
      stray.scheduled_ns = stray.sent_ns = now;
      stray.measured = phase_ == Phase::kRun && now >= t_.measure_ns && now < t_.end_ns;
      c.pending.push_back(stray);
      Fail(s, ErrorKind::kProtocol, ErrorKind::kClosed, now, now);
      return;
    }
    const Reply r = ParseReply(config_.protocol, c.pending.front().op, in);
    if (r.kind == ReplyKind::kIncomplete) {
      c.needed = r.needed > in.size() ? r.needed : in.size() + 1;
      return;
    }
    c.needed = 0;
    if (r.kind == ReplyKind::kBad || !Complete(s, r, now)) {
      Fail(s, ErrorKind::kProtocol, ErrorKind::kClosed, now, now);
      return;
    }
    c.Consume(r.consumed);
    if (r.close) Fail(s, ErrorKind::kClosed, ErrorKind::kClosed, now, now);
  }
}

// Ends the oldest request with reply `r`; false (and nothing counted) when the reply
// answers another request (a binary opaque that does not match).
bool Worker::Complete(Slot& s, const Reply& r, int64_t now) {
  Connection& c = *s.conn;
  const Pending p = c.pending.front();
  if (config_.protocol == Protocol::kBinary && r.opaque != p.opaque) return false;
  c.pending.pop_front();
  Outcome o{.reply = r.kind, .answered = true};
  if (r.kind == ReplyKind::kServerError || r.kind == ReplyKind::kClientError) {
    o.reply = ReplyKind::kIncomplete;
    o.failed = true;
    o.error = r.kind == ReplyKind::kServerError ? ErrorKind::kServer : ErrorKind::kClient;
  } else if (r.kind == ReplyKind::kHit && !Verified(p, r)) {
    o.failed = true;
    o.error = ErrorKind::kVerify;
  }
  Tally(p, o, now);
  return true;
}

bool Worker::Verified(const Pending& p, const Reply& r) {
  KeyName(config_.key_prefix, p.key, &key_);
  if (!r.key.empty() && r.key != key_) return false;
  return VerifyValue(key_, r.value) == VerifyResult::kOk;
}

// Ends every request in flight on the connection (the oldest as `first`, the others as
// `rest`), closes it, and tries it again from retry_at.
void Worker::Fail(Slot& s, ErrorKind first, ErrorKind rest, int64_t now, int64_t retry_at) {
  Connection& c = *s.conn;
  for (bool oldest = true; !c.pending.empty(); oldest = false) {
    const Pending p = c.pending.front();
    c.pending.pop_front();
    Tally(p, Outcome{.failed = true, .error = oldest ? first : rest}, now);
  }
  c.Close();
  c.retry_at_ns = retry_at;
  // A prefill that cannot connect gives up the connection's other keys, so that it ends.
  for (; phase_ == Phase::kPrefill && first == ErrorKind::kConnect && c.prefill_next < config_.keys;
       c.prefill_next += static_cast<uint64_t>(config_.connections)) {
    Tally(Pending{.op = Op::kSet}, Outcome{.failed = true, .error = ErrorKind::kConnect}, now);
  }
}

void Worker::CheckTimeouts(int64_t now) {
  for (Slot& s : slots_) {
    Connection& c = *s.conn;
    if (c.state() == Connection::State::kConnecting && now >= c.retry_at_ns) {
      Fail(s, ErrorKind::kConnect, ErrorKind::kConnect, now, now + kRetryNs);
    } else if (!c.pending.empty() && now - c.pending.front().sent_ns >= timeout_ns_) {
      Fail(s, ErrorKind::kTimeout, ErrorKind::kTimeout, now, now);
    }
  }
}

void Worker::Reconnect(int64_t now) {
  if (phase_ == Phase::kRun && now >= t_.end_ns) return;
  for (Slot& s : slots_) {
    Connection& c = *s.conn;
    if (c.state() != Connection::State::kDown || now < c.retry_at_ns) continue;
    if (!c.StartConnect()) {  // refused at once (on loopback, say)
      Fail(s, ErrorKind::kConnect, ErrorKind::kConnect, now, now + kRetryNs);
      continue;
    }
    c.retry_at_ns = now + timeout_ns_;  // kConnecting: the deadline
    Watch(s);
  }
}

void Worker::Watch(Slot& s) {
  Connection& c = *s.conn;
  const bool out = c.state() == Connection::State::kConnecting || c.HasUnsent();
  const uint32_t want = EPOLLIN | (out ? EPOLLOUT : 0u);
  if (c.fd() < 0 || want == c.epoll_events) return;
  epoll_event ev{};
  ev.events = want;
  ev.data.u64 = static_cast<uint64_t>(&s - slots_.data());
  epoll_ctl(epoll_fd_, c.epoll_events == 0 ? EPOLL_CTL_ADD : EPOLL_CTL_MOD, c.fd(), &ev);
  c.epoll_events = want;
}

// ---- counting ----

void Worker::Count(Counts* c, const Pending& p, const Outcome& o) {
  ++(p.op == Op::kGet ? c->gets : c->sets);
  if (o.answered) ++c->answered;
  if (o.reply == ReplyKind::kHit) {
    ++c->hits;
    if (!o.failed) ++c->verified;
  }
  if (o.reply == ReplyKind::kMiss) ++c->misses;
  if (o.reply == ReplyKind::kStored) ++c->stored;
  if (o.failed) ++c->error(o.error);
}

void Worker::Tally(const Pending& p, const Outcome& o, int64_t now) {
  if (phase_ == Phase::kPrefill) {
    Count(&prefill_, p, o);
    return;
  }
  const auto latency = static_cast<uint64_t>(now - p.scheduled_ns);
  Count(&second_counts_, p, o);
  if (o.answered) second_latency_.Record(latency);
  if (!p.measured) return;
  Count(&totals_, p, o);
  if (!o.answered) return;
  (p.op == Op::kGet ? get_latency_ : set_latency_).Record(latency);
  last_answer_ns_ = now;
}

void Worker::RollSecond(int64_t now) {
  while (now >= t_.start_ns + (second_ + 1) * kSecondNs) Publish();
}

void Worker::Publish() {
  SecondSample sample{second_, std::move(second_latency_), second_counts_};
  second_latency_ = Histogram();
  second_counts_ = Counts();
  ++second_;
  std::lock_guard<std::mutex> lock(samples_mu_);
  samples_.push_back(std::move(sample));
}

}  // namespace bale::loadgen
