// Volume: compaction of a sealed segment.
//
// The segment (seq, g), sealed or the head, is copied to "seg-<seq>-<g+1>.dat.tmp" without its dead
// needles: overwritten or deleted ones (the index no longer points at them) and flushed ones are
// dropped; expired ones become tombstones so that no older copy of the key can come back;
// tombstones are kept unless the segment is the oldest, when nothing older remains for them to
// hide. The copy keeps the segment's salt, so kept needles are byte-for-byte the same (content type
// included).
//
// The head is copied the same way up to its end at the start; then, with the volume's
// writers held off, the records appended meanwhile are copied too, and the copy takes the
// head's place (and its appends) before they resume.
//
// Crash safety: the copy is synced and renamed to its final name; that rename is the
// commit point. Before it a restart deletes the .tmp file and the old segment stays
// authoritative; after it a restart keeps the newer generation and deletes the older.
// Then, while reads and writes go on, index entries move to the copy in small batches
// (readers find either copy valid), the old segment is dropped and a checkpoint written.
//
// Each record's fate is recorded, in scan order, in the CompactionPlan the compaction
// returns (store/compaction_plan.h); ApplyCompaction runs the same copy following a plan
// decided elsewhere instead of deciding (FollowPlanLocked), so that replicas of the
// segment end with the same needles.
//
// Touch records (format/needle.h) name a needle by its generation, which the copy
// replaces, so none that is live may name the old generation afterwards: a live touch
// record in the segment, and a value needle in it that a live touch record elsewhere
// names, are both merged into one value needle (the value with the record's expiry),
// to which the index then points. While the copy is made, Touch writes whole objects
// for needles of this segment (compacting_slot_). A restart ignores touch records whose
// generation is gone (volume_recovery.cc).
#include <chrono>
#include <optional>
#include <thread>
#include <utility>

#include "format/superblock.h"
#include "store/expiry.h"
#include "store/volume.h"

