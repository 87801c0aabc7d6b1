#include "store/store.h"

#include <algorithm>

#include "base/checksum.h"
#include "format/store_meta.h"

namespace bale {

Status Store::Open(const StoreOptions& options, std::unique_ptr<Store>* out) {
  Env* env = options.volume.env != nullptr ? options.volume.env : Env::Default();
  BALE_RETURN_IF_ERROR(env->CreateDir(options.dir));
  std::unique_ptr<FileLock> lock;
  Status locked = Env::LockFile(options.dir + "/" + format::kLockFileName, &lock);
  if (locked.IsBusy()) {
    return Status::Busy("data directory " + options.dir +
                        " is in use: " + std::string(locked.message()));
  }
  BALE_RETURN_IF_ERROR(locked);
  std::string marker_path = options.dir + "/" + format::kStoreFileName;
  std::string marker;
  uint32_t partitions = 0;
  Status s = ReadWholeFile(env, marker_path, &marker);
  if (s.ok()) {
    BALE_RETURN_IF_ERROR(format::DecodeStoreMarker(marker, &partitions));
    if (options.partitions != 0 && options.partitions != partitions) {
      return Status::InvalidArgument(options.dir + " was created with " +
                                     std::to_string(partitions) + " partitions, not " +
                                     std::to_string(options.partitions));
    }
  } else if (s.IsNotFound()) {
    partitions = options.partitions != 0 ? options.partitions : kDefaultPartitions;
    if (partitions > 65536) return Status::InvalidArgument("at most 65536 partitions");
    BALE_RETURN_IF_ERROR(WriteFileAtomic(env, marker_path, format::EncodeStoreMarker(partitions)));
  } else {
    return s;
  }
  std::unique_ptr<Store> store(new Store());
  store->lock_ = std::move(lock);
  store->sync_pool_ = std::make_unique<SyncPool>(kSyncThreads);
  VolumeOptions vo = options.volume;
  if (vo.durability == Durability::kInterval) {
    store->syncer_ = std::make_unique<Syncer>(vo.interval_ms, store->sync_pool_.get());
    vo.syncer = store->syncer_.get();
  }
  Status first_failure;
  uint32_t failed = 0;
  for (uint32_t p = 0; p < partitions; p++) {
    vo.dir = options.dir + "/" + format::PartitionDirName(p);
    vo.partition = p;
    std::unique_ptr<Volume> v;
    Status vs = Volume::Open(vo, &v);
    if (!vs.ok()) {
      // Contained: this partition's keys answer Unavailable, the others serve.
      if (failed++ == 0) first_failure = vs;
      v = Volume::Unavailable(vo, vs);
    }
    store->volumes_.push_back(std::move(v));
  }
  if (failed == partitions) return first_failure;  // nothing to serve
  *out = std::move(store);
  return Status::OK();
}

Store::~Store() { (void)Close(); }

uint32_t Store::PartitionOf(std::string_view key) const {
  return static_cast<uint32_t>(HashKey(key) % volumes_.size());
}

Status Store::FlushAll(uint32_t when) {
  Status first;
  for (auto& v : volumes_) {
    Status s = v->FlushAll(when);
    if (!s.ok() && first.ok()) first = s;
  }
  return first;
}

StoreStats Store::Stats() const {
  StoreStats st;
  st.partitions = partitions();
  for (const auto& v : volumes_) {
    VolumeStats s = v->Stats();
    VolumeStats& t = st.total;
    t.objects += s.objects;
    t.index_bytes += s.index_bytes;
    t.segments += s.segments;
    t.disk_bytes += s.disk_bytes;
    t.last_version = std::max(t.last_version, s.last_version);
    t.unsynced_bytes += s.unsynced_bytes;
    t.compactions += s.compactions;
    t.compaction_scanned += s.compaction_scanned;
    t.compaction_total += s.compaction_total;
    t.corrupt_records += s.corrupt_records;
    t.truncated_bytes += s.truncated_bytes;
    t.recovery_scanned_bytes += s.recovery_scanned_bytes;
    t.damaged_segments += s.damaged_segments;
    t.unreadable_segments += s.unreadable_segments;
    t.missing_segments += s.missing_segments;
    t.damaged = t.damaged || s.damaged;
    t.unavailable = t.unavailable || s.unavailable;
    if (s.damaged) st.damaged_partitions++;
    if (s.unavailable) st.unavailable_partitions++;
  }
  return st;
}

std::vector<PartitionDamage> Store::Damage() const {
  std::vector<PartitionDamage> out;
  for (uint32_t p = 0; p < volumes_.size(); p++) {
    for (DamageReport& d : volumes_[p]->Damage()) out.push_back({p, std::move(d)});
  }
  return out;
}

Status Store::Close() {
  Status first;
  for (auto& v : volumes_) {
    Status s = v->Close();
    if (!s.ok() && first.ok()) first = s;
  }
  return first;
}

}  // namespace bale
