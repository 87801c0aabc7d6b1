// Verify: reads every segment under a directory tree, checks every superblock and
// needle checksum, each volume's checkpoint and FLUSH marker, the store's FLUSH_ALL
// (each check it fails, with the partitions whose rules it loses), and that no segment is
// missing from a volume's sequence (1 to the newest on disk or in its checkpoint), and
// reports each problem with its file and offset (`bale verify`). A segment whose
// superblock is damaged is still checked, with the salt its needles agree on.
#pragma once

#include <cstdint>
#include <ostream>
#include <string>

#include "base/env.h"
#include "base/status.h"

namespace bale {

struct VerifyReport {
  uint64_t segments = 0;
  uint64_t needles = 0;
  uint64_t bytes = 0;
  uint64_t missing_segments = 0;
  // Corrupt records, bad superblocks, checkpoints and flush markers, missing segments
  // (a range of them counts once).
  uint64_t problems = 0;
};

// Walks `root` recursively. Writes one line per problem to `out`. Returns an error only
// when the walk itself fails (Busy while a server owns the data directory `root`);
// corruption is counted in report->problems.
Status VerifyTree(Env* env, const std::string& root, std::ostream& out, VerifyReport* report);

}  // namespace bale
