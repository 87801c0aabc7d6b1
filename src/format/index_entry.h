// IndexEntry: one slot of the in-memory needle index, also written raw into index
// checkpoints. 10 bytes, no padding, little-endian.
//
//   offset  size  field
//   ------  ----  -----------------------------------------------------------
//        0     4  tag           upper 32 bits of HashKey(key); places the entry
//        4     2  slot_plus1    segment slot + 1; 0 marks an empty index slot
//        6     4  offset_units  needle offset in the segment / kNeedleAlign
//
// Offsets in units of kNeedleAlign (8 bytes) reach 32 GiB per segment; 65535 segment
// slots per volume. An all-zero entry is empty, so fresh anonymous memory is an empty
// table.
#pragma once

#include <cstdint>

namespace bale::format {

#pragma pack(push, 1)
struct IndexEntry {
  uint32_t tag;
  uint16_t slot_plus1;
  uint32_t offset_units;

  bool empty() const { return slot_plus1 == 0; }
};
#pragma pack(pop)
static_assert(sizeof(IndexEntry) == 10);

inline constexpr uint16_t kMaxSegmentSlots = 0xFFFE;

}  // namespace bale::format
