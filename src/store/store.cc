#include "store/store.h"

#include <algorithm>
#include <thread>

#include "base/checksum.h"
#include "format/journal.h"
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
  uint32_t wanted = options.partitions;
  if (options.cluster_map) {
    uint32_t count = options.cluster_map->partition_count();
    if (wanted != 0 && wanted != count) {
      return Status::InvalidArgument("the cluster map has " + std::to_string(count) +
                                     " partitions, not " + std::to_string(wanted));
    }
    wanted = count;
    if (options.cluster_map->held().empty()) {
      return Status::InvalidArgument("the cluster map holds no partition here");
    }
  }
  Status s = ReadWholeFile(env, marker_path, &marker);
  if (s.ok()) {
    BALE_RETURN_IF_ERROR(format::DecodeStoreMarker(marker, &partitions));
    if (wanted != 0 && wanted != partitions) {
      return Status::InvalidArgument(options.dir + " was created with " +
                                     std::to_string(partitions) + " partitions, not " +
                                     std::to_string(wanted));
    }
  } else if (s.IsNotFound()) {
    partitions = wanted != 0 ? wanted : kDefaultPartitions;
    if (partitions > 65536) return Status::InvalidArgument("at most 65536 partitions");
    BALE_RETURN_IF_ERROR(WriteFileAtomic(env, marker_path, format::EncodeStoreMarker(partitions)));
  } else {
    return s;
  }
  // FLUSH_ALL, if a flush_all ever succeeded; a .tmp beside it is one that never did.
  std::string flush_path = options.dir + "/" + format::kStoreFlushFileName;
  if (env->Exists(flush_path + ".tmp")) BALE_RETURN_IF_ERROR(env->Remove(flush_path + ".tmp"));
  std::string flush_marker;
  format::StoreFlushContents flush;  // no rules: there is no marker
  bool flush_damaged = false;
  s = ReadWholeFile(env, flush_path, &flush_marker);
  if (s.ok()) {
    // Damage loses only the rules it touches (TakeFlushRule, NoteFlushDamage).
    flush_damaged = !format::DecodeStoreFlush(flush_marker, partitions, &flush).ok();
  } else if (!s.IsNotFound()) {
    return s;
  }
  std::unique_ptr<Store> store(new Store());
  store->dir_ = options.dir;
  store->env_ = env;
  store->map_ = options.cluster_map ? *options.cluster_map : ClusterMap::AllLocal(partitions);
  const std::vector<uint32_t>& held = store->map_.held();
  store->flush_marker_ = std::move(flush_marker);
  store->rule_unknown_.assign(partitions, false);
  store->flush_all_damaged_ = flush_damaged;
  store->lock_ = std::move(lock);
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
  BALE_RETURN_IF_ERROR(store->StartJournal(options, &vo));
  // Held volumes open in parallel (recovery reads checkpoints and scans tails: restart
  // time); the others are not touched.
  std::vector<std::unique_ptr<Volume>> opened(partitions);
  std::vector<Status> statuses(partitions);
  std::atomic<size_t> next{0};
  auto open_some = [&] {
    for (size_t i; (i = next.fetch_add(1)) < held.size();) {
      uint32_t p = held[i];
      VolumeOptions o = vo;
      o.dir = options.dir + "/" + format::PartitionDirName(p);
      o.partition = p;
      statuses[p] = Volume::Open(o, &opened[p]);
    }
  };
  std::vector<std::thread> openers;
  unsigned threads = std::min<unsigned>(static_cast<unsigned>(held.size()),
                                        std::max(2u, std::thread::hardware_concurrency()));
  for (unsigned t = 1; t < threads; t++) openers.emplace_back(open_some);
  open_some();
  for (std::thread& t : openers) t.join();
  Status first_failure;
  uint32_t failed = 0;
  for (uint32_t p = 0; p < partitions; p++) {
    vo.dir = options.dir + "/" + format::PartitionDirName(p);
    vo.partition = p;
    if (!store->map_.Holds(p)) {
      VolumeOptions not_held;
      not_held.dir = vo.dir;
      not_held.partition = p;
      std::unique_ptr<Volume> v = Volume::NotHeld(not_held);
      // Its flush state is kept (FLUSH_ALL names every partition) for the next marker.
      store->TakeFlushRule(p, v.get(), /*opened=*/false, flush);
      store->volumes_.push_back(std::move(v));
      continue;
    }
    std::unique_ptr<Volume> v = std::move(opened[p]);
    const Status& vs = statuses[p];
    if (!vs.ok()) {
      // Contained: this partition's keys answer Unavailable, the others serve.
      if (failed++ == 0) first_failure = vs;
      v = Volume::Unavailable(vo, vs);
    }
    // The store's marker supersedes the partition's own (written by earlier builds); a
    // rule in it that cannot be read leaves the partition unsure of what flush_all hid
    // (store/damage.h).
    store->TakeFlushRule(p, v.get(), vs.ok(), flush);
    store->legacy_flush_ |= env->Exists(vo.dir + "/" + format::kFlushFileName);
    store->volumes_.push_back(std::move(v));
  }
  if (failed == held.size()) return first_failure;  // nothing to serve
  store->NoteFlushDamage(flush);
  for (uint32_t p : held) {
    if (statuses[p].ok()) store->opened_.push_back(store->volumes_[p].get());
  }
  BALE_RETURN_IF_ERROR(store->RemoveReplayedJournal());
  std::vector<Volume*> volumes;
  for (uint32_t p : held) volumes.push_back(store->volumes_[p].get());
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

