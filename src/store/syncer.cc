#include "store/syncer.h"

#include <algorithm>
#include <chrono>

#include "store/sync_pool.h"
#include "store/volume.h"

namespace bale {

Syncer::Syncer(uint32_t interval_ms, SyncPool* pool)
    : interval_ms_(interval_ms), pool_(pool), thread_([this] { Run(); }) {}

Syncer::~Syncer() {
  {
    std::lock_guard<std::mutex> l(mu_);
    stop_ = true;
  }
  cv_.notify_all();
  thread_.join();
}

void Syncer::Add(Volume* v) {
  std::lock_guard<std::mutex> l(mu_);
  volumes_.push_back(v);
}

void Syncer::Remove(Volume* v) {
  std::lock_guard<std::mutex> l(mu_);
  volumes_.erase(std::remove(volumes_.begin(), volumes_.end(), v), volumes_.end());
}

uint64_t Syncer::errors() const {
  std::lock_guard<std::mutex> l(mu_);
  return errors_;
}

void Syncer::Run() {
  std::unique_lock<std::mutex> l(mu_);
  while (!stop_) {
    cv_.wait_for(l, std::chrono::milliseconds(interval_ms_));
    if (stop_) break;
    // Holding mu_ while syncing makes Remove wait for the pass to finish.
    if (pool_ != nullptr) {
      if (!pool_->SyncAll(volumes_).ok()) errors_++;
      continue;
    }
    for (Volume* v : volumes_) {
      if (!v->Sync().ok()) errors_++;
    }
  }
}

}  // namespace bale
