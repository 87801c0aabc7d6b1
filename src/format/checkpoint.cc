#include "format/checkpoint.h"

#include "base/checksum.h"
#include "format/coding.h"

namespace bale::format {

std::string EncodeCheckpointHead(const CheckpointHeader& h) {
  std::string buf(kCheckpointHeaderSize + kCheckpointSegmentEntrySize * h.segments.size(), '\0');
  char* p = buf.data();
  PutU64(p, kCheckpointMagic);
  PutU32(p + 8, kCheckpointFormatVersion);
  PutU32(p + 12, h.partition);
  PutU64(p + 16, h.capacity);
  PutU64(p + 24, h.count);
  PutU64(p + 32, h.last_version);
  PutU64(p + 40, h.cover_seq);
  PutU64(p + 48, h.cover_offset);
  PutU32(p + 56, static_cast<uint32_t>(h.segments.size()));
  PutU32(p + 60, Crc32c(p, 60));
  char* s = p + kCheckpointHeaderSize;
  for (const auto& seg : h.segments) {
    PutU16(s, seg.slot);
    PutU32(s + 4, seg.generation);
    PutU64(s + 8, seg.seq);
    s += kCheckpointSegmentEntrySize;
  }
  return buf;
}

Status DecodeCheckpointHeader(std::string_view buf, CheckpointHeader* h, uint32_t* segment_count) {
  if (buf.size() < kCheckpointHeaderSize) return Status::Corruption("short checkpoint header");
  const char* p = buf.data();
  if (GetU64(p) != kCheckpointMagic) return Status::Corruption("bad checkpoint magic");
  if (GetU32(p + 60) != Crc32c(p, 60)) return Status::Corruption("checkpoint header checksum");
  if (GetU32(p + 8) != kCheckpointFormatVersion) {
    return Status::Corruption("unsupported checkpoint version");
  }
  h->partition = GetU32(p + 12);
  h->capacity = GetU64(p + 16);
  h->count = GetU64(p + 24);
  h->last_version = GetU64(p + 32);
  h->cover_seq = GetU64(p + 40);
  h->cover_offset = GetU64(p + 48);
  *segment_count = GetU32(p + 56);
  if (h->count > h->capacity) return Status::Corruption("checkpoint count exceeds capacity");
  return Status::OK();
}

Status DecodeCheckpointSegments(std::string_view buf, uint32_t n, CheckpointHeader* h) {
  if (buf.size() < size_t{n} * kCheckpointSegmentEntrySize) {
    return Status::Corruption("short checkpoint segment table");
  }
  h->segments.resize(n);
  for (uint32_t i = 0; i < n; i++) {
    const char* s = buf.data() + size_t{i} * kCheckpointSegmentEntrySize;
    h->segments[i].slot = GetU16(s);
    h->segments[i].generation = GetU32(s + 4);
    h->segments[i].seq = GetU64(s + 8);
  }
  return Status::OK();
}

}  // namespace bale::format
