// Volume's live counts for memcached's stats (curr_items, bytes, get_expired,
// get_flushed), kept without a byte per object:
// - live objects are the index entries less those the last immediate flush_all hid
//   (hidden_, set to the index's size by the flush and lowered as the index lets go of
//   them: a write of the key, a read that finds them, compaction). After a restart the
//   entries a flush hid before it are counted until compaction drops them.
// - live bytes are the bytes of needles not known dead (SegmentInfo::dead_bytes): a
//   delete makes the old needle and its tombstone dead, a flush every needle.
// - a read that finds the key's object expired or flushed counts it and makes the index
//   let go of it, as memcached unlinks such an item, so each is counted once and an
//   expired object stops counting as live when first read (or compacted).
#include <algorithm>

#include "format/superblock.h"
#include "store/expiry.h"
#include "store/volume.h"

namespace bale {

Volume::Gone Volume::NoteGoneRead(const format::NeedleHeader& h, uint32_t now) {
  if (h.kind == format::NeedleKind::kTombstone) return Gone::kNo;
  // memcached checks the flush first: an expired object a flush hid is a flushed read.
  bool expired = IsExpired(h.expiry, now);
  format::NeedleHeader unexpired = h;
  unexpired.expiry = 0;
  if (!IsLive(unexpired, now)) {
    flushed_reads_.fetch_add(1, std::memory_order_relaxed);
    return Gone::kFlushed;
  }
  if (!expired) return Gone::kNo;
  expired_reads_.fetch_add(1, std::memory_order_relaxed);
  return Gone::kExpired;
}

void Volume::ReclaimGone(std::string_view key, uint32_t tag) {
  std::unique_lock<std::shared_mutex> l(mu_);
  if (closed_ || !unavailable_.ok() || order_.empty()) return;
  uint32_t now = Now();
  Found f;
  if (!FindLocked(key, tag, &f).ok() || IsLive(f.header, now) ||
      f.header.kind == format::NeedleKind::kTombstone) {
    return;  // gone already, or written again since the read
  }
  if (f.header.version > flush_.flush_version) {
    // Expired (or hidden by a delayed flush): a tombstone hides older needles of the key
    // from a restart's scan, as compaction writes one. Not waited for: were it lost,
    // the object would still read as missing.
    format::NeedleHeader h;
    h.version = NextVersionLocked();
    h.cookie = RandomU64() | 1;
    h.mtime = now;
    h.kind = format::NeedleKind::kTombstone;
    Location loc;
    uint64_t lsn = 0;
    if (!AppendOneLocked(h, key, {}, {}, &decided_, &loc, &lsn).ok()) return;
    NoteDeadLocked(loc.slot, format::NeedleSize(key.size(), 0, 0));
  }
  // A needle a flush hid by version needs no tombstone: every older one is hidden too.
  ForgetIndexedLocked(f.loc.slot, format::NeedleSize(f.header), f.header.version);
  index_.Erase(tag, f.loc);
}

void Volume::ForgetIndexedLocked(uint16_t slot, uint64_t size, uint64_t version) {
  if (version <= hidden_through_) {
    hidden_ -= hidden_ > 0;  // dead since the flush counted it
  } else {
    NoteDeadLocked(slot, size);
  }
}

void Volume::NoteFlushHidLocked(uint64_t flush_version) {
  uint64_t planned = planned_hidden_.exchange(kNoPlan, std::memory_order_relaxed);
  if (flush_version >= last_version_) {
    hidden_ = index_.size();  // nothing was written since: every entry is hidden
  } else if (planned != kNoPlan) {
    // Writes came between PlanFlush and now: the entries then were what it hides (less
    // any of them those writes replaced, counted as hidden still).
    hidden_ = std::min<uint64_t>(planned, index_.size());
  } else {
    return;  // at open, after later writes: which entries it hid is unknown
  }
  hidden_through_ = flush_version;
}

void Volume::LiveStatsLocked(VolumeStats* st) const {
  st->live_objects = index_.size() > hidden_ ? index_.size() - hidden_ : 0;
  for (uint16_t slot : order_) {
    uint64_t used = slots_[slot]->end() - format::kSuperblockSize;
    uint64_t dead = StateOf(slot).dead_bytes;
    st->live_bytes += used > dead ? used - dead : 0;
  }
  st->oldest_mtime = OldestMtimeLocked();
  st->expired_reads = expired_reads_.load(std::memory_order_relaxed);
  st->flushed_reads = flushed_reads_.load(std::memory_order_relaxed);
}

uint32_t Volume::OldestMtimeLocked() const {
  if (order_.empty()) return 0;
  const uint32_t now = Now();
  const uint16_t slot = order_.front();
  const Segment& seg = *slots_[slot];
  char buf[format::kNeedleHeaderSize + format::kMaxKeyLen];
  uint64_t offset = format::kSuperblockSize;
  for (int i = 0; i < kOldestScan && offset + format::kNeedleHeaderSize <= seg.end(); i++) {
    size_t got = 0;
    size_t want = static_cast<size_t>(std::min<uint64_t>(sizeof(buf), seg.end() - offset));
    format::NeedleHeader h;
    if (!seg.Read(offset, want, buf, &got).ok() ||
        !format::DecodeNeedleHeader(std::string_view(buf, got), &h).ok() ||
        format::kNeedleHeaderSize + h.key_len > got) {
      break;  // damage: the answer is unknown
    }
    std::string_view key(buf + format::kNeedleHeaderSize, h.key_len);
    Location loc{slot, static_cast<uint32_t>(offset / format::kNeedleAlign)};
    if (IsLive(h, now) && index_.Contains(Tag(key), loc)) return h.mtime;
    offset += format::NeedleSize(h);
  }
  return 0;
}

}  // namespace bale
