#include "format/superblock.h"

#include <charconv>
#include <cstdio>

#include "base/checksum.h"
#include "format/coding.h"

namespace bale::format {

std::string EncodeSuperblock(const Superblock& sb) {
  std::string buf(kSuperblockSize, '\0');
  char* p = buf.data();
  PutU64(p, kSegmentMagic);
  PutU32(p + 8, kSegmentFormatVersion);
  PutU32(p + 12, sb.partition);
  PutU64(p + 16, sb.seq);
  PutU32(p + 24, sb.generation);
  PutU32(p + 28, sb.salt);
  PutU32(p + 60, Crc32c(p, 60));
  return buf;
}

Status DecodeSuperblock(std::string_view buf, Superblock* sb) {
  if (buf.size() < kSuperblockSize) return Status::Corruption("short superblock");
  const char* p = buf.data();
  if (GetU64(p) != kSegmentMagic) return Status::Corruption("bad segment magic");
  if (GetU32(p + 60) != Crc32c(p, 60)) return Status::Corruption("superblock checksum mismatch");
  if (GetU32(p + 8) != kSegmentFormatVersion) {
    return Status::Corruption("unsupported segment format version");
  }
  sb->partition = GetU32(p + 12);
  sb->seq = GetU64(p + 16);
  sb->generation = GetU32(p + 24);
  sb->salt = GetU32(p + 28);
  return Status::OK();
}

std::string SegmentFileName(uint64_t seq, uint32_t generation) {
  char name[64];
  std::snprintf(name, sizeof(name), "seg-%010llu-%04u.dat", static_cast<unsigned long long>(seq),
                generation);
  return name;
}

bool ParseSegmentFileName(std::string_view name, uint64_t* seq, uint32_t* generation) {
  // seg-0000000001-0000.dat
  if (name.size() != 23 || name.substr(0, 4) != "seg-" || name[14] != '-' ||
      name.substr(19) != ".dat") {
    return false;
  }
  auto s = std::from_chars(name.data() + 4, name.data() + 14, *seq);
  auto g = std::from_chars(name.data() + 15, name.data() + 19, *generation);
  return s.ec == std::errc() && s.ptr == name.data() + 14 && g.ec == std::errc() &&
         g.ptr == name.data() + 19;
}

}  // namespace bale::format
