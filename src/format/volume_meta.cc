#include "format/volume_meta.h"

#include "base/checksum.h"
#include "format/coding.h"

namespace bale::format {

std::string EncodeFlushMarker(const FlushMarker& m) {
  std::string buf(kFlushMarkerSize, '\0');
  PutU32(buf.data(), kFlushMagic);
  PutU32(buf.data() + 4, m.flush_time);
  PutU64(buf.data() + 8, m.flush_version);
  PutU32(buf.data() + 20, Crc32c(buf.data(), 20));
  return buf;
}

Status DecodeFlushMarker(std::string_view buf, FlushMarker* m) {
  if (buf.size() != kFlushMarkerSize || GetU32(buf.data()) != kFlushMagic ||
      GetU32(buf.data() + 20) != Crc32c(buf.data(), 20)) {
    return Status::Corruption("bad flush marker");
  }
  m->flush_time = GetU32(buf.data() + 4);
  m->flush_version = GetU64(buf.data() + 8);
  return Status::OK();
}

}  // namespace bale::format
