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
  bool pending = session_->commit_pending();
  if (!pending && held_.empty()) return;
  bool ok = true;
  if (pending) {
    uint64_t start = MonotonicNs();
    ok = session_->Commit().ok();
    stats.group_commit_latency.Observe(MonotonicNs() - start);
  }
  // Not durable: the writers are not told STORED; their connections close.
  held_.Settle(loop, ok);
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
