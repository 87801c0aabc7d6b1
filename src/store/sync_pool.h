// SyncPool: makes many volumes durable at once. fdatasync costs about one device flush
// whatever the file, and the file system merges flushes that are in flight together,
// so syncing the volumes of a batch in parallel costs little more than syncing one.
// This is how group commit spans partitions' files in kSync durability.
#pragma once

#include <condition_variable>
#include <deque>
#include <mutex>
#include <span>
#include <thread>
#include <vector>

#include "base/status.h"

namespace bale {

class Volume;

class SyncPool {
 public:
  explicit SyncPool(int threads);
  ~SyncPool();
  SyncPool(const SyncPool&) = delete;
  SyncPool& operator=(const SyncPool&) = delete;

  // Calls Sync() on every volume, several at a time, and waits for all of them.
  // Returns the first error.
  Status SyncAll(std::span<Volume* const> volumes);

 private:
  struct Batch {
    std::mutex mu;
    std::condition_variable done;
    size_t remaining = 0;
    Status first_error;
  };
  struct Job {
    Volume* volume;
    Batch* batch;
  };
  void Run();

  std::mutex mu_;
  std::condition_variable cv_;
  std::deque<Job> jobs_;
  bool stop_ = false;
  std::vector<std::thread> threads_;
};

}  // namespace bale
