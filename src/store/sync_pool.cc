#include "store/sync_pool.h"

#include "store/volume.h"

namespace bale {

SyncPool::SyncPool(int threads) {
  for (int i = 0; i < threads; i++) threads_.emplace_back([this] { Run(); });
}

SyncPool::~SyncPool() {
  {
    std::lock_guard<std::mutex> l(mu_);
    stop_ = true;
  }
  cv_.notify_all();
  for (auto& t : threads_) t.join();
}

Status SyncPool::SyncAll(std::span<Volume* const> volumes) {
  if (volumes.empty()) return Status::OK();
  if (volumes.size() == 1 || threads_.empty()) {
    Status first;
    for (Volume* v : volumes) {
      Status s = v->Sync();
      if (!s.ok() && first.ok()) first = s;
    }
    return first;
  }
  Batch batch;
  batch.remaining = volumes.size();
  {
    std::lock_guard<std::mutex> l(mu_);
    for (Volume* v : volumes) jobs_.push_back({v, &batch});
  }
  cv_.notify_all();
  std::unique_lock<std::mutex> l(batch.mu);
  batch.done.wait(l, [&] { return batch.remaining == 0; });
  return batch.first_error;
}

void SyncPool::Run() {
  for (;;) {
    Job job;
    {
      std::unique_lock<std::mutex> l(mu_);
      cv_.wait(l, [&] { return stop_ || !jobs_.empty(); });
      if (jobs_.empty()) return;
      job = jobs_.front();
      jobs_.pop_front();
    }
    Status s = job.volume->Sync();
    std::lock_guard<std::mutex> l(job.batch->mu);
    if (!s.ok() && job.batch->first_error.ok()) job.batch->first_error = s;
    if (--job.batch->remaining == 0) job.batch->done.notify_all();
  }
}

}  // namespace bale
