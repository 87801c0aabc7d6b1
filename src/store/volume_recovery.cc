// Volume: opening and recovery.
//
// 1. Leftovers of interrupted work are removed: *.tmp files, and for a segment that a
//    committed compaction rewrote, the older generation.
// 2. index.ckpt is loaded if it names exactly the segments on disk; otherwise the index
//    is rebuilt by scanning every segment.
// 3. The tail the checkpoint does not cover is scanned. In the head segment a record
//    that the file ends inside (or ends in zeros inside) with nothing valid after it is
//    a torn write: the file is cut there. Any other bad record is corruption: it is
//    skipped, counted and reported, and stays on disk with every record after it.
// Damage (store/damage.h) is contained: a segment whose superblock is damaged is read
// with the salt its needles agree on and a new head takes the appends; missing sequence
// numbers are reported; a damaged FLUSH leaves the volume open but unavailable.
#include <algorithm>
#include <map>

#include "format/checkpoint.h"
#include "format/superblock.h"
#include "format/volume_meta.h"
#include "store/damage.h"
#include "store/syncer.h"
#include "store/volume.h"

namespace bale {

Status Volume::Open(const VolumeOptions& options, std::unique_ptr<Volume>* out) {
  if (options.dir.empty()) return Status::InvalidArgument("volume needs a directory");
  if (options.segment_bytes < 4096) return Status::InvalidArgument("segment_bytes too small");
  std::unique_ptr<Volume> v(new Volume(options));
  BALE_RETURN_IF_ERROR(v->Recover());
  v->opened_ = true;
  v->synced_ = v->appended_.load();
  if (options.durability == Durability::kInterval) {
    if (options.syncer != nullptr) {
      options.syncer->Add(v.get());
    } else {
      v->own_syncer_ = std::make_unique<Syncer>(options.interval_ms);
      v->own_syncer_->Add(v.get());
    }
  }
  *out = std::move(v);
  return Status::OK();
}

std::unique_ptr<Volume> Volume::Unavailable(const VolumeOptions& options, const Status& why) {
  std::unique_ptr<Volume> v(new Volume(options));
  v->unavailable_ = Status::Unavailable("partition " + std::to_string(options.partition) +
                                        " unavailable: " + why.ToString());
  v->AddDamage(DamageKind::kUnavailable, options.dir, 0,
               "the partition could not open (" + why.ToString() +
                   "): its keys answer errors, the other partitions serve");
  return v;
}

std::unique_ptr<Volume> Volume::NotHeld(const VolumeOptions& options) {
  std::unique_ptr<Volume> v(new Volume(options));
  v->unavailable_ = Status::Unavailable("partition " + std::to_string(options.partition) +
                                        " is not held by this node");
  return v;
}

void Volume::AddDamage(DamageKind kind, std::string path, uint64_t offset, std::string what) {
  if (kind != DamageKind::kTornTail) damaged_ = true;
  if (damage_.size() >= kMaxDamageReports) return;
  damage_.push_back(DamageReport{kind, std::move(path), offset, std::move(what)});
}

namespace {

// A Corruption's message without the "path: " Segment::Open puts first.
std::string Why(const Status& s, const std::string& path) {
  std::string why(s.message());
  if (why.rfind(path + ": ", 0) == 0) why.erase(0, path.size() + 2);
  return why;
}

}  // namespace

Status Volume::OpenSegments(bool* created) {
  Env* env = options_.env;
  const std::string& dir = options_.dir;
  BALE_RETURN_IF_ERROR(env->CreateDir(dir));
  std::vector<std::string> names;
  BALE_RETURN_IF_ERROR(env->ListDir(dir, &names));
  std::map<uint64_t, uint32_t> newest;  // seq -> highest generation
  std::vector<std::pair<uint64_t, uint32_t>> all;
  for (const std::string& n : names) {
    if (n.size() > 4 && n.compare(n.size() - 4, 4, ".tmp") == 0) {
      BALE_RETURN_IF_ERROR(env->Remove(dir + "/" + n));
      continue;
    }
    uint64_t seq;
    uint32_t gen;
    if (!format::ParseSegmentFileName(n, &seq, &gen)) continue;
    all.emplace_back(seq, gen);
    newest[seq] = std::max(newest[seq], gen);
  }
  for (auto [seq, gen] : all) {  // a committed compaction left the old generation behind
    if (gen == newest[seq]) continue;
    // Unless the newer copy is damaged: then the older is kept (and not used).
    std::unique_ptr<Segment> probe;
    if (!Segment::Open(env, dir + "/" + format::SegmentFileName(seq, newest[seq]), false, &probe)
             .ok()) {
      continue;
    }
    BALE_RETURN_IF_ERROR(env->Remove(dir + "/" + format::SegmentFileName(seq, gen)));
  }
  // The segments index.ckpt names existed when it was written: a best effort (a damaged
  // checkpoint names none), to find a missing oldest or newest segment.
  std::map<uint64_t, uint32_t> named;
  {
    format::CheckpointHeader h;
    uint64_t bad = 0;
    if (ReadCheckpointTable(env, dir + "/" + format::kCheckpointFileName, false, &h, &bad).ok() &&
        h.partition == options_.partition) {
      for (const auto& cs : h.segments) named[cs.seq] = cs.generation;
    }
  }
  uint64_t removed = 0;  // a head that held no needle and was deleted
  size_t i = 0;
  for (auto [seq, gen] : newest) {
    bool is_head = ++i == newest.size();
    std::string path = dir + "/" + format::SegmentFileName(seq, gen);
    std::unique_ptr<Segment> seg;
    Status s = Segment::Open(env, path, is_head, &seg);
    if (s.ok() &&
        (seg->partition() != options_.partition || seg->seq() != seq || seg->generation() != gen)) {
      // An intact superblock that names another place is a misplaced file, not bit rot:
      // the volume does not open (and writes nothing) until it is put back.
      return Status::Corruption(path + ": superblock names partition " +
                                std::to_string(seg->partition()) + ", segment " +
                                std::to_string(seg->seq()) + " generation " +
                                std::to_string(seg->generation()) + ": a misplaced file");
    }
    if (!s.ok() && !s.IsCorruption()) return s;
    if (!s.ok()) {
      std::unique_ptr<File> f;
      uint64_t size = 0;
      if (is_head && env->Open(path, OpenMode::kRead, &f).ok() && f->Size(&size).ok() &&
          size <= format::kSuperblockSize) {
        // A head whose superblock never reached the disk holds no acknowledged data.
        f.reset();
        BALE_RETURN_IF_ERROR(env->Remove(path));
        removed = seq;
        break;
      }
      std::string why = Why(s, path);
      BALE_RETURN_IF_ERROR(
          Segment::OpenDamaged(env, path, options_.partition, seq, gen, why, &seg));
      damaged_segments_++;
      if (seg->salt_known()) {
        AddDamage(DamageKind::kDamagedSuperblock, path, 0,
                  why +
                      ": its records are read with the salt its needles agree on; it takes "
                      "no more writes and is not compacted");
      } else {
        unreadable_segments_++;
        AddDamage(DamageKind::kUnreadableSegment, path, 0,
                  why +
                      ", and no two of its needles agree on a salt: none of its records can "
                      "be checked, so none is read");
      }
    }
    slots_.push_back(std::move(seg));
    order_.push_back(static_cast<uint16_t>(slots_.size() - 1));
  }
  // Sequence numbers run from 1 to the newest segment without gaps.
  uint64_t highest = newest.empty() ? 0 : newest.rbegin()->first;
  if (!named.empty()) highest = std::max(highest, named.rbegin()->first);
  const bool reuse_removed = removed != 0 && removed == highest;
  std::vector<uint64_t> present;
  for (uint16_t slot : order_) present.push_back(slots_[slot]->seq());
  if (reuse_removed) present.push_back(removed);
  for (auto [first, last] : MissingSequences(present, highest)) {
    missing_.emplace_back(first, last);
    missing_segments_ += last - first + 1;
    bool listed =
        named.lower_bound(first) != named.end() && named.lower_bound(first)->first <= last;
    AddDamage(DamageKind::kMissingSegment, dir + "/" + MissingRangeName(first, last), 0,
              std::string(first == last ? "missing segment " : "missing segments ") +
                  std::to_string(first) + (first == last ? "" : ".." + std::to_string(last)) +
                  " of 1.." + std::to_string(highest) + (listed ? " (index.ckpt lists it)" : "") +
                  ": the objects last written there are lost (an older copy, if any, is "
                  "served)");
  }
  const Segment* last = order_.empty() ? nullptr : slots_[order_.back()].get();
  if (last != nullptr && !last->damaged() && last->seq() == highest) return Status::OK();
  // A new head: none is left, or the newest is damaged (never written to again), or
  // newer ones are missing (appends go after every sequence number ever used, so a
  // restored segment finds its place).
  *created = order_.empty();
  uint64_t seq = reuse_removed ? removed : highest + 1;
  std::unique_ptr<Segment> seg;
  BALE_RETURN_IF_ERROR(Segment::Create(env, dir + "/" + format::SegmentFileName(seq, 0),
                                       options_.partition, seq, 0, NewSegmentSalt(), &seg));
  BALE_RETURN_IF_ERROR(env->SyncDir(dir));
  slots_.push_back(std::move(seg));
  order_.push_back(static_cast<uint16_t>(slots_.size() - 1));
  return Status::OK();
}

Status Volume::Recover() {
  bool created = false;
  BALE_RETURN_IF_ERROR(OpenSegments(&created));
  uint64_t scan_seq = 0, scan_offset = 0;
  Status s = created ? Status::NotFound() : LoadCheckpoint(&scan_seq, &scan_offset);
  if (!s.ok()) {
    if (!s.IsNotFound() && !s.IsCorruption()) return s;
    index_.Clear();
    last_version_ = 0;
    scan_seq = slots_[order_.front()]->seq();
    scan_offset = format::kSuperblockSize;
  }
  recovery_used_checkpoint_ = s.ok();
  uint64_t scanned = 0;
  BALE_RETURN_IF_ERROR(ScanFrom(scan_seq, scan_offset, &scanned));
  // The scan counted the dead bytes of what it covered; of what the checkpoint covered
  // nothing is known until the compactor surveys it (SurveyDead).
  for (uint16_t slot : order_) {
    uint64_t seq = slots_[slot]->seq();
    bool whole = seq > scan_seq || (seq == scan_seq && scan_offset <= format::kSuperblockSize);
    StateLocked(slot).dead_known = whole;
  }
  recovery_scanned_ = scanned;

  BALE_RETURN_IF_ERROR(ReadLegacyFlushMarker());
  uint64_t total = 0;
  for (uint16_t slot : order_) {
    Segment* seg = slots_[slot].get();
    total += seg->end();
    seg->Map(slot == order_.back() ? std::max(seg->end(), options_.segment_bytes) : seg->end());
  }
  appended_.store(total);
  if (scanned > 0 || !s.ok()) {
    // Without free space the checkpoint waits: the volume opens and serves reads, and
    // the next start scans the same tail again.
    Status cs = WriteCheckpointLocked();
    if (cs.IsNoSpace()) {
      checkpoint_failures_.fetch_add(1);
    } else {
      BALE_RETURN_IF_ERROR(cs);
    }
  }
  return Status::OK();
}

// The per-volume flush marker earlier builds wrote (format/volume_meta.h). A Store
// replaces what it says when the data directory has a FLUSH_ALL marker.
void Volume::MarkFlushDamaged(const std::string& path, uint64_t offset, const std::string& why) {
  // Which objects flush_all hid is unknown: any answer could be wrong (a flushed object
  // served, or a live one missed), so the partition answers none.
  flush_damaged_ = true;
  std::string name = path.substr(path.rfind('/') + 1);
  unavailable_ = Status::Unavailable("partition " + std::to_string(options_.partition) +
                                     " unavailable: its " + name + " marker is damaged (" + why +
                                     "); flush_all without a delay repairs it");
  AddDamage(DamageKind::kBadFlushMarker, path, offset,
            why +
                ": which objects flush_all hid is unknown, so the partition answers errors "
                "until flush_all (without a delay) writes a new marker");
  damaged_ = true;
}

Status Volume::ReadLegacyFlushMarker() {
  std::string marker;
  Status s = ReadWholeFile(options_.env, options_.dir + "/" + format::kFlushFileName, &marker);
  if (s.IsNotFound()) return Status::OK();
  BALE_RETURN_IF_ERROR(s);
  format::FlushMarker m;
  Status ds = format::DecodeFlushMarker(marker, &m);
  if (!ds.ok()) {
    MarkFlushDamaged(options_.dir + "/" + format::kFlushFileName, 0, std::string(ds.message()));
    return Status::OK();
  }
  flush_ = format::FlushRule{m.flush_version, m.flush_time, 0};
  // Needles up to flush_version may have been lost with an unsynced tail: never hand
  // their versions out again.
  last_version_ = std::max(last_version_, m.flush_version);
  return Status::OK();
}

Status Volume::ScanFrom(uint64_t seq, uint64_t offset, uint64_t* scanned) {
  for (size_t i = 0; i < order_.size(); i++) {
    uint16_t slot = order_[i];
    Segment* seg = slots_[slot].get();
    if (seg->seq() < seq) continue;
    if (!seg->salt_known()) continue;  // reported: none of its records can be checked
    bool is_head = i + 1 == order_.size();
    uint64_t start = seg->seq() == seq ? offset : format::kSuperblockSize;
    NeedleScanner scanner(seg, start, seg->end());
    NeedleScanner::Record rec;
    for (;;) {
      uint64_t bad = 0;
      Status s = scanner.Next(&rec, &bad);
      if (s.IsNotFound()) break;
      if (s.IsCorruption()) {
        std::string why(s.message());
        if (scanner.Resync()) {
          corrupt_records_++;
          AddDamage(DamageKind::kCorruptRecord, seg->path(), bad,
                    why + ": record skipped; the records from offset " +
                        std::to_string(scanner.position()) + " on are read");
          continue;
        }
        bool torn = false;
        if (is_head) BALE_RETURN_IF_ERROR(IsTornTail(*seg, bad, &torn));
        if (torn) {
          uint64_t cut = seg->end() - bad;
          truncated_bytes_ += cut;
          BALE_RETURN_IF_ERROR(seg->TruncateTo(bad));
          BALE_RETURN_IF_ERROR(seg->Sync());
          AddDamage(DamageKind::kTornTail, seg->path(), bad,
                    "torn write (" + why + "): the file ended inside the last record; " +
                        std::to_string(cut) + " bytes cut off");
        } else {
          corrupt_records_++;
          AddDamage(DamageKind::kCorruptRecord, seg->path(), bad,
                    why + ": record skipped; it stays on disk (no valid record follows it)");
        }
        break;
      }
      BALE_RETURN_IF_ERROR(s);
      BALE_RETURN_IF_ERROR(ApplyRecord(slot, rec));
      *scanned += rec.size;
    }
  }
  return Status::OK();
}

Status Volume::IsTornTail(const Segment& seg, uint64_t bad, bool* torn) const {
  const uint64_t end = seg.end();
  *torn = true;
  if (end - bad < format::kNeedleHeaderSize) return Status::OK();  // ends inside the header
  char head[format::kNeedleHeaderSize];
  size_t got = 0;
  BALE_RETURN_IF_ERROR(seg.Read(bad, sizeof(head), head, &got, /*use_map=*/false));
  if (got != sizeof(head)) return Status::OK();
  format::NeedleHeader h;
  // The bytes a torn write would have left unwritten, in part at least.
  uint64_t checked_end = bad + format::kNeedleHeaderSize;
  if (format::DecodeNeedleHeader(std::string_view(head, got), &h).ok()) {
    if (format::NeedleSize(h) > end - bad) return Status::OK();  // ends inside the record
    checked_end = bad + format::NeedleRawSize(h);
  }
  // Where the file's trailing zeros begin.
  uint64_t nonzero_end = bad;
  std::string buf;
  for (uint64_t to = end; to > bad;) {
    size_t n = static_cast<size_t>(std::min<uint64_t>(64 << 10, to - bad));
    buf.resize(n);
    BALE_RETURN_IF_ERROR(seg.Read(to - n, n, buf.data(), &got, /*use_map=*/false));
    if (got != n) return Status::IOError(seg.path() + ": short read");
    size_t k = n;
    while (k > 0 && buf[k - 1] == '\0') k--;
    if (k > 0) {
      nonzero_end = to - n + k;
      break;
    }
    to -= n;
  }
  *torn = nonzero_end < checked_end;
  return Status::OK();
}

Status Volume::ApplyRecord(uint16_t slot, const NeedleScanner::Record& rec) {
  last_version_ = std::max(last_version_, rec.header.version);
  uint32_t tag = Tag(rec.key);
  Location loc{slot, static_cast<uint32_t>(rec.offset / format::kNeedleAlign)};
  Found f;
  Status s = FindLocked(rec.key, tag, &f);
  if (!s.ok() && !s.IsNotFound()) return s;
  if (rec.header.kind == format::NeedleKind::kTouch) {
    // A touch record applies to the object it was written for: the same version, and
    // a target that still exists. One whose target's generation is gone was merged (or
    // dropped) by a compaction that wrote what the key holds now, earlier in the log.
    format::TouchTarget t;
    Location target;
    if (s.ok() && f.header.version == rec.header.version &&
        format::DecodeTouchTarget(rec.value, &t).ok() && ResolveTouchLocked(t, &target).ok()) {
      if (f.header.kind == format::NeedleKind::kTouch)
        NoteDeadLocked(f.loc.slot, format::NeedleSize(f.header));
      index_.Replace(tag, f.loc, loc);
      StateLocked(target.slot).touch_free = false;  // a segment of this process's, maybe
    } else {
      NoteDeadLocked(slot, rec.size);
    }
  } else if (rec.header.kind == format::NeedleKind::kTombstone) {
    NoteDeadLocked(slot, rec.size);
    if (s.ok()) NoteDeadLocked(f.loc.slot, format::NeedleSize(f.header));
    if (s.ok()) index_.Erase(tag, f.loc);
  } else if (s.ok()) {
    NoteDeadLocked(f.loc.slot, format::NeedleSize(f.header));
    index_.Replace(tag, f.loc, loc);
  } else {
    index_.Insert(tag, loc);
  }
  return Status::OK();
}

}  // namespace bale
