// Volume: compaction of a sealed segment.
//
// The segment (seq, g) is copied to "seg-<seq>-<g+1>.dat.tmp" without its dead needles:
// overwritten or deleted ones (the index no longer points at them) and flushed ones
// are dropped; expired ones become tombstones so that no older copy of the key can
// come back; tombstones are kept unless the segment is the oldest, when nothing older
// remains for them to hide. The copy keeps the segment's salt, so kept needles are
// byte-for-byte the same (content type included).
//
// Crash safety: the copy is synced and renamed to its final name; that rename is the
// commit point. Before it a restart deletes the .tmp file and the old segment stays
// authoritative; after it a restart keeps the newer generation and deletes the older.
// Then, while reads and writes go on, index entries move to the copy in small batches
// (readers find either copy valid), the old segment is dropped and a checkpoint written.
//
// Touch records (format/needle.h) name a needle by its generation, which the copy
// replaces, so none that is live may name the old generation afterwards: a live touch
// record in the segment, and a value needle in it that a live touch record elsewhere
// names, are both merged into one value needle (the value with the record's expiry),
// to which the index then points. While the copy is made, Touch writes whole objects
// for needles of this segment (compacting_slot_). A restart ignores touch records whose
// generation is gone (volume_recovery.cc).
#include <chrono>
#include <thread>

#include "format/superblock.h"
#include "store/expiry.h"
#include "store/volume.h"

