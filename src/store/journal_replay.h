// JournalReplay: at open, before any volume recovers, the records of the journal files
// left in <data dir>/journal (store/journal.h: a crash or a power loss before the
// segments were synced) are written back where they were appended.
//
// Contract:
// - Files are read in sequence order, each up to its first record that does not check
//   (format/journal.h): the end of what was written, or a torn last flush; nothing
//   acknowledged lies past it, since a write is acknowledged only once its record is
//   durable and the journal is written in order.
// - A record whose bytes the segment already holds changes nothing; one whose segment
//   file no longer exists (compacted into a newer generation, which was synced with
//   every live needle before the old one went) is skipped. Bytes that differ are
//   written back, and every file written is fdatasync'ed before Replay returns, so
//   the journal files may then be removed.
// - A file whose header does not check is ignored (it was being created when the
//   process stopped: no record in it can have been acknowledged) and reported.
// - Replay never removes anything; the store removes the files once the volumes are
//   open and a new journal is started.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "base/env.h"
#include "base/status.h"

namespace bale {

struct JournalReplayStats {
  uint64_t files = 0;              // journal files found
  uint64_t records = 0;            // records that checked
  uint64_t rewritten = 0;          // records whose bytes the segment did not hold
  uint64_t skipped = 0;            // records whose segment file is gone
  uint64_t bad_headers = 0;        // files whose header did not check
  uint64_t last_seq = 0;           // the highest file sequence number found (0: none)
  std::vector<std::string> notes;  // one line per ignored file, for the log
};

// Replays every journal file under `data_dir`/journal. IOError if a file cannot be read
// or a segment cannot be written or synced.
[[nodiscard]] Status ReplayJournal(Env* env, const std::string& data_dir,
                                   JournalReplayStats* stats);
// Lines for the log: one per ignored file, and one summing up the records (none when
// there was nothing to replay).
std::vector<std::string> DescribeReplay(const JournalReplayStats& stats);
// The journal files under `data_dir`/journal, by sequence number, ascending.
[[nodiscard]] Status ListJournalFiles(Env* env, const std::string& data_dir,
                                      std::vector<uint64_t>* seqs);
// Removes the files of `journal_dir` numbered up to `seq`, then syncs the directory;
// *removed counts them.
[[nodiscard]] Status RemoveJournalFiles(Env* env, const std::string& journal_dir, uint64_t seq,
                                        uint64_t* removed);

}  // namespace bale
