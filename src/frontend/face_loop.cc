#include "frontend/face_loop.h"

namespace bale {

size_t FaceLoop::Defer(net::Conn& conn, size_t from, FaceReplay* face, bool binary) {
  if (deferred_used_ == deferred_.size()) deferred_.emplace_back();
  DeferredRequests& d = deferred_[deferred_used_];
  d.ticket = conn.Hold(from);
  d.face = face;
  d.binary = binary;
  d.start_ns = MonotonicNs();
  d.bytes.clear();
  d.requests = 0;
  d.calls.clear();
  d.barrier = false;
  return deferred_used_++;
}

void FaceLoop::ReplayRound(net::Loop& loop) {
  session_->SendRound();
  for (size_t i = 0; i < deferred_used_; i++) {
    DeferredRequests& d = deferred_[i];
    if (std::string* out = loop.Slot(d.ticket)) {  // null: the connection closed
      session_->Replay(d.calls);
      d.face->Replay(d, out, *this);
      loop.Release(d.ticket);
    }
    if (d.bytes.capacity() > (64 << 10)) std::string().swap(d.bytes);
  }
  deferred_used_ = 0;
  session_->EndRound();
}

void FaceLoop::OnRoundEnd(net::Loop& loop) {
  if (deferred_used_ > 0) ReplayRound(loop);
  round_++;
  SettleCommitted(loop);
  bool pending = session_->commit_pending();
  if (!pending && held_.empty()) return;
  if (!pending) {
    held_.Settle(loop, true);
    return;
  }
  uint64_t start = MonotonicNs();
  std::shared_ptr<CommitMailbox> mb = mailbox_;
  {
    std::lock_guard<std::mutex> l(mb->mu);
    if (mb->stopped) {
      // The loop is stopping: wait here (nothing would wake it later).
      bool ok = session_->Commit().ok();
      stats.group_commit_latency.Observe(MonotonicNs() - start);
      held_.Settle(loop, ok);  // not durable: the writers are not told STORED
      return;
    }
    mb->in_flight++;
    mb->on_loop_thread = true;
  }
  // The loop goes on with the next round while the commit is made; its holds are
  // settled when it comes back (here or through Post), in the order asked.
  net::Loop* lp = &loop;
  session_->CommitAsync([this, mb, lp, tickets = held_.Take(), start](bool ok) mutable {
    std::lock_guard<std::mutex> l(mb->mu);
    mb->done.push_back({std::move(tickets), ok, start});
    mb->in_flight--;
    mb->cv.notify_all();
    if (!mb->on_loop_thread && !mb->stopped) lp->Post([this, lp] { SettleCommitted(*lp); });
  });
  {
    std::lock_guard<std::mutex> l(mb->mu);
    mb->on_loop_thread = false;
  }
  SettleCommitted(loop);
}

void FaceLoop::SettleCommitted(net::Loop& loop) {
  std::vector<CommitMailbox::Done> done;
  {
    std::lock_guard<std::mutex> l(mailbox_->mu);
    if (mailbox_->done.empty()) return;
    done.swap(mailbox_->done);
  }
  uint64_t now = MonotonicNs();
  for (CommitMailbox::Done& d : done) {
    stats.group_commit_latency.Observe(now - d.start_ns);
    // Not durable: the writers are not told STORED; their connections close.
    for (const net::Ticket& t : d.tickets) d.ok ? loop.Release(t) : loop.Fail(t);
  }
}

void FaceLoop::OnLoopStop(net::Loop& loop) {
  {
    std::unique_lock<std::mutex> l(mailbox_->mu);
    mailbox_->cv.wait(l, [&] { return mailbox_->in_flight == 0; });
    mailbox_->stopped = true;
  }
  SettleCommitted(loop);
}

FaceLoop& FaceLoops::Attach(net::Loop& loop) {
  auto index = static_cast<size_t>(loop.index());
  if (loops_.size() <= index) loops_.resize(index + 1);
  if (!loops_[index]) {
    loops_[index] = std::make_unique<FaceLoop>(store_);
    loop.AddRoundHook(loops_[index].get());
  }
  return *loops_[index];
}

}  // namespace bale
