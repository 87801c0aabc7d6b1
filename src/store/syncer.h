// Syncer: one thread that makes registered volumes durable every interval (the
// kInterval durability mode), so many volumes share one thread.
#pragma once

#include <condition_variable>
#include <cstdint>
#include <mutex>
#include <thread>
#include <vector>

namespace bale {

class SyncPool;
class Volume;

class Syncer {
 public:
  // With a pool, each pass syncs the volumes in parallel: the file system then merges
  // their journal commits instead of stalling writers once per volume.
  explicit Syncer(uint32_t interval_ms, SyncPool* pool = nullptr);
  ~Syncer();
  Syncer(const Syncer&) = delete;
  Syncer& operator=(const Syncer&) = delete;

  void Add(Volume* v);
  // After Remove returns, the syncer never touches `v` again.
  void Remove(Volume* v);
  uint64_t errors() const;

 private:
  void Run();

  const uint32_t interval_ms_;
  SyncPool* const pool_;
  mutable std::mutex mu_;
  std::condition_variable cv_;
  std::vector<Volume*> volumes_;
  bool stop_ = false;
  uint64_t errors_ = 0;
  std::thread thread_;
};

}  // namespace bale
