// Superblock: the first kSuperblockSize bytes of every segment file.
//
//   offset  size  field
//   ------  ----  ----------------------------------------------
//        0     8  magic           kSegmentMagic ("BALESEG1")
//        8     4  format_version  kSegmentFormatVersion
//       12     4  partition       the logical volume this segment belongs to
//       16     8  seq             position of the segment in its volume's log
//       24     4  generation      0 when written by appends, +1 per compaction
//       28     4  salt            random; seeds every needle CRC in this segment, so
//                                 bytes stored inside a value can never pass for a
//                                 needle when recovery looks for the next record
//       32    28  reserved        zero
//       60     4  crc             CRC-32C of bytes [0, 60)
//
// Needles follow from offset kSuperblockSize. A segment file is named
// "seg-<seq:010>-<generation:04>.dat" (see SegmentFileName).
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "base/status.h"

namespace bale::format {

inline constexpr uint64_t kSegmentMagic = 0x31474553454C4142ull;  // "BALESEG1" on disk
inline constexpr uint32_t kSegmentFormatVersion = 1;
inline constexpr size_t kSuperblockSize = 64;

struct Superblock {
  uint32_t partition = 0;
  uint64_t seq = 0;
  uint32_t generation = 0;
  uint32_t salt = 0;
};

std::string EncodeSuperblock(const Superblock& sb);
Status DecodeSuperblock(std::string_view buf, Superblock* sb);

std::string SegmentFileName(uint64_t seq, uint32_t generation);
// Parses a name made by SegmentFileName; false for any other name.
bool ParseSegmentFileName(std::string_view name, uint64_t* seq, uint32_t* generation);

}  // namespace bale::format
