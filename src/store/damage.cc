#include "store/damage.h"

#include <algorithm>
#include <memory>

#include "base/checksum.h"
#include "format/coding.h"
#include "format/index_entry.h"
#include "format/superblock.h"

namespace bale {

const char* DamageKindName(DamageKind kind) {
  switch (kind) {
    case DamageKind::kTornTail:
      return "torn_tail";
    case DamageKind::kCorruptRecord:
      return "corrupt_record";
    case DamageKind::kDamagedSuperblock:
      return "damaged_superblock";
    case DamageKind::kUnreadableSegment:
      return "unreadable_segment";
    case DamageKind::kMissingSegment:
      return "missing_segment";
    case DamageKind::kBadFlushMarker:
      return "bad_flush_marker";
    case DamageKind::kUnavailable:
      return "unavailable";
  }
  return "?";
}

std::string DamageReport::ToString() const {
  return path + ": offset " + std::to_string(offset) + ": " + what;
}

std::vector<std::pair<uint64_t, uint64_t>> MissingSequences(std::vector<uint64_t> present,
                                                            uint64_t highest) {
  std::sort(present.begin(), present.end());
  present.erase(std::unique(present.begin(), present.end()), present.end());
  std::vector<std::pair<uint64_t, uint64_t>> out;
  uint64_t next = 1;  // the lowest sequence number not yet accounted for
  for (uint64_t seq : present) {
    if (seq == 0 || seq > highest) continue;
    if (seq > next) out.emplace_back(next, seq - 1);
    next = seq + 1;
  }
  if (next <= highest) out.emplace_back(next, highest);
  return out;
}

std::string MissingSegmentName(uint64_t seq) {
  std::string name = format::SegmentFileName(seq, 0);  // seg-<seq:010>-0000.dat
  return name.substr(0, 15) + "*.dat";
}

std::string MissingRangeName(uint64_t first, uint64_t last) {
  if (first == last) return MissingSegmentName(first);
  return MissingSegmentName(first) + " .. " + MissingSegmentName(last);
}

Status ReadCheckpointTable(Env* env, const std::string& path, bool whole,
                           format::CheckpointHeader* h, uint64_t* bad_offset, uint32_t* table_crc) {
  *bad_offset = 0;
  std::unique_ptr<File> f;
  BALE_RETURN_IF_ERROR(env->Open(path, OpenMode::kRead, &f));
  uint64_t file_size = 0;
  BALE_RETURN_IF_ERROR(f->Size(&file_size));
  char hb[format::kCheckpointHeaderSize];
  size_t got = 0;
  BALE_RETURN_IF_ERROR(f->PRead(0, sizeof(hb), hb, &got));
  uint32_t nseg = 0;
  BALE_RETURN_IF_ERROR(format::DecodeCheckpointHeader(std::string_view(hb, got), h, &nseg));
  const uint64_t table_bytes = h->capacity * sizeof(format::IndexEntry);
  const uint64_t seg_bytes = uint64_t{nseg} * format::kCheckpointSegmentEntrySize;
  if (h->capacity > file_size || nseg > file_size ||
      file_size != format::kCheckpointHeaderSize + seg_bytes + table_bytes + 4) {
    return Status::Corruption("checkpoint size mismatch");
  }
  std::string segtab(seg_bytes, '\0');
  BALE_RETURN_IF_ERROR(f->PRead(format::kCheckpointHeaderSize, seg_bytes, segtab.data(), &got));
  *bad_offset = format::kCheckpointHeaderSize;
  if (got != seg_bytes) return Status::Corruption("short checkpoint segment table");
  BALE_RETURN_IF_ERROR(format::DecodeCheckpointSegments(segtab, nseg, h));
  uint32_t crc = Crc32c(segtab);
  if (table_crc != nullptr) *table_crc = crc;
  if (!whole) return Status::OK();
  std::string chunk;
  const uint64_t body = format::kCheckpointHeaderSize + seg_bytes;
  for (uint64_t done = 0; done < table_bytes;) {
    size_t n = static_cast<size_t>(std::min<uint64_t>(1 << 20, table_bytes - done));
    chunk.resize(n);
    BALE_RETURN_IF_ERROR(f->PRead(body + done, n, chunk.data(), &got));
    if (got != n) return Status::Corruption("short checkpoint");
    crc = Crc32c(chunk, crc);
    done += n;
  }
  char tail[4];
  BALE_RETURN_IF_ERROR(f->PRead(body + table_bytes, 4, tail, &got));
  *bad_offset = body + table_bytes;
  if (got != 4 || format::GetU32(tail) != crc) {
    return Status::Corruption("checkpoint checksum mismatch");
  }
  return Status::OK();
}

}  // namespace bale
