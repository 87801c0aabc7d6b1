// Store: the volumes of the partitions this node holds, as a cluster node will hold them.
//
// Contract: a key belongs to partition HashKey(key) % P (cluster/cluster_map.h), with P
// fixed when the data directory is created (format/store_meta.h) so that a single
// machine can later become the first node of a cluster without reloading its data. The
// ClusterMap says which partitions this node holds: all of them unless
// StoreOptions::cluster_map says otherwise. Each held partition is a Volume in its own
// directory; the store opens those (and only those), shares one interval Syncer among
// them, and closes them (sync + checkpoint) on Close.
// Volumes are kept by partition id: volume(p) and VolumeFor(key) never return null. For
// a partition not held here they return a volume that answers every call with
// Status::Unavailable ("partition N is not held by this node", Volume::NotHeld): a face
// answers it as it answers a damaged partition, or checks Holds() first. Stats, Damage,
// compaction and the sync thread cover the held partitions only.
// A data directory has one owner: Open fails with Busy, naming the holder's pid, while
// another Store (in any process) has it.
// Damage is contained to its partition: a volume that cannot open is replaced by one
// that answers every call with Status::Unavailable (Volume::Unavailable), and the others
// serve; Open fails only when no held partition can open. Damage() lists what every
// volume found wrong (store/damage.h).
//
// Two operations span partitions and are all or nothing, now and after a restart:
// - FlushAll: one marker for every partition (format/store_flush.h) replaces the last
//   one atomically and is applied in memory only once durable; an error hides nothing.
//   Damage to the marker is contained too: a partition whose rule in it cannot be read
//   answers Unavailable (Volume::MarkFlushDamaged) until a FlushAll without a delay;
//   damage that loses no held partition's rule (its header) is the store's own report
//   (kStoreWide in Damage()); the next FlushAll writes a whole new marker.
// - WriteAtomic: ops of several partitions are stored all or none (Volume::WriteAcross).
#pragma once

#include <atomic>
#include <cstdint>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "base/checksum.h"
#include "cluster/cluster_map.h"
#include "format/store_flush.h"
#include "store/compactor.h"
#include "store/journal.h"
#include "store/journal_replay.h"
#include "store/sync_pool.h"
#include "store/syncer.h"
#include "store/volume.h"

namespace bale {

struct StoreOptions {
  std::string dir = "./data";
  uint32_t partitions = 0;  // 0 = what the directory says, or kDefaultPartitions if new
  // The partitions this node holds; none: all of them (a single-machine store). Its
  // partition count must agree with `partitions` (when set) and with the directory's.
  std::optional<ClusterMap> cluster_map;
  VolumeOptions volume;  // template for every partition (dir and partition are set)
  CompactionPolicy compaction;
  // Disk space set aside at open (the file RESERVE) for a full disk: when a write meets
  // NoSpace the reserve is released and writes that add data are refused, so that
  // deletes and compaction can run and free space; writes resume once the reserve can
  // be set aside again with as much free besides. 0: no reserve (writes just fail).
  uint64_t disk_reserve_bytes = 0;
  Compactor::Log log;  // compaction's progress lines; null: none
  // kSync: the journal starts a new file (and syncs the segments) past this many bytes.
  uint64_t journal_file_bytes = uint64_t{64} << 20;
};

struct StoreStats {
  VolumeStats total;             // summed over partitions (last_version: the maximum; damaged and
                                 // unavailable: any)
  uint32_t partitions = 0;       // P
  uint32_t held_partitions = 0;  // of them, held here (the sums are over these)
  CompactorTotals compactor;
  bool disk_full = false;  // writes that add data are refused (StoreOptions::disk_reserve_bytes)
  uint64_t disk_reserve_bytes = 0;
  uint32_t damaged_partitions = 0;      // with damage (VolumeStats::damaged)
  uint32_t unavailable_partitions = 0;  // answering Status::Unavailable
  bool flush_all_damaged = false;       // FLUSH_ALL failed a check at open (until FlushAll)
  bool journaled = false;               // kSync through the journal (store/journal.h)
  JournalStats journal;
  JournalReplayStats replayed;  // what the journal left by the last run gave back (notes: none)
};

struct PartitionDamage {
  static constexpr uint32_t kStoreWide = 0xFFFFFFFF;  // a file of the whole store
  uint32_t partition = 0;                             // or kStoreWide
  DamageReport report;
};

class Store {
 public:
  static constexpr uint32_t kDefaultPartitions = 64;
  static constexpr int kSyncThreads = 16;

  static Status Open(const StoreOptions& options, std::unique_ptr<Store>* out);
  ~Store();

