// Store's flush_all marker, FLUSH_ALL (format/store_flush.h): read at open, with damage
// contained to the partitions whose rules it touches, and replaced whole by FlushAll.
#include "format/store_flush.h"

#include "format/store_meta.h"
#include "format/volume_meta.h"
#include "store/store.h"

namespace bale {

namespace {

// The problem that lost partition p's rule.
const format::StoreFlushProblem* LostBy(const format::StoreFlushContents& flush, uint32_t p) {
  for (const format::StoreFlushProblem& pr : flush.problems) {
    if (pr.LosesRules() && pr.first <= p && p <= pr.last) return &pr;
  }
  return nullptr;
}

}  // namespace

void Store::TakeFlushRule(uint32_t p, Volume* v, bool opened,
                          const format::StoreFlushContents& flush) {
  if (flush.rules.empty()) return;  // no FLUSH_ALL
  if (flush.readable[p]) {
    v->ApplyFlush(flush.rules[p]);
    return;
  }
  rule_unknown_[p] = true;
  const format::StoreFlushProblem* pr = LostBy(flush, p);
  if (opened && pr != nullptr) {
    v->MarkFlushDamaged(dir_ + "/" + format::kStoreFlushFileName, pr->offset, pr->what);
  }
}

void Store::NoteFlushDamage(const format::StoreFlushContents& flush) {
  const std::string path = dir_ + "/" + format::kStoreFlushFileName;
  std::lock_guard<std::mutex> l(damage_mu_);
  for (const format::StoreFlushProblem& pr : flush.problems) {
    if (!pr.LosesRules()) {
      damage_.push_back({DamageKind::kBadFlushMarker, path, pr.offset,
                         pr.what + ": no partition's rule is lost; the next flush_all "
                                   "writes a new marker"});
      continue;
    }
    bool held = false;
    for (uint32_t p : map_.held()) held |= pr.first <= p && p <= pr.last;
    if (held) continue;  // the partitions report it
    damage_.push_back({DamageKind::kBadFlushMarker, path, pr.offset,
                       pr.what + " (the rules of partitions " + std::to_string(pr.first) + ".." +
                           std::to_string(pr.last) +
                           ", not held here): a delayed flush_all fails until one without a delay "
                           "writes a new marker"});
  }
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
// The new marker is whole: it also replaces one that was damaged.
Status Store::FlushAll(uint32_t when) {
  std::lock_guard<std::mutex> l(flush_mu_);
  std::vector<format::FlushRule> rules;
  rules.reserve(volumes_.size());
  for (uint32_t p = 0; p < volumes_.size(); p++) {
    Volume* v = volumes_[p].get();
    rules.push_back(v->PlanFlush(when));
    // A partition whose flush state is unknown (its FLUSH damaged, or its rule in
    // FLUSH_ALL) takes only a flush that hides everything so far (which repairs it): a
    // delayed one changes nothing anywhere.
    if (rules.back().flush_time != 0 && (v->flush_damaged() || rule_unknown_[p])) {
      return Status::Unavailable("partition " + std::to_string(p) + " unavailable: " +
                                 (v->flush_damaged() ? "its FLUSH marker is damaged"
                                                     : "its rule in FLUSH_ALL is damaged") +
                                 "; only flush_all without a delay repairs it");
    }
  }
  std::string marker = format::EncodeStoreFlush(rules);
  BALE_RETURN_IF_ERROR(ReplaceFlushMarker(marker));
  flush_marker_ = std::move(marker);
  for (size_t p = 0; p < volumes_.size(); p++) volumes_[p]->ApplyFlush(rules[p]);
  rule_unknown_.assign(volumes_.size(), false);
  flush_all_damaged_ = false;
  {
    std::lock_guard<std::mutex> dl(damage_mu_);
    damage_.clear();
  }
  if (legacy_flush_) {
    // Superseded by FLUSH_ALL (and ignored while it exists): tidy up, best effort.
    for (uint32_t p : map_.held()) {
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

}  // namespace bale
