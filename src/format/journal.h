// Journal: the node's redo log of durable writes (store/journal.h), in files
// "<data dir>/journal/jrn-<seq:010>.log" (see JournalFileName).
//
// A journal file starts with a header:
//
//   offset  size  field
//   ------  ----  ----------------------------------------------
//        0     8  magic           kJournalMagic ("BALEJRN1")
//        8     4  format_version  kJournalFormatVersion
//       12     4  salt            random per file; seeds every record CRC, so records a
//                                 file held before it was reused never pass for its own
//       16     8  seq             the file's place in the journal (its name's)
//       24     4  reserved        zero
//       28     4  crc             CRC-32C of bytes [0, 28)
//
// and records follow, each at a multiple of 8 bytes:
//
//   offset  size  field
//   ------  ----  ----------------------------------------------
//        0     4  crc             CRC-32C, seeded with the file's salt, of bytes
//                                 [4, 32 + length): the rest of the header and the payload
//        4     4  length          payload bytes (a multiple of 8, at most kMaxJournalPayload)
//        8     4  partition       the volume written
//       12     4  generation      of the segment written
//       16     8  seq             of the segment written
//       24     8  offset          byte offset in that segment where the payload was written
//       32     …  payload         the exact bytes written there (whole, aligned needles)
//
// A record says: these bytes were appended to that segment at that offset. Replaying
// it writes them there again, so replay is idempotent. A reader stops at the first
// record that does not check (a zero length, a length past the limit, a bad CRC): the
// end of what was written, or a torn last write.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "base/status.h"

namespace bale::format {

inline constexpr uint64_t kJournalMagic = 0x314E524A454C4142ull;  // "BALEJRN1" on disk
inline constexpr uint32_t kJournalFormatVersion = 1;
inline constexpr size_t kJournalHeaderSize = 32;
inline constexpr size_t kJournalRecordHeaderSize = 32;
inline constexpr uint32_t kMaxJournalPayload = 1u << 20;
inline constexpr char kJournalDirName[] = "journal";

struct JournalHeader {
  uint32_t salt = 0;
  uint64_t seq = 0;
};

// Where a record's payload was written.
struct JournalTarget {
  uint32_t partition = 0;
  uint32_t generation = 0;
  uint64_t seq = 0;
  uint64_t offset = 0;
};

std::string EncodeJournalHeader(const JournalHeader& h);
// Corruption if the magic, version or CRC do not check.
Status DecodeJournalHeader(std::string_view buf, JournalHeader* h);

// Writes the record header for `payload` (already placed right after it, at
// out + kJournalRecordHeaderSize) into out[0, kJournalRecordHeaderSize).
void EncodeJournalRecordHeader(uint32_t salt, const JournalTarget& target, std::string_view payload,
                               char* out);
// The payload length a record header claims, or 0 if it cannot be a record (zero,
// unaligned or past kMaxJournalPayload).
uint32_t JournalRecordLength(std::string_view header);
// Checks a whole record (header and the payload that follows it in `record`) against
// the file's salt. Corruption if it does not check.
Status DecodeJournalRecord(uint32_t salt, std::string_view record, JournalTarget* target,
                           std::string_view* payload);

std::string JournalFileName(uint64_t seq);
// Parses a name made by JournalFileName; false for any other name.
bool ParseJournalFileName(std::string_view name, uint64_t* seq);

}  // namespace bale::format
