#include "store/store.h"

#include <algorithm>

#include "base/checksum.h"
#include "format/store_flush.h"
#include "format/store_meta.h"
#include "format/volume_meta.h"

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
  // FLUSH_ALL, if a flush_all ever succeeded; a .tmp beside it is one that never did.
  std::string flush_path = options.dir + "/" + format::kStoreFlushFileName;
  if (env->Exists(flush_path + ".tmp")) BALE_RETURN_IF_ERROR(env->Remove(flush_path + ".tmp"));
  std::string flush_marker;
  std::vector<format::FlushRule> rules;
  s = ReadWholeFile(env, flush_path, &flush_marker);
  if (s.ok()) {
    s = format::DecodeStoreFlush(flush_marker, partitions, &rules);
    if (!s.ok()) return Status::Corruption(flush_path + ": " + std::string(s.message()));
  } else if (!s.IsNotFound()) {
    return s;
  }
  std::unique_ptr<Store> store(new Store());
  store->dir_ = options.dir;
  store->env_ = env;
  store->flush_marker_ = std::move(flush_marker);
  store->lock_ = std::move(lock);
  store->sync_pool_ = std::make_unique<SyncPool>(kSyncThreads);
  VolumeOptions vo = options.volume;
  if (vo.durability == Durability::kInterval) {
    store->syncer_ = std::make_unique<Syncer>(vo.interval_ms, store->sync_pool_.get());
    vo.syncer = store->syncer_.get();
  }
  for (uint32_t p = 0; p < partitions; p++) {
    vo.dir = options.dir + "/" + format::PartitionDirName(p);
    vo.partition = p;
    std::unique_ptr<Volume> v;
    BALE_RETURN_IF_ERROR(Volume::Open(vo, &v));
    // The store's marker supersedes the partition's own (written by earlier builds).
    if (!rules.empty()) v->ApplyFlush(rules[p]);
    store->legacy_flush_ |= env->Exists(vo.dir + "/" + format::kFlushFileName);
    store->volumes_.push_back(std::move(v));
  }
  *out = std::move(store);
  return Status::OK();
}

Store::~Store() { (void)Close(); }

uint32_t Store::PartitionOf(std::string_view key) const {
  return static_cast<uint32_t>(HashKey(key) % volumes_.size());
}

// The steps, and what a crash between two of them leaves:
// 1. every partition's new rule is computed (nothing changes);
// 2. FLUSH_ALL.tmp is written and fdatasync'ed (a crash: the old marker holds; the .tmp
//    is removed at the next open);
// 3. it is renamed over FLUSH_ALL, the commit point, and the directory fsync'ed (a
//    crash in between: old or new marker, the flush was not answered);
// 4. the rules are applied in memory, and the answer is OK.
// A failure before the rename changes nothing. A failed directory fsync leaves the
// rename's fate to the OS, so the previous marker is put back (ReplaceFlushMarker).
Status Store::FlushAll(uint32_t when) {
  std::lock_guard<std::mutex> l(flush_mu_);
  std::vector<format::FlushRule> rules;
  rules.reserve(volumes_.size());
  for (auto& v : volumes_) rules.push_back(v->PlanFlush(when));
  std::string marker = format::EncodeStoreFlush(rules);
  BALE_RETURN_IF_ERROR(ReplaceFlushMarker(marker));
  flush_marker_ = std::move(marker);
  for (size_t p = 0; p < volumes_.size(); p++) volumes_[p]->ApplyFlush(rules[p]);
  if (legacy_flush_) {
    // Superseded by FLUSH_ALL (and ignored while it exists): tidy up, best effort.
    for (uint32_t p = 0; p < volumes_.size(); p++) {
      std::string path = dir_ + "/" + format::PartitionDirName(p) + "/" + format::kFlushFileName;
      if (env_->Exists(path)) (void)env_->Remove(path);
    }
    legacy_flush_ = false;
  }
  return Status::OK();
}

Status Store::ReplaceFlushMarker(const std::string& bytes) {
  std::string path = dir_ + "/" + format::kStoreFlushFileName;
  std::string tmp = path + ".tmp";
  std::unique_ptr<File> f;
  BALE_RETURN_IF_ERROR(env_->Open(tmp, OpenMode::kCreate, &f));
  Status s = f->PWrite(0, bytes);
  if (s.ok()) s = f->Sync();
  f.reset();
  if (s.ok()) s = env_->Rename(tmp, path);
  if (!s.ok()) {
    (void)env_->Remove(tmp);
    return s;
  }
  s = env_->SyncDir(dir_);
  if (s.ok()) return Status::OK();
  // Whether the rename survives a power loss is unknown: put the previous marker back,
  // so that the flush is not in effect after a restart when its answer is an error.
  Status undo;
  if (flush_marker_.empty()) {
    undo = env_->Remove(path);
    if (undo.ok()) undo = env_->SyncDir(dir_);
  } else {
    undo = WriteFileAtomic(env_, path, flush_marker_);
  }
  if (undo.ok()) return s;
  return Status::IOError(std::string(s.message()) + "; putting the previous " + path +
                         " back failed too (" + std::string(undo.message()) +
                         "): the flush may take effect at the next start");
}

Status Store::WriteAtomic(std::span<WriteOp> ops, bool wait, std::vector<Volume*>* written) {
  // Each volume's ops must lie together: copy them grouped by partition, in op order
  // within each, and copy the outcome back.
  std::vector<uint32_t> part(ops.size());
  std::vector<size_t> count(volumes_.size() + 1, 0);
  for (size_t i = 0; i < ops.size(); i++) {
    part[i] = PartitionOf(ops[i].key);
    count[part[i] + 1]++;
  }
  for (size_t p = 1; p < count.size(); p++) count[p] += count[p - 1];  // start of each group
  std::vector<WriteOp> grouped(ops.size());
  std::vector<size_t> at(ops.size());
  std::vector<size_t> next(count.begin(), count.end() - 1);
  for (size_t i = 0; i < ops.size(); i++) {
    at[i] = next[part[i]]++;
    grouped[at[i]] = ops[i];
  }
  std::vector<VolumeWrite> writes;
  for (uint32_t p = 0; p < volumes_.size(); p++) {
    if (count[p + 1] == count[p]) continue;
    writes.push_back(VolumeWrite{
        volumes_[p].get(), std::span<WriteOp>(grouped).subspan(count[p], count[p + 1] - count[p])});
  }
  Status s = Volume::WriteAcross(writes, wait);
  for (size_t i = 0; i < ops.size(); i++) {
    ops[i].status = grouped[at[i]].status;
    ops[i].version = grouped[at[i]].version;
    ops[i].cookie = grouped[at[i]].cookie;
  }
  if (written != nullptr) {
    written->clear();
    if (s.ok()) {
      for (const VolumeWrite& w : writes) written->push_back(w.volume);
    }
  }
  return s;
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
  }
  return st;
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
