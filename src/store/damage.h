// Damage: what recovery (store/volume_recovery.cc) and `bale verify` (store/verify.h)
// find wrong with a volume's files, as reports that name the file and the offset.
// docs/store.md ("What damage does") says what the volume does about each kind.
//
// Contract: a volume makes its reports while it opens and keeps them for its life; they
// reach the serve log, `stats`, /status and /metrics (through Store). A report names the
// file (a missing segment by its sequence number: "seg-0000000002-*.dat"), the offset in
// it (0 for the whole file) and what is wrong and what was done about it. Every kind but
// kTornTail is damage: something on disk is not as bale wrote it.
#pragma once

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "base/env.h"
#include "base/status.h"
#include "format/checkpoint.h"

namespace bale {

enum class DamageKind : uint8_t {
  kTornTail,           // the head ended inside its last record (a crash): cut there
  kCorruptRecord,      // a record fails its checks: skipped, the records around it kept
  kDamagedSuperblock,  // a segment's superblock fails its checks: read with a recovered salt
  kUnreadableSegment,  // ... and the salt could not be recovered: its records are not read
  kMissingSegment,     // a sequence number between 1 and the newest has no segment file
  kBadFlushMarker,     // FLUSH, or the partition's rule in FLUSH_ALL, fails its checks: the
                       // partition is unavailable (FLUSH_ALL's header: the store's report)
  kUnavailable,        // the volume could not open at all
};

// "torn_tail", "corrupt_record", ...: the names /status uses.
const char* DamageKindName(DamageKind kind);

struct DamageReport {
  DamageKind kind = DamageKind::kCorruptRecord;
  std::string path;
  uint64_t offset = 0;
  std::string what;

  std::string ToString() const;  // "path: offset N: what"
};

// The sequence numbers in 1..highest that are not in `present`, as inclusive ranges in
// ascending order.
std::vector<std::pair<uint64_t, uint64_t>> MissingSequences(std::vector<uint64_t> present,
                                                            uint64_t highest);
// How a report names the files of a missing segment: "seg-0000000002-*.dat".
std::string MissingSegmentName(uint64_t seq);
// "seg-0000000002-*.dat" or "seg-0000000002-*.dat .. seg-0000000005-*.dat".
std::string MissingRangeName(uint64_t first, uint64_t last);

// Reads the header and segment table of the checkpoint at `path` (format/checkpoint.h)
// and checks its size; with `whole`, the checksum of its body too. On Corruption,
// *bad_offset is where the check failed. *table_crc, when given, is the checksum of the
// segment table (where the body's begins). Recovery uses the table to learn which
// segments existed when it was written, verify to check the file.
Status ReadCheckpointTable(Env* env, const std::string& path, bool whole,
                           format::CheckpointHeader* h, uint64_t* bad_offset,
                           uint32_t* table_crc = nullptr);

}  // namespace bale
