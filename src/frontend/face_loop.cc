#include "frontend/face_loop.h"

namespace bale {

void FaceLoop::OnRoundEnd(net::Loop& loop) {
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
