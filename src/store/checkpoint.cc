// Volume: writing and loading the index checkpoint (format/checkpoint.h).
#include "format/checkpoint.h"

#include <cstring>

#include "base/checksum.h"
#include "format/coding.h"
#include "store/damage.h"
#include "store/volume.h"

namespace bale {

namespace {
constexpr size_t kChunk = 1 << 20;
}

Status Volume::Checkpoint() {
  std::lock_guard<std::mutex> cl(checkpoint_mu_);
  std::shared_lock<std::shared_mutex> l(mu_);
  if (order_.empty() && !unavailable_.ok()) return unavailable_;
  if (closed_ || order_.empty()) return Status::IOError("volume closed");
  return WriteCheckpointLocked();
}

Status Volume::WriteCheckpointLocked() {
  if (corrupt_records_ > 0) {
    // A checkpoint would cover the corrupt records, and the next open would not scan
    // them: it would neither find nor report them. Without one, every open does.
    since_checkpoint_.store(0);
    return Status::OK();
  }
  const Segment& head = *slots_[order_.back()];
  // The checkpoint must never cover bytes that a power loss could take back.
  BALE_RETURN_IF_ERROR(slots_[order_.back()]->Sync());
  format::CheckpointHeader h;
  h.partition = options_.partition;
  h.capacity = index_.capacity();
  h.count = index_.size();
  h.last_version = last_version_;
  h.cover_seq = head.seq();
  h.cover_offset = head.end();
  for (uint16_t slot : order_) {
    h.segments.push_back({slot, slots_[slot]->generation(), slots_[slot]->seq()});
  }
  std::string path = options_.dir + "/" + format::kCheckpointFileName;
  std::string tmp = path + ".tmp";
  std::unique_ptr<File> f;
  BALE_RETURN_IF_ERROR(options_.env->Open(tmp, OpenMode::kCreate, &f));
  std::string head_bytes = format::EncodeCheckpointHead(h);
  uint32_t crc = Crc32c(head_bytes.data() + format::kCheckpointHeaderSize,
                        head_bytes.size() - format::kCheckpointHeaderSize);
  Status s = f->PWrite(0, head_bytes);
  uint64_t off = head_bytes.size();
  const char* table = reinterpret_cast<const char*>(index_.table());
  size_t table_bytes = index_.capacity() * sizeof(format::IndexEntry);
  for (size_t done = 0; s.ok() && done < table_bytes; done += kChunk) {
    size_t n = std::min(kChunk, table_bytes - done);
    crc = Crc32c(table + done, n, crc);
    s = f->PWrite(off, std::string_view(table + done, n));
    off += n;
  }
  char tail[4];
  format::PutU32(tail, crc);
  if (s.ok()) s = f->PWrite(off, std::string_view(tail, 4));
  if (s.ok()) s = f->Sync();
  f.reset();
  if (s.ok()) s = options_.env->Rename(tmp, path);
  if (s.ok()) s = options_.env->SyncDir(options_.dir);
  if (!s.ok()) {
    (void)options_.env->Remove(tmp);
    return s;
  }
  since_checkpoint_.store(0);
  return Status::OK();
}

// Loads index.ckpt if it matches the segments on disk. On success the index, slots and
// last version are set and *scan_seq/*scan_offset say where the uncovered tail starts;
// NotFound (or Corruption) means the caller must scan everything.
Status Volume::LoadCheckpoint(uint64_t* scan_seq, uint64_t* scan_offset) {
  std::string path = options_.dir + "/" + format::kCheckpointFileName;
  format::CheckpointHeader h;
  uint64_t bad_offset = 0;
  uint32_t crc = 0;  // of the segment table, the start of the body's checksum
  BALE_RETURN_IF_ERROR(ReadCheckpointTable(options_.env, path, false, &h, &bad_offset, &crc));
  std::unique_ptr<File> f;
  BALE_RETURN_IF_ERROR(options_.env->Open(path, OpenMode::kRead, &f));
  const uint64_t table_bytes = h.capacity * sizeof(format::IndexEntry);
  const uint64_t seg_bytes = h.segments.size() * format::kCheckpointSegmentEntrySize;
  size_t got = 0;
  if (h.partition != options_.partition) return Status::Corruption("checkpoint partition");

  // The checkpoint must name exactly the segments on disk up to its cover point.
  std::vector<std::shared_ptr<Segment>> by_order;
  for (uint16_t slot : order_) by_order.push_back(slots_[slot]);
  size_t covered = 0;
  while (covered < by_order.size() && by_order[covered]->seq() <= h.cover_seq) covered++;
  if (covered != h.segments.size()) return Status::Corruption("checkpoint segment set");
  std::vector<std::shared_ptr<Segment>> slots;
  for (size_t i = 0; i < covered; i++) {
    const auto& cs = h.segments[i];
    if (cs.seq != by_order[i]->seq() || cs.generation != by_order[i]->generation() ||
        cs.slot >= format::kMaxSegmentSlots) {
      return Status::Corruption("checkpoint segment mismatch");
    }
    if (slots.size() <= cs.slot) slots.resize(cs.slot + 1);
    if (slots[cs.slot]) return Status::Corruption("checkpoint slot reused");
    slots[cs.slot] = by_order[i];
  }
  if (covered == 0 || by_order[covered - 1]->seq() != h.cover_seq ||
      by_order[covered - 1]->end() < h.cover_offset) {
    return Status::Corruption("checkpoint covers more than the segments hold");
  }

  char* table = reinterpret_cast<char*>(index_.ResetForLoad(h.capacity, h.count));
  uint64_t off = format::kCheckpointHeaderSize + seg_bytes;
  for (uint64_t done = 0; done < table_bytes; done += kChunk) {
    size_t n = static_cast<size_t>(std::min<uint64_t>(kChunk, table_bytes - done));
    BALE_RETURN_IF_ERROR(f->PRead(off + done, n, table + done, &got));
    if (got != n) return Status::Corruption("short checkpoint");
    crc = Crc32c(table + done, n, crc);
  }
  char tail[4];
  BALE_RETURN_IF_ERROR(f->PRead(off + table_bytes, 4, tail, &got));
  if (got != 4 || format::GetU32(tail) != crc) {
    index_.Clear();
    return Status::Corruption("checkpoint checksum mismatch");
  }
  // Segments after the cover point take free slots.
  order_.clear();
  for (size_t i = 0; i < covered; i++) order_.push_back(h.segments[i].slot);
  slots_ = std::move(slots);
  for (size_t i = covered; i < by_order.size(); i++) {
    uint16_t slot = FreeSlotLocked();
    if (slot == slots_.size()) slots_.emplace_back();
    slots_[slot] = by_order[i];
    order_.push_back(slot);
  }
  last_version_ = h.last_version;
  *scan_seq = h.cover_seq;
  *scan_offset = h.cover_offset;
  return Status::OK();
}

}  // namespace bale
