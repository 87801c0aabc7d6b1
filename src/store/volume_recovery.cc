// Volume: opening and recovery.
//
// 1. Leftovers of interrupted work are removed: *.tmp files, and for a segment that a
//    committed compaction rewrote, the older generation.
// 2. index.ckpt is loaded if it names exactly the segments on disk; otherwise the index
//    is rebuilt by scanning every segment.
// 3. The tail the checkpoint does not cover is scanned. In the head segment a record
//    that fails its checks with nothing valid after it is a torn write: the file is cut
//    there. A bad record followed by good ones is corruption: it is skipped and counted.
#include <algorithm>
#include <map>

#include "format/checkpoint.h"
#include "format/superblock.h"
#include "format/volume_meta.h"
#include "store/syncer.h"
#include "store/volume.h"

namespace bale {

Status Volume::Open(const VolumeOptions& options, std::unique_ptr<Volume>* out) {
  if (options.dir.empty()) return Status::InvalidArgument("volume needs a directory");
  if (options.segment_bytes < 4096) return Status::InvalidArgument("segment_bytes too small");
  std::unique_ptr<Volume> v(new Volume(options));
  BALE_RETURN_IF_ERROR(v->Recover());
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
    if (gen != newest[seq]) {
      BALE_RETURN_IF_ERROR(env->Remove(dir + "/" + format::SegmentFileName(seq, gen)));
    }
  }
  size_t i = 0;
  bool removed_head = false;
  for (auto [seq, gen] : newest) {
    bool is_head = ++i == newest.size();
    std::string path = dir + "/" + format::SegmentFileName(seq, gen);
    std::unique_ptr<Segment> seg;
    Status s = Segment::Open(env, path, is_head, &seg);
    if (!s.ok() && is_head && s.IsCorruption() && newest.size() > 1) {
      // A head whose superblock never reached the disk holds no acknowledged data.
      std::unique_ptr<File> f;
      uint64_t size = 0;
      if (env->Open(path, OpenMode::kRead, &f).ok() && f->Size(&size).ok() &&
          size <= format::kSuperblockSize) {
        BALE_RETURN_IF_ERROR(env->Remove(path));
        removed_head = true;
        break;
      }
    }
    if (!s.ok()) return s;
    if (seg->partition() != options_.partition || seg->seq() != seq) {
      return Status::Corruption(path + ": superblock names another partition or sequence");
    }
    slots_.push_back(std::move(seg));
    order_.push_back(static_cast<uint16_t>(slots_.size() - 1));
  }
  if (order_.empty()) {
    std::unique_ptr<Segment> seg;
    BALE_RETURN_IF_ERROR(Segment::Create(env, dir + "/" + format::SegmentFileName(1, 0),
                                         options_.partition, 1, 0, NewSegmentSalt(), &seg));
    BALE_RETURN_IF_ERROR(env->SyncDir(dir));
    slots_.push_back(std::move(seg));
    order_.push_back(0);
    *created = true;
  } else if (removed_head) {
    // The segment before the broken head takes appends now: reopen it read-write.
    std::unique_ptr<Segment> seg;
    BALE_RETURN_IF_ERROR(Segment::Open(env, slots_[order_.back()]->path(), true, &seg));
    slots_[order_.back()] = std::move(seg);
  }
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
  recovery_scanned_ = scanned;

  BALE_RETURN_IF_ERROR(ReadLegacyFlushMarker());
  uint64_t total = 0;
  for (uint16_t slot : order_) {
    Segment* seg = slots_[slot].get();
    total += seg->end();
    seg->Map(slot == order_.back() ? std::max(seg->end(), options_.segment_bytes) : seg->end());
  }
  appended_.store(total);
  if (scanned > 0 || !s.ok()) BALE_RETURN_IF_ERROR(WriteCheckpointLocked());
  return Status::OK();
}

// The per-volume flush marker earlier builds wrote (format/volume_meta.h). A Store
// replaces what it says when the data directory has a FLUSH_ALL marker.
Status Volume::ReadLegacyFlushMarker() {
  std::string marker;
  Status s = ReadWholeFile(options_.env, options_.dir + "/" + format::kFlushFileName, &marker);
  if (s.IsNotFound()) return Status::OK();
  BALE_RETURN_IF_ERROR(s);
  format::FlushMarker m;
  BALE_RETURN_IF_ERROR(format::DecodeFlushMarker(marker, &m));
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
    bool is_head = i + 1 == order_.size();
    uint64_t start = seg->seq() == seq ? offset : format::kSuperblockSize;
    NeedleScanner scanner(seg, start, seg->end());
    NeedleScanner::Record rec;
    for (;;) {
      uint64_t bad = 0;
      Status s = scanner.Next(&rec, &bad);
      if (s.IsNotFound()) break;
      if (s.IsCorruption()) {
        if (scanner.Resync()) {
          corrupt_records_++;
          continue;
        }
        if (is_head) {  // a torn tail: nothing valid follows
          truncated_bytes_ += seg->end() - bad;
          BALE_RETURN_IF_ERROR(seg->TruncateTo(bad));
          BALE_RETURN_IF_ERROR(seg->Sync());
        } else {
          corrupt_records_++;
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
      index_.Replace(tag, f.loc, loc);
    }
  } else if (rec.header.kind == format::NeedleKind::kTombstone) {
    if (s.ok()) index_.Erase(tag, f.loc);
  } else if (s.ok()) {
    index_.Replace(tag, f.loc, loc);
  } else {
    index_.Insert(tag, loc);
  }
  return Status::OK();
}

}  // namespace bale
