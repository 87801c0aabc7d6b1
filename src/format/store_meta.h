// Store marker: the file "STORE" at the top of a data directory fixes the layout every
// node of a future cluster shares: the partition count P (partition = HashKey(key) % P).
// Written once when the directory is created; a later open with another P is refused.
//
//   offset  size  field
//   ------  ----  -----------------------------------------------------------
//        0     8  magic           kStoreMagic ("BALSTR1" and a zero byte)
//        8     4  format_version  kStoreFormatVersion
//       12     4  partitions      P
//       16     4  reserved        zero
//       20     4  crc             CRC-32C of bytes [0, 20)
//
// Partition p lives in the directory "p-<p:05>" (PartitionDirName).
//
// Beside it, "LOCK" is flock(2)ed by the process that owns the directory (bale serve,
// bale verify) and holds that process's id in decimal, for the message a second one
// gets. Its content is informational; the lock is what excludes.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "base/status.h"

namespace bale::format {

inline constexpr uint64_t kStoreMagic = 0x315254534C4142ull;
inline constexpr uint32_t kStoreFormatVersion = 1;
inline constexpr size_t kStoreMarkerSize = 24;
inline constexpr char kStoreFileName[] = "STORE";
inline constexpr char kLockFileName[] = "LOCK";
// "RESERVE": disk space set aside for a full disk (store/store.h); its bytes mean nothing.
inline constexpr char kReserveFileName[] = "RESERVE";

std::string EncodeStoreMarker(uint32_t partitions);
Status DecodeStoreMarker(std::string_view buf, uint32_t* partitions);
std::string PartitionDirName(uint32_t partition);
// Parses a name made by PartitionDirName; false for any other name.
bool ParsePartitionDirName(std::string_view name, uint32_t* partition);

}  // namespace bale::format