namespace bale {

namespace {

struct Move {
  uint32_t tag;
  uint16_t from_slot;  // the compacted segment's, or a touch record's elsewhere
  uint32_t from_units;
  uint32_t to_units;
  bool drop;
};

constexpr size_t kWriteChunk = 1 << 20;
constexpr size_t kRelocateBatch = 4096;

void Throttle(uint64_t bytes_per_s, uint64_t done, std::chrono::steady_clock::time_point start) {
  if (bytes_per_s == 0) return;
  auto due = start + std::chrono::microseconds(done * 1000000 / bytes_per_s);
  std::this_thread::sleep_until(due);
}

}  // namespace

Status Volume::Compact(uint64_t seq, CompactionResult* result) {
  std::lock_guard<std::mutex> one_at_a_time(compaction_mu_);
  std::shared_ptr<Segment> old;
  uint16_t old_slot = 0;
  bool oldest = false;
  {
    std::shared_lock<std::shared_mutex> l(mu_);
    if (closed_) return Status::IOError("volume closed");
    // Flushed needles are dropped by what FLUSH says: not while it is unknown.
    if (!unavailable_.ok()) return unavailable_;
    size_t i = 0;
    while (i < order_.size() && slots_[order_[i]]->seq() != seq) i++;
    if (i == order_.size()) return Status::NotFound("no segment " + std::to_string(seq));
    if (i + 1 == order_.size()) return Status::InvalidArgument("the head segment is not sealed");
    old_slot = order_[i];
    old = slots_[old_slot];
    if (old->damaged()) {
      // The damaged file stays as it is, for bale verify and whoever repairs it.
      return Status::Corruption(old->path() + ": " + old->damage() + " (not compacted)");
    }
    // Tombstones may go only when nothing older is left for them to hide: not if an
    // older segment is missing (it may come back from a backup).
    oldest = i == 0 && (missing_.empty() || missing_.front().first > seq);
  }
  bool touch_targets;  // whether touch records may name needles of the old segment
  {
    std::unique_lock<std::shared_mutex> l(mu_);
    compacting_slot_ = old_slot;
    touch_targets = MayBeTouchTarget(old_slot);
  }
  struct EndCompaction {
    Volume* v;
    ~EndCompaction() {
      std::unique_lock<std::shared_mutex> l(v->mu_);
      v->compacting_slot_ = kNoSlot;
    }
  } end_compaction{this};
  const uint32_t gen = old->generation() + 1;
  const std::string final_path = options_.dir + "/" + format::SegmentFileName(seq, gen);
  const std::string tmp_path = final_path + ".tmp";
  std::unique_ptr<Segment> out;
  BALE_RETURN_IF_ERROR(
      Segment::Create(options_.env, tmp_path, options_.partition, seq, gen, old->salt(), &out));
  auto fail = [&](Status s) {
    out.reset();
    (void)options_.env->Remove(tmp_path);
    return s;
  };

  CompactionResult r;
  r.bytes_before = old->end();
  compaction_total_.store(old->end());
  compaction_scanned_.store(0);
  const uint32_t now = Now();
  const auto start = std::chrono::steady_clock::now();
  std::vector<Move> moves;
  std::string buf;
  ReadResult merged;
  uint64_t written = format::kSuperblockSize;
  NeedleScanner scanner(old.get(), format::kSuperblockSize, old->end());
  NeedleScanner::Record rec;
  for (;;) {
    uint64_t bad = 0;
    Status s = scanner.Next(&rec, &bad);
    if (s.IsNotFound()) break;
    if (!s.ok()) {
      return fail(Status::Corruption(old->path() + " @" + std::to_string(bad) + ": " +
                                     std::string(s.message()) + " (run bale verify)"));
    }
    compaction_scanned_.fetch_add(rec.size);
    format::NeedleHeader h = rec.header;
    std::string_view content_type = rec.content_type;
    std::string_view value = rec.value;
    uint32_t tag = Tag(rec.key);
    uint32_t from = static_cast<uint32_t>(rec.offset / format::kNeedleAlign);
    bool keep;
    bool indexed = false;
    Location at{old_slot, from};  // what the index points at for this needle's object
    if (h.kind == format::NeedleKind::kTombstone) {
      keep = !oldest;
    } else {
      bool live;
      Status ms;
      {
        std::shared_lock<std::shared_mutex> l(mu_);
        indexed = index_.Contains(tag, at);
        Found touch;
        if (!indexed && touch_targets && h.kind == format::NeedleKind::kValue &&
            FindToucherLocked(rec.key, tag, h, at, &touch)) {
          // Named by a live index entry's touch record elsewhere (one in this segment
          // comes later and is merged there): merge here, with the record's expiry.
          indexed = touch.loc.slot != old_slot;
          at = touch.loc;
          h.expiry = touch.header.expiry;
        } else if (indexed && h.kind == format::NeedleKind::kTouch && IsLive(h, now)) {
          ms = ReadNeedleLocked(at, &merged, /*whole=*/true);  // the object it stands for
          h = merged.header();
          content_type = merged.content_type();
          value = merged.value();
        }
        live = IsLive(h, now);
      }
      if (!ms.ok()) return fail(ms);
      bool flushed = !live && !IsExpired(h.expiry, now);
      keep = indexed && (live || (!flushed && !oldest));
      if (keep && !live) {  // expired: a tombstone hides older copies of the key
        h.kind = format::NeedleKind::kTombstone;
        content_type = {};
        value = {};
      }
    }
    if (indexed) {
      uint32_t to = static_cast<uint32_t>((written + buf.size()) / format::kNeedleAlign);
      moves.push_back(
          {tag, at.slot, at.offset_units, to, !keep || h.kind == format::NeedleKind::kTombstone});
    }
    if (keep) {
      format::EncodeNeedle(old->salt(), h, rec.key, content_type, value, &buf);
      r.needles_kept++;
    } else {
      r.needles_dropped++;
    }
    if (buf.size() >= kWriteChunk) {
      uint64_t at;
      Status ws = out->Append(buf, &at);
      if (!ws.ok()) return fail(ws);
      written += buf.size();
      buf.clear();
      Throttle(options_.compaction_bytes_per_s, scanner.position() + written, start);
    }
  }
  uint64_t at;
  Status s = buf.empty() ? Status::OK() : out->Append(buf, &at);
  if (s.ok()) s = out->Sync();
  if (s.ok()) s = options_.env->Rename(tmp_path, final_path);
  if (!s.ok()) return fail(s);
  out.reset();
  BALE_RETURN_IF_ERROR(options_.env->SyncDir(options_.dir));  // committed
  std::unique_ptr<Segment> copy;
  BALE_RETURN_IF_ERROR(Segment::Open(options_.env, final_path, false, &copy));
  r.bytes_after = copy->end();

  // No checkpoint may be taken while the index refers to both copies.
  std::lock_guard<std::mutex> no_checkpoint(checkpoint_mu_);
  uint16_t new_slot;
  {
    std::unique_lock<std::shared_mutex> l(mu_);
    new_slot = FreeSlotLocked();
    if (new_slot == slots_.size()) slots_.emplace_back();
    copy->Map(copy->end());
    slots_[new_slot] = std::move(copy);
    SetTouchFree(new_slot, true);
    for (uint16_t& slot : order_) {
      if (slot == old_slot) slot = new_slot;
    }
  }
  for (size_t i = 0; i < moves.size(); i += kRelocateBatch) {
    std::unique_lock<std::shared_mutex> l(mu_);
    size_t end = std::min(moves.size(), i + kRelocateBatch);
    for (size_t j = i; j < end; j++) {
      const Move& m = moves[j];
      Location from{m.from_slot, m.from_units};
      if (m.drop) {
        index_.Erase(m.tag, from);
      } else {
        index_.Replace(m.tag, from, Location{new_slot, m.to_units});
      }
    }
  }
  {
    std::unique_lock<std::shared_mutex> l(mu_);
    slots_[old_slot].reset();
  }
  {
    std::shared_lock<std::shared_mutex> l(mu_);
    s = WriteCheckpointLocked();
  }
  old.reset();
  compactions_.fetch_add(1);
  Status rs = options_.env->Remove(options_.dir + "/" + format::SegmentFileName(seq, gen - 1));
  if (result != nullptr) *result = r;
  return s.ok() ? rs : s;
}

}  // namespace bale
