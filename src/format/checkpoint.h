// Index checkpoint: the volume's in-memory index written to "index.ckpt" beside its
// segments, so that a restart loads it and scans only the segment tail it does not
// cover. Replaced atomically (write to .tmp, fdatasync, rename, fsync the directory).
//
//   offset  size  field
//   ------  ----  -----------------------------------------------------------
//        0     8  magic           kCheckpointMagic ("BALEIDX1")
//        8     4  format_version  kCheckpointFormatVersion
//       12     4  partition
//       16     8  capacity        index slots that follow
//       24     8  count           live entries among them
//       32     8  last_version    highest needle version in the covered log
//       40     8  cover_seq       the head segment when the checkpoint was taken
//       48     8  cover_offset    bytes of that segment the index covers
//       56     4  segment_count   entries in the segment table that follows
//       60     4  header_crc      CRC-32C of bytes [0, 60)
//       64  16*n  segment table   n x { u16 slot, u16 zero, u32 generation, u64 seq }
//        -  10*c  entries         c = capacity raw IndexEntry slots (index_entry.h)
//        -     4  body_crc        CRC-32C of the segment table and entries
//
// A checkpoint is used only if every segment in its table exists with the same seq
// and generation; otherwise the volume is rebuilt by scanning every segment.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "base/status.h"

namespace bale::format {

inline constexpr uint64_t kCheckpointMagic = 0x31584449454C4142ull;  // "BALEIDX1" on disk
inline constexpr uint32_t kCheckpointFormatVersion = 1;
inline constexpr size_t kCheckpointHeaderSize = 64;
inline constexpr size_t kCheckpointSegmentEntrySize = 16;
inline constexpr char kCheckpointFileName[] = "index.ckpt";

struct CheckpointSegment {
  uint16_t slot = 0;
  uint32_t generation = 0;
  uint64_t seq = 0;
};

struct CheckpointHeader {
  uint32_t partition = 0;
  uint64_t capacity = 0;
  uint64_t count = 0;
  uint64_t last_version = 0;
  uint64_t cover_seq = 0;
  uint64_t cover_offset = 0;
  std::vector<CheckpointSegment> segments;
};

// Encodes the header and segment table (everything before the entries).
std::string EncodeCheckpointHead(const CheckpointHeader& h);
// Decodes the fixed header; `buf` must hold at least kCheckpointHeaderSize bytes.
Status DecodeCheckpointHeader(std::string_view buf, CheckpointHeader* h, uint32_t* segment_count);
// Decodes the segment table that follows the header.
Status DecodeCheckpointSegments(std::string_view buf, uint32_t n, CheckpointHeader* h);

}  // namespace bale::format