Status Store::StartJournal(const StoreOptions& options, VolumeOptions* vo) {
  BALE_RETURN_IF_ERROR(ReplayJournal(env_, dir_, &replayed_));
  if (vo->durability != Durability::kSync) return Status::OK();
  Journal::Options jo;
  jo.env = env_;
  jo.dir = dir_ + "/" + format::kJournalDirName;
  jo.file_bytes = options.journal_file_bytes;
  jo.sync_segments = [this] { return SyncOpenedVolumes(); };
  jo.log = log_;
  Status s = Journal::Open(jo, replayed_.last_seq + 1, &journal_);
  if (s.IsNoSpace()) {
    // A full disk: serve anyway (writes that add data are refused then), each sync write
    // waiting for its partition's own fdatasync, until a start finds room.
    journal_.reset();
    replayed_.notes.push_back("no room to start a journal file (" + s.ToString() +
                              "): sync writes fdatasync their partitions instead until the "
                              "next start");
    return Status::OK();
  }
  BALE_RETURN_IF_ERROR(s);
  vo->journal = journal_.get();
  return Status::OK();
}

Status Store::RemoveReplayedJournal() {
  if (replayed_.files == 0) return Status::OK();
  uint64_t removed = 0;
  return RemoveJournalFiles(env_, dir_ + "/" + format::kJournalDirName, replayed_.last_seq,
                            &removed);
}

Status Store::SyncOpenedVolumes() { return sync_pool_->SyncAll(opened_); }

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
  st.journaled = journal_ != nullptr;
  if (journal_) st.journal = journal_->Stats();
  st.replayed = replayed_;
  st.replayed.notes.clear();
  st.held_partitions = static_cast<uint32_t>(map_.held().size());
  for (uint32_t p : map_.held()) {
    VolumeStats s = volumes_[p]->Stats();
    VolumeStats& t = st.total;
    t.objects += s.objects;
    t.index_bytes += s.index_bytes;
    t.segments += s.segments;
    t.disk_bytes += s.disk_bytes;
    t.dead_bytes += s.dead_bytes;
    t.last_version = std::max(t.last_version, s.last_version);
    t.unsynced_bytes += s.unsynced_bytes;
    t.compactions += s.compactions;
    t.compaction_reclaimed += s.compaction_reclaimed;
    t.compaction_scanned += s.compaction_scanned;
    t.compaction_total += s.compaction_total;
    t.corrupt_records += s.corrupt_records;
    t.checkpoint_failures += s.checkpoint_failures;
    t.inline_compactions += s.inline_compactions;
    t.truncated_bytes += s.truncated_bytes;
    t.recovery_scanned_bytes += s.recovery_scanned_bytes;
    t.damaged_segments += s.damaged_segments;
    t.unreadable_segments += s.unreadable_segments;
    t.missing_segments += s.missing_segments;
    t.live_objects += s.live_objects;
    t.live_bytes += s.live_bytes;
    t.expired_reads += s.expired_reads;
    t.flushed_reads += s.flushed_reads;
    if (s.oldest_mtime != 0 && (t.oldest_mtime == 0 || s.oldest_mtime < t.oldest_mtime)) {
      t.oldest_mtime = s.oldest_mtime;
    }
    t.damaged = t.damaged || s.damaged;
    t.unavailable = t.unavailable || s.unavailable;
    if (s.damaged) st.damaged_partitions++;
    if (s.unavailable) st.unavailable_partitions++;
  }
  if (compactor_) st.compactor = compactor_->totals();
  st.disk_full = writes_refused_.load();
  st.flush_all_damaged = flush_all_damaged_.load();
  st.disk_reserve_bytes = reserve_bytes_;
  // With the journal, what a power loss could take is what it has not flushed (the
  // segments' lag is covered by it).
  if (journal_) st.total.unsynced_bytes = st.journal.unflushed;
  return st;
}

std::vector<PartitionDamage> Store::Damage() const {
  std::vector<PartitionDamage> out;
  for (uint32_t p : map_.held()) {
    for (DamageReport& d : volumes_[p]->Damage()) out.push_back({p, std::move(d)});
  }
  std::lock_guard<std::mutex> l(damage_mu_);
  for (const DamageReport& d : damage_) out.push_back({PartitionDamage::kStoreWide, d});
  return out;
}

Status Store::Close() {
  if (compactor_) compactor_->Stop();
  if (journal_) journal_->Stop();  // no rotation syncs volumes while they close
  Status first;
  for (auto& v : volumes_) {
    Status s = v->Close();
    if (!s.ok() && first.ok()) first = s;
  }
  // Every volume synced: the journal is no longer needed (else a restart replays it).
  if (journal_ && first.ok()) first = journal_->Retire();
  return first;
}

}  // namespace bale
