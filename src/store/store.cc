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
  store->env_ = env;
  store->dir_ = options.dir;
  store->reserve_bytes_ = options.disk_reserve_bytes;
  store->log_ = options.log ? options.log : [](const std::string&) {};
  if (store->reserve_bytes_ > 0 && !store->MakeReserve()) {
    store->writes_refused_ = true;
    store->log_("no room for the " + std::to_string(store->reserve_bytes_ >> 20) +
                " MiB disk reserve: the disk is full, writes that add data fail until "
                "deletes and compaction free space");
  }
  store->sync_pool_ = std::make_unique<SyncPool>(kSyncThreads);
  VolumeOptions vo = options.volume;
  if (store->reserve_bytes_ > 0) {
    Store* raw = store.get();
    vo.on_no_space = [raw] { raw->OnNoSpace(); };
    vo.writes_refused = &store->writes_refused_;
  }
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
  std::vector<Volume*> volumes;
  for (auto& v : store->volumes_) volumes.push_back(v.get());
  store->compactor_ = std::make_unique<Compactor>(volumes, options.compaction, store->log_);
  if (store->reserve_bytes_ > 0) {
    Store* raw = store.get();
    store->compactor_->SetFullDiskCheck([raw] { return raw->CheckSpace(); });
  }
  store->compactor_->Start();
  *out = std::move(store);
  return Status::OK();
}

Store::~Store() { (void)Close(); }

std::string Store::ReservePath() const { return dir_ + "/" + format::kReserveFileName; }

bool Store::MakeReserve() {
  std::unique_ptr<File> f;
  uint64_t size = 0;
  if (env_->Open(ReservePath(), OpenMode::kReadWrite, &f).ok() && f->Size(&size).ok() &&
      size >= reserve_bytes_ && f->Allocate(reserve_bytes_).ok()) {
    return true;  // already there (allocated: a sparse file would reserve nothing)
  }
  f.reset();
  Status s = env_->Open(ReservePath(), OpenMode::kCreate, &f);
  if (s.ok()) s = f->Allocate(reserve_bytes_);
  if (s.ok()) s = f->Sync();
  if (s.ok()) return true;
  f.reset();
  (void)env_->Remove(ReservePath());
  return false;
}

void Store::OnNoSpace() {
  std::lock_guard<std::mutex> l(full_mu_);
  if (writes_refused_.exchange(true)) return;
  (void)env_->Remove(ReservePath());
  log_(
      "the disk is full: writes that add data fail (out of disk space) until deletes and "
      "compaction free space; the " +
      std::to_string(reserve_bytes_ >> 20) + " MiB reserve is released for them");
  if (compactor_) compactor_->Request();
}

bool Store::CheckSpace() {
  std::lock_guard<std::mutex> l(full_mu_);
  if (!writes_refused_.load()) return false;
  uint64_t free = 0;
  // Writes resume once the reserve can be set aside again with as much to spare.
  if (env_->FreeBytes(dir_, &free).ok() && free >= 2 * reserve_bytes_ && MakeReserve()) {
    writes_refused_ = false;
    log_("disk space is back (" + std::to_string(free >> 20) + " MiB free): writes resume");
    return false;
  }
  return true;
}

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
    t.dead_bytes += s.dead_bytes;
    t.last_version = std::max(t.last_version, s.last_version);
    t.unsynced_bytes += s.unsynced_bytes;
    t.compactions += s.compactions;
    t.compaction_scanned += s.compaction_scanned;
    t.compaction_total += s.compaction_total;
    t.corrupt_records += s.corrupt_records;
    t.checkpoint_failures += s.checkpoint_failures;
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
  if (compactor_) st.compactor = compactor_->totals();
  st.disk_full = writes_refused_.load();
  st.disk_reserve_bytes = reserve_bytes_;
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
  if (compactor_) compactor_->Stop();
  Status first;
  for (auto& v : volumes_) {
    Status s = v->Close();
    if (!s.ok() && first.ok()) first = s;
  }
  return first;
}

}  // namespace bale
