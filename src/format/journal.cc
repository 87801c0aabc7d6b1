#include "format/journal.h"

#include <charconv>
#include <cstdio>

#include "base/checksum.h"
#include "format/coding.h"

namespace bale::format {

static_assert(kJournalHeaderSize == 32 && kJournalRecordHeaderSize == 32,
              "the layouts drawn in journal.h");
static_assert(kJournalRecordHeaderSize % 8 == 0 && kJournalHeaderSize % 8 == 0,
              "records start at multiples of 8");

std::string EncodeJournalHeader(const JournalHeader& h) {
  std::string buf(kJournalHeaderSize, '\0');
  char* p = buf.data();
  PutU64(p, kJournalMagic);
  PutU32(p + 8, kJournalFormatVersion);
  PutU32(p + 12, h.salt);
  PutU64(p + 16, h.seq);
  PutU32(p + 28, Crc32c(p, 28));
  return buf;
}

Status DecodeJournalHeader(std::string_view buf, JournalHeader* h) {
  if (buf.size() < kJournalHeaderSize) return Status::Corruption("short journal header");
  const char* p = buf.data();
  if (GetU64(p) != kJournalMagic) return Status::Corruption("bad journal magic");
  if (GetU32(p + 28) != Crc32c(p, 28))
    return Status::Corruption("journal header checksum mismatch");
  if (GetU32(p + 8) != kJournalFormatVersion) {
    return Status::Corruption("unsupported journal format version");
  }
  h->salt = GetU32(p + 12);
  h->seq = GetU64(p + 16);
  return Status::OK();
}

void EncodeJournalRecordHeader(uint32_t salt, const JournalTarget& target, std::string_view payload,
                               char* out) {
  PutU32(out + 4, static_cast<uint32_t>(payload.size()));
  PutU32(out + 8, target.partition);
  PutU32(out + 12, target.generation);
  PutU64(out + 16, target.seq);
  PutU64(out + 24, target.offset);
  uint32_t crc = Crc32c(out + 4, kJournalRecordHeaderSize - 4, salt);
  PutU32(out, Crc32c(payload, crc));
}

uint32_t JournalRecordLength(std::string_view header) {
  if (header.size() < kJournalRecordHeaderSize) return 0;
  uint32_t length = GetU32(header.data() + 4);
  if (length == 0 || length % 8 != 0 || length > kMaxJournalPayload) return 0;
  return length;
}

Status DecodeJournalRecord(uint32_t salt, std::string_view record, JournalTarget* target,
                           std::string_view* payload) {
  uint32_t length = JournalRecordLength(record);
  if (length == 0 || record.size() < kJournalRecordHeaderSize + length) {
    return Status::Corruption("journal record length out of range");
  }
  const char* p = record.data();
  uint32_t crc = Crc32c(p + 4, kJournalRecordHeaderSize - 4, salt);
  crc = Crc32c(p + kJournalRecordHeaderSize, length, crc);
  if (crc != GetU32(p)) return Status::Corruption("journal record checksum mismatch");
  target->partition = GetU32(p + 8);
  target->generation = GetU32(p + 12);
  target->seq = GetU64(p + 16);
  target->offset = GetU64(p + 24);
  *payload = record.substr(kJournalRecordHeaderSize, length);
  return Status::OK();
}

std::string JournalFileName(uint64_t seq) {
  char name[32];
  std::snprintf(name, sizeof(name), "jrn-%010llu.log", static_cast<unsigned long long>(seq));
  return name;
}

bool ParseJournalFileName(std::string_view name, uint64_t* seq) {
  // jrn-0000000001.log
  if (name.size() != 18 || name.substr(0, 4) != "jrn-" || name.substr(14) != ".log") return false;
  auto r = std::from_chars(name.data() + 4, name.data() + 14, *seq);
  return r.ec == std::errc() && r.ptr == name.data() + 14;
}

}  // namespace bale::format
