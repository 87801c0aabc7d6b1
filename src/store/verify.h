// Verify: reads every segment under a directory tree, checks every superblock and
// needle checksum, and reports each problem with its file and offset (`bale verify`).
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
  uint64_t problems = 0;  // corrupt records, bad superblocks, bad checkpoints
};

// Walks `root` recursively. Writes one line per problem to `out`. Returns an error only
// when the walk itself fails (Busy while a server owns the data directory `root`);
// corruption is counted in report->problems.
Status VerifyTree(Env* env, const std::string& root, std::ostream& out, VerifyReport* report);

}  // namespace bale
