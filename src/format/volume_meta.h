// Flush marker of earlier builds: the file "FLUSH" in a volume directory recorded the
// last flush_all of that partition alone. This build only reads it (a data directory
// written before FLUSH_ALL existed, format/store_flush.h); a store that has a FLUSH_ALL
// marker ignores it, and removes it after its first flush_all.
//
//   offset  size  field
//   ------  ----  ------------------------------------------------------------
//        0     4  magic          kFlushMagic ("FLS1")
//        4     4  flush_time     unix seconds; needles written before it are flushed
//                                once the clock reaches it; 0 = none pending
//        8     8  flush_version  needles with a version at or below it are flushed
//       16     4  reserved       zero
//       20     4  crc            CRC-32C of bytes [0, 20)
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "base/status.h"

namespace bale::format {

inline constexpr uint32_t kFlushMagic = 0x31534C46;  // "FLS1" on disk
inline constexpr size_t kFlushMarkerSize = 24;
inline constexpr char kFlushFileName[] = "FLUSH";

struct FlushMarker {
  uint32_t flush_time = 0;
  uint64_t flush_version = 0;
};

std::string EncodeFlushMarker(const FlushMarker& m);
Status DecodeFlushMarker(std::string_view buf, FlushMarker* m);

}  // namespace bale::format
