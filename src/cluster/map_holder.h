// MapHolder: the newest cluster map a process knows, shared between the thread that
// learns of new maps (the etcd session's watch) and the threads that use them.
//
// Contract: Set replaces the map (any thread; a map with an older epoch than the one
// held is ignored); Get returns the current one (any thread, never blocks on Set for
// long); WaitNewer blocks until the held map's epoch is at least `epoch` or the timeout
// passes, and returns the map held then. Before the first Set, Get returns null.
#pragma once

#include <chrono>
#include <condition_variable>
#include <memory>
#include <mutex>

#include "cluster/cluster_map.h"

namespace bale {

class MapHolder {
 public:
  std::shared_ptr<const ClusterMap> Get() const {
    std::lock_guard<std::mutex> l(mu_);
    return map_;
  }

  // False (and nothing changes) when `map` is older than the one held.
  bool Set(std::shared_ptr<const ClusterMap> map) {
    {
      std::lock_guard<std::mutex> l(mu_);
      if (map_ != nullptr && map->epoch() < map_->epoch()) return false;
      map_ = std::move(map);
    }
    cv_.notify_all();
    return true;
  }

  std::shared_ptr<const ClusterMap> WaitNewer(uint64_t epoch, std::chrono::milliseconds timeout) {
    std::unique_lock<std::mutex> l(mu_);
    cv_.wait_for(l, timeout, [&] { return map_ != nullptr && map_->epoch() >= epoch; });
    return map_;
  }

 private:
  mutable std::mutex mu_;
  std::condition_variable cv_;
  std::shared_ptr<const ClusterMap> map_;
};

}  // namespace bale