namespace bale {

namespace {

constexpr size_t kWriteChunk = 1 << 20;
constexpr size_t kRelocateBatch = 4096;
constexpr uint64_t kCheckpointAfterCompactionBytes = 8 << 20;

void Throttle(uint64_t bytes_per_s, uint64_t done, std::chrono::steady_clock::time_point start) {
  if (bytes_per_s == 0) return;
  auto due = start + std::chrono::microseconds(done * 1000000 / bytes_per_s);
  std::this_thread::sleep_until(due);
}

}  // namespace

// One record's fate: appended to the copy (as is, merged with its touch record, or as a
// tombstone) or dropped, and where the index entry it accounts for moves. Called with mu_
// held (shared or exclusive).
void Volume::CompactRecordLocked(const CompactionPass& pass, const NeedleScanner::Record& rec,
                                 std::string* buf, uint64_t written, CompactionResult* r) {
  format::NeedleHeader h = rec.header;
  std::string_view content_type = rec.content_type;
  std::string_view value = rec.value;
  uint32_t tag = Tag(rec.key);
  uint32_t from = static_cast<uint32_t>(rec.offset / format::kNeedleAlign);
  bool keep;
  bool indexed = false;
  Location at{pass.old_slot, from};  // what the index points at for this needle's object
  if (h.kind == format::NeedleKind::kTombstone) {
    keep = !pass.oldest;
  } else {
    indexed = index_.Contains(tag, at);
    Found touch;
    if (!indexed && pass.touch_targets && h.kind == format::NeedleKind::kValue &&
        FindToucherLocked(rec.key, tag, h, at, &touch)) {
      // Named by a live index entry's touch record elsewhere (one in this segment comes
      // later and is merged there): merge here, with the record's expiry.
      indexed = touch.loc.slot != pass.old_slot;
      at = touch.loc;
      h.expiry = touch.header.expiry;
    } else if (indexed && h.kind == format::NeedleKind::kTouch && IsLive(h, pass.now)) {
      Status ms = ReadNeedleLocked(at, &compaction_read_, /*whole=*/true);  // its object
      if (!ms.ok()) {
        pass_status_ = ms;
        return;
      }
      h = compaction_read_.header();
      content_type = compaction_read_.content_type();
      value = compaction_read_.value();
    }
    bool live = IsLive(h, pass.now);
    bool flushed = !live && !IsExpired(h.expiry, pass.now);
    keep = indexed && (live || (!flushed && !pass.oldest));
    if (keep && !live) {  // expired: a tombstone hides older copies of the key
      h.kind = format::NeedleKind::kTombstone;
      content_type = {};
      value = {};
    }
  }
  if (pass.follow != nullptr) {
    Status fs = FollowPlanLocked(pass, rec, indexed, &h, &content_type, &value, &keep);
    if (!fs.ok()) {
      pass_status_ = fs;
      return;
    }
  } else if (pass.plan != nullptr) {
    using Action = CompactionPlan::Action;
    bool tomb = h.kind == format::NeedleKind::kTombstone;
    bool same_expiry =
        h.expiry == rec.header.expiry && rec.header.kind != format::NeedleKind::kTouch;
    if (!keep) {
      pass.plan->Add(Action::kDrop);
    } else if (tomb && rec.header.kind != format::NeedleKind::kTombstone) {
      pass.plan->Add(same_expiry ? Action::kTombstone : Action::kTombstoneExpiry, h.expiry);
    } else {
      pass.plan->Add(same_expiry || tomb ? Action::kKeep : Action::kKeepExpiry, h.expiry);
    }
  }
  if (indexed) {
    uint32_t to = static_cast<uint32_t>((written + buf->size()) / format::kNeedleAlign);
    compaction_moves_.push_back({tag, at.slot, at.offset_units, to,
                                 !keep || h.kind == format::NeedleKind::kTombstone,
                                 h.version <= hidden_through_});
  }
  if (keep) {
    format::EncodeNeedle(pass.salt, h, rec.key, content_type, value, buf);
    r->needles_kept++;
  } else {
    r->needles_dropped++;
  }
}

// The planned action for one record, from the record alone (and, for a touch record
// merged with its object, what it names), so that every volume makes the same needle.
// The plan may keep what this volume's index no longer points at (written since), but
// not drop or change what it holds live: the plan was decided after the writes it saw.
Status Volume::FollowPlanLocked(const CompactionPass& pass, const NeedleScanner::Record& rec,
                                bool indexed, format::NeedleHeader* h,
                                std::string_view* content_type, std::string_view* value,
                                bool* keep) {
  using Action = CompactionPlan::Action;
  Action action;
  uint32_t expiry = 0;
  if (!pass.follow->Next(&action, &expiry)) {
    return Status::InvalidArgument("compaction plan has fewer records than the segment");
  }
  const bool live_here = indexed && *keep && h->kind != format::NeedleKind::kTombstone;
  const bool visible = action == Action::kKeep || action == Action::kKeepExpiry;
  uint32_t planned_expiry = action == Action::kKeepExpiry ? expiry : rec.header.expiry;
  if (live_here && (!visible || planned_expiry != h->expiry)) {
    return Status::Corruption("compaction plan drops or changes a live record @" +
                              std::to_string(rec.offset));
  }
  *h = rec.header;
  *content_type = rec.content_type;
  *value = rec.value;
  *keep = action != Action::kDrop;
  if (action == Action::kTombstone || action == Action::kTombstoneExpiry) {
    h->kind = format::NeedleKind::kTombstone;
    *content_type = {};
    *value = {};
  }
  if (action == Action::kKeepExpiry && rec.header.kind == format::NeedleKind::kTouch) {
    Location self{pass.old_slot, static_cast<uint32_t>(rec.offset / format::kNeedleAlign)};
    BALE_RETURN_IF_ERROR(ReadNeedleLocked(self, &compaction_read_, /*whole=*/true));
    *h = compaction_read_.header();
    *content_type = compaction_read_.content_type();
    *value = compaction_read_.value();
  }
  if (CompactionPlan::HasExpiry(action)) h->expiry = expiry;
  return Status::OK();
}

Status Volume::Compact(uint64_t seq, CompactionResult* result, const CompactionProgress& progress) {
  return RunCompaction(seq, nullptr, result, progress);
}

Status Volume::ApplyCompaction(const CompactionPlan& plan, CompactionResult* result) {
  return RunCompaction(plan.seq, &plan, result, {});
}

Status Volume::RunCompaction(uint64_t seq, const CompactionPlan* follow, CompactionResult* result,
                             const CompactionProgress& progress) {
  std::lock_guard<std::mutex> one_at_a_time(compaction_mu_);
  std::shared_ptr<Segment> old;
  CompactionPass pass;
  bool is_head = false;
  {
    std::unique_lock<std::shared_mutex> l(mu_);
    if (closed_) return Status::IOError("volume closed");
    // Flushed needles are dropped by what FLUSH says: not while it is unknown.
    if (!unavailable_.ok()) return unavailable_;
    size_t i = 0;
    while (i < order_.size() && slots_[order_[i]]->seq() != seq) i++;
    if (i == order_.size()) return Status::NotFound("no segment " + std::to_string(seq));
    is_head = i + 1 == order_.size();
    pass.old_slot = order_[i];
    old = slots_[pass.old_slot];
    if (follow != nullptr &&
        (old->generation() != follow->generation || old->end() != follow->end)) {
      return Status::InvalidArgument(
          "compaction plan for " + std::to_string(seq) + "/" + std::to_string(follow->generation) +
          " up to " + std::to_string(follow->end) + ": the segment is " +
          std::to_string(old->generation()) + " up to " + std::to_string(old->end()));
    }
    if (old->damaged()) {
      // The damaged file stays as it is, for bale verify and whoever repairs it.
      return Status::Corruption(old->path() + ": " + old->damage() + " (not compacted)");
    }
    // Tombstones may go only when nothing older is left for them to hide: not if an
    // older segment is missing (it may come back from a backup).
    pass.oldest = i == 0 && (missing_.empty() || missing_.front().first > seq);
    // Touches of this segment's needles write whole objects from here on.
    compacting_slot_ = pass.old_slot;
    pass.touch_targets = MayBeTouchTarget(pass.old_slot);
  }
  pass.salt = old->salt();
  CompactionResult r;
  std::optional<CompactionPlan::Cursor> cursor;
  if (follow != nullptr) {
    pass.now = follow->now;
    pass.follow = &cursor.emplace(*follow);
  } else {
    pass.now = Now();
    pass.plan = &r.plan;
    r.plan.seq = seq;
    r.plan.generation = old->generation();
    r.plan.now = pass.now;
  }
  struct EndCompaction {
    Volume* v;
    ~EndCompaction() {
      std::unique_lock<std::shared_mutex> l(v->mu_);
      v->compacting_slot_ = kNoSlot;
      v->compaction_moves_.clear();
      v->compaction_read_ = ReadResult();
    }
  } end_compaction{this};
  const uint32_t gen = old->generation() + 1;
  const std::string final_path = options_.dir + "/" + format::SegmentFileName(seq, gen);
  const std::string tmp_path = final_path + ".tmp";
  std::unique_ptr<Segment> out;
  BALE_RETURN_IF_ERROR(NoteNoSpace(Segment::Create(options_.env, tmp_path, options_.partition, seq,
                                                   gen, old->salt(), &out, /*sync=*/false)));
  auto fail = [&](Status s) {
    out.reset();
    (void)options_.env->Remove(tmp_path);
    return NoteNoSpace(std::move(s));
  };

  const uint64_t snapshot_end = old->end();
  compaction_total_.store(snapshot_end);
  compaction_scanned_.store(0);
  const auto start = std::chrono::steady_clock::now();
  std::string buf;
  uint64_t written = format::kSuperblockSize;
  // Copies [from, to) of the old segment; `hold` takes mu_ around each record (the head's
  // last pass runs with it already held).
  auto copy = [&](uint64_t from, uint64_t to, bool hold) -> Status {
    NeedleScanner scanner(old.get(), from, to);
    NeedleScanner::Record rec;
    for (;;) {
      uint64_t bad = 0;
      Status s = scanner.Next(&rec, &bad);
      if (s.IsNotFound()) return Status::OK();
      if (!s.ok()) {
        return Status::Corruption(old->path() + " @" + std::to_string(bad) + ": " +
                                  std::string(s.message()) + " (run bale verify)");
      }
      compaction_scanned_.fetch_add(rec.size);
      if (hold) {
        std::shared_lock<std::shared_mutex> l(mu_);
        CompactRecordLocked(pass, rec, &buf, written, &r);
      } else {
        CompactRecordLocked(pass, rec, &buf, written, &r);
      }
      BALE_RETURN_IF_ERROR(pass_status_);
      if (buf.size() >= kWriteChunk) {
        uint64_t at;
        BALE_RETURN_IF_ERROR(out->Append(buf, &at));
        written += buf.size();
        buf.clear();
        if (hold) Throttle(options_.compaction_bytes_per_s, scanner.position() + written, start);
        if (hold && progress) progress(compaction_scanned_.load(), snapshot_end);
      }
    }
  };
  pass_status_ = Status::OK();
  Status s = copy(format::kSuperblockSize, snapshot_end, true);
  if (s.ok() && !buf.empty()) {
    uint64_t at;
    s = out->Append(buf, &at);
    written += buf.size();
    buf.clear();
  }
  // The commit: the copy synced and renamed (a failure there leaves the old segment
  // authoritative), the rename made durable, the copy opened. A sealed segment's runs
  // before the writers' lock is taken; the head's (synced once, complete) under it.
  std::unique_ptr<Segment> copied;
  auto commit = [&]() -> Status {
    CompactionPlan::Action more;
    uint32_t expiry;
    if (follow != nullptr && cursor->Next(&more, &expiry)) {
      return fail(Status::InvalidArgument("compaction plan has more records than the segment"));
    }
    if (follow == nullptr) r.plan.end = is_head ? old->end() : snapshot_end;
    Status cs = out->Sync();
    if (cs.ok()) cs = options_.env->Rename(tmp_path, final_path);
    if (!cs.ok()) return fail(cs);
    out.reset();
    BALE_RETURN_IF_ERROR(options_.env->SyncDir(options_.dir));  // committed
    return Segment::Open(options_.env, final_path, is_head, &copied);
  };
  if (!s.ok()) return fail(s);
  if (!is_head) BALE_RETURN_IF_ERROR(commit());

  // No checkpoint may be taken while the index refers to both copies.
  std::lock_guard<std::mutex> no_checkpoint(checkpoint_mu_);
  std::unique_lock<std::shared_mutex> l(mu_);
  if (is_head) {
    // Writers wait from here: the records appended since the snapshot join the copy,
    // which then becomes the head.
    if (follow != nullptr && old->end() != follow->end) {
      s = Status::InvalidArgument("compaction plan covers the head up to " +
                                  std::to_string(follow->end) + ", it is at " +
                                  std::to_string(old->end()));
    }
    if (s.ok()) s = copy(snapshot_end, old->end(), false);
    if (s.ok() && !buf.empty()) {
      uint64_t at;
      s = out->Append(buf, &at);
      buf.clear();
    }
    if (!s.ok()) return fail(s);
    BALE_RETURN_IF_ERROR(commit());
  }
  r.bytes_before = old->end();
  r.bytes_after = copied->end();
  uint16_t new_slot = FreeSlotLocked();
  if (new_slot == slots_.size()) slots_.emplace_back();
  copied->Map(is_head ? std::max(copied->end(), options_.segment_bytes) : copied->end());
  slots_[new_slot] = std::move(copied);
  FreshSlotLocked(new_slot);
  StateLocked(pass.old_slot) = SlotState{};  // freed below
  for (uint16_t& slot : order_) {
    if (slot == pass.old_slot) slot = new_slot;
  }
  // Index entries move to the copy in batches, readers and writers going on between
  // them (a sealed segment; the head's move all at once, its writers still held off).
  for (size_t i = 0; i < compaction_moves_.size(); i++) {
    if (!is_head && i > 0 && i % kRelocateBatch == 0) {
      l.unlock();
      l.lock();
    }
    const Move& m = compaction_moves_[i];
    Location from{m.from_slot, m.from_units};
    if (m.drop) {
      if (index_.Erase(m.tag, from) && m.hidden) hidden_ -= hidden_ > 0;
    } else {
      index_.Replace(m.tag, from, Location{new_slot, m.to_units});
    }
  }
  slots_[pass.old_slot].reset();
  uint64_t volume_bytes = 0;
  for (uint16_t slot : order_) volume_bytes += slots_[slot]->end();
  l.unlock();
  // The checkpoint names the old generation now, so a restart would scan every segment:
  // a new one is written unless that scan costs less than writing it (a small volume,
  // where churn makes compactions frequent).
  if (volume_bytes > kCheckpointAfterCompactionBytes) {
    std::shared_lock<std::shared_mutex> rl(mu_);
    s = WriteCheckpointLocked();
  } else {
    since_checkpoint_.store(volume_bytes);  // what a restart scans now
  }
  old.reset();
  compactions_.fetch_add(1);
  compaction_reclaimed_.fetch_add(r.bytes_before - std::min(r.bytes_before, r.bytes_after));
  Status rs = options_.env->Remove(options_.dir + "/" + format::SegmentFileName(seq, gen - 1));
  if (result != nullptr) *result = std::move(r);
  return s.ok() ? rs : s;
}

}  // namespace bale
