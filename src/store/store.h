// Store: every partition's volume on this node, as a cluster node will hold them.
//
// Contract: a key belongs to partition HashKey(key) % P, with P fixed when the data
// directory is created (format/store_meta.h) so that a single machine can later become
// the first node of a cluster without reloading its data. Each partition is a Volume in
// its own directory; the store opens them all, shares one interval Syncer among them,
// and closes them (sync + checkpoint) on Close. A data directory has one owner: Open
// fails with Busy, naming the holder's pid, while another Store (in any process) has it.
//
// Two operations span partitions and are all or nothing, now and after a restart:
// - FlushAll: one marker for every partition (format/store_flush.h) replaces the last
//   one atomically and is applied in memory only once durable; an error hides nothing.
// - WriteAtomic: ops of several partitions are stored all or none (Volume::WriteAcross).
#pragma once

#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <vector>

#include "base/checksum.h"
#include "store/sync_pool.h"
#include "store/syncer.h"
#include "store/volume.h"

namespace bale {

struct StoreOptions {
  std::string dir = "./data";
  uint32_t partitions = 0;  // 0 = what the directory says, or kDefaultPartitions if new
  VolumeOptions volume;     // template for every partition (dir and partition are set)
};

struct StoreStats {
  VolumeStats total;  // summed over partitions (last_version: the maximum)
  uint32_t partitions = 0;
};

class Store {
 public:
  static constexpr uint32_t kDefaultPartitions = 64;
  static constexpr int kSyncThreads = 16;

  static Status Open(const StoreOptions& options, std::unique_ptr<Store>* out);
  ~Store();

  uint32_t partitions() const { return static_cast<uint32_t>(volumes_.size()); }
  uint32_t PartitionOf(std::string_view key) const;
  Volume* VolumeFor(std::string_view key) { return volumes_[PartitionOf(key)].get(); }
  // The same, also giving HashKey(key), which Volume::Locate can reuse.
  Volume* VolumeFor(std::string_view key, uint64_t* hash) {
    *hash = HashKey(key);
    return volumes_[*hash % volumes_.size()].get();
  }
  Volume* volume(uint32_t p) { return volumes_[p].get(); }

  // Makes the given volumes durable, in parallel (kSync group commit).
  Status SyncVolumes(std::span<Volume* const> volumes) { return sync_pool_->SyncAll(volumes); }

  // flush_all: objects written before `when` (unix seconds; 0 or past = now) read as
  // missing from `when` on, in every partition. On error nothing changes, now or after
  // a restart (see docs/store.md for the one case the OS can leave undecided).
  Status FlushAll(uint32_t when);
  // Stores `ops`, which may belong to any partitions, all or none (see
  // Volume::WriteAcross): Exists, with nothing written, when an only_if_absent op finds
  // its key taken (its status says which). Per-op outcome (status, version, cookie) in
  // ops. `written`, when given, gets the volumes written, for the caller's group commit.
  Status WriteAtomic(std::span<WriteOp> ops, bool wait, std::vector<Volume*>* written = nullptr);
  StoreStats Stats() const;
  Status Close();

 private:
  Store() = default;
  // Replaces FLUSH_ALL with `bytes`; on error the previous marker is in place again.
  Status ReplaceFlushMarker(const std::string& bytes);

  std::string dir_;
  Env* env_ = nullptr;
  std::mutex flush_mu_;        // one FlushAll at a time
  std::string flush_marker_;   // FLUSH_ALL as on disk; empty: there is none
  bool legacy_flush_ = false;  // some partition has an earlier build's FLUSH file
  // Destroyed in reverse: volumes first, then the syncer (which uses the pool), then the
  // pool.
  std::unique_ptr<FileLock> lock_;  // <dir>/LOCK, for the store's life: one owner
  std::unique_ptr<SyncPool> sync_pool_;
  std::unique_ptr<Syncer> syncer_;
  std::vector<std::unique_ptr<Volume>> volumes_;
};

}  // namespace bale