  // P, the partition count (held or not): volume(p) is valid for every p below it.
  uint32_t partitions() const { return map_.partition_count(); }
  const ClusterMap& cluster_map() const { return map_; }
  bool Holds(uint32_t p) const { return map_.Holds(p); }
  uint32_t PartitionOf(std::string_view key) const { return map_.PartitionOf(key); }
  // Never null; Unavailable for a partition not held here (see the contract).
  Volume* VolumeFor(std::string_view key) { return volumes_[PartitionOf(key)].get(); }
  // The same, also giving HashKey(key), which Volume::Locate can reuse.
  Volume* VolumeFor(std::string_view key, uint64_t* hash) {
    *hash = HashKey(key);
    return volumes_[map_.PartitionOfHash(*hash)].get();
  }
  Volume* volume(uint32_t p) { return volumes_[p].get(); }

  // Makes the writes of the given volumes durable (kSync group commit): one flush of the
  // journal, which holds every volume's (store/journal.h); without one, the volumes'
  // heads fdatasync'ed in parallel.
  Status SyncVolumes(std::span<Volume* const> volumes) {
    return journal_ != nullptr ? journal_->Flush() : sync_pool_->SyncAll(volumes);
  }

  // flush_all: objects written before `when` (unix seconds; 0 or past = now) read as
  // missing from `when` on, in every partition. On error nothing changes, now or after
  // a restart (see docs/store.md for the one case the OS can leave undecided).
  Status FlushAll(uint32_t when);
  // Stores `ops`, which may belong to any partitions, all or none (see
  // Volume::WriteAcross): Exists, with nothing written, when an only_if_absent op finds
  // its key taken (its status says which). Per-op outcome (status, version, cookie) in
  // ops. `written`, when given, gets the volumes written, for the caller's group commit.
  Status WriteAtomic(std::span<WriteOp> ops, bool wait, std::vector<Volume*>* written = nullptr);
  // Space reclamation: automatic passes, and on-demand ones (Compactor::Request).
  Compactor* compactor() { return compactor_.get(); }
  StoreStats Stats() const;
  // kSync's journal; null in the other modes (or when a full disk left no room for it).
  Journal* journal() { return journal_.get(); }
  // What the journal the last run left gave back at open (log lines: DescribeReplay).
  const JournalReplayStats& replayed() const { return replayed_; }
  // Every held volume's damage reports, by partition, then the store's own (kStoreWide).
  std::vector<PartitionDamage> Damage() const;
  Status Close();

 private:
  Store() = default;
  // Replaces FLUSH_ALL with `bytes`; on error the previous marker is in place again.
  Status ReplaceFlushMarker(const std::string& bytes);
  // At open: partition p's rule from what could be read of FLUSH_ALL (nothing when
  // `flush` has no rules: there is no marker). `opened`: v recovered (not Unavailable,
  // not NotHeld), so an unreadable rule makes it answer Unavailable.
  void TakeFlushRule(uint32_t p, Volume* v, bool opened, const format::StoreFlushContents& flush);
  // At open, after every partition took its rule: the problems no held partition
  // reports become the store's own.
  void NoteFlushDamage(const format::StoreFlushContents& flush);

  std::string dir_;
  Env* env_ = nullptr;
  std::mutex flush_mu_;        // one FlushAll at a time
  std::string flush_marker_;   // FLUSH_ALL as on disk; empty: there is none
  bool legacy_flush_ = false;  // some partition has an earlier build's FLUSH file
  // By partition: its rule in FLUSH_ALL could not be read (until FlushAll, which must
  // not be delayed for it). Under flush_mu_.
  std::vector<bool> rule_unknown_;
  std::atomic<bool> flush_all_damaged_{false};  // FLUSH_ALL failed a check at open
  mutable std::mutex damage_mu_;
  std::vector<DamageReport> damage_;  // the store's own (FLUSH_ALL's), under damage_mu_
  // Destroyed in reverse: volumes first, then the syncer (which uses the pool), then the
  // pool.
  std::string ReservePath() const;
  bool MakeReserve();  // false: no room for it
  void OnNoSpace();    // a volume met a full disk
  bool CheckSpace();   // the compactor's poll while full: true while still full

  uint64_t reserve_bytes_ = 0;
  Compactor::Log log_;
  std::mutex full_mu_;
  std::atomic<bool> writes_refused_{false};
  std::unique_ptr<FileLock> lock_;  // <dir>/LOCK, for the store's life: one owner
  std::unique_ptr<SyncPool> sync_pool_;
  std::unique_ptr<Syncer> syncer_;
  // Replays what the last run left in the journal, into the segments (before the volumes
  // open), and starts this run's journal in kSync (vo->journal).
  Status StartJournal(const StoreOptions& options, VolumeOptions* vo);
  // After the volumes opened: the journal files replayed are no longer needed.
  Status RemoveReplayedJournal();
  // The journal's sync_segments: every opened volume's head fdatasync'ed, in parallel.
  Status SyncOpenedVolumes();
  std::unique_ptr<Journal> journal_;  // kSync only; destroyed after the volumes
  JournalReplayStats replayed_;
  std::vector<Volume*> opened_;  // held volumes that opened (not Unavailable)
  ClusterMap map_;
  std::vector<std::unique_ptr<Volume>> volumes_;  // by partition; Volume::NotHeld if not held
  std::unique_ptr<Compactor> compactor_;          // destroyed (stopped) before the volumes
};

}  // namespace bale
