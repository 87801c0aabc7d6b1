#include "format/store_meta.h"

#include <charconv>
#include <cstdio>

#include "base/checksum.h"
#include "format/coding.h"

namespace bale::format {

std::string EncodeStoreMarker(uint32_t partitions) {
  std::string buf(kStoreMarkerSize, '\0');
  PutU64(buf.data(), kStoreMagic);
  PutU32(buf.data() + 8, kStoreFormatVersion);
  PutU32(buf.data() + 12, partitions);
  PutU32(buf.data() + 20, Crc32c(buf.data(), 20));
  return buf;
}

Status DecodeStoreMarker(std::string_view buf, uint32_t* partitions) {
  if (buf.size() != kStoreMarkerSize || GetU64(buf.data()) != kStoreMagic ||
      GetU32(buf.data() + 20) != Crc32c(buf.data(), 20)) {
    return Status::Corruption("bad STORE marker");
  }
  if (GetU32(buf.data() + 8) != kStoreFormatVersion) {
    return Status::Corruption("unsupported STORE format version");
  }
  *partitions = GetU32(buf.data() + 12);
  if (*partitions == 0) return Status::Corruption("STORE marker names zero partitions");
  return Status::OK();
}

std::string PartitionDirName(uint32_t partition) {
  char name[16];
  std::snprintf(name, sizeof(name), "p-%05u", partition);
  return name;
}

bool ParsePartitionDirName(std::string_view name, uint32_t* partition) {
  // p-00000 (at least five digits: partitions go up to 65535)
  if (name.size() < 7 || name.size() > 12 || name.substr(0, 2) != "p-") return false;
  auto r = std::from_chars(name.data() + 2, name.data() + name.size(), *partition);
  return r.ec == std::errc() && r.ptr == name.data() + name.size() && name[2] >= '0' &&
         name[2] <= '9';
}

}  // namespace bale::format
