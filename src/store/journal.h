// Journal: the node's redo log, which makes a round's durable writes cost one flush.
//
// In kSync durability a write is acknowledged once it is on stable storage. Without a
// journal that costs one fdatasync per partition file a round wrote; with one, each
// volume appends its needles to its head segment as before (to the page cache only) and
// then, under the same volume lock, copies the bytes into the journal (Append), and the
// round's end makes everything appended so far durable with one write and one
// fdatasync of one file (WaitDurable). The segments are fdatasync'ed later, in the
// background, when the active file passes Options::file_bytes: the journal starts a
// new file, sync_segments() makes every segment write made before that durable, and
// the older files are removed. A restart first replays whatever files are left
// (store/journal_replay.h): each record names the partition, segment and offset its
// bytes were written at, so replay writes them there again, and then the volumes open
// and recover as usual. Objects still live as one needle in one segment, read with one
// read; the journal is written, never read, while serving.
//
// Contract:
// - Thread-safe. Append never does I/O (it copies into a buffer under a mutex) and
//   returns the journal position after the record; WaitDurable(pos) returns once every
//   record up to pos is durable: one caller writes and syncs the whole buffer while the
//   others wait for it (group commit), and records appended meanwhile go in the next.
// - A volume appends to the journal in the order its bytes went to its segment (under
//   its write lock), so the durable prefix of the journal never leaves a hole in a
//   segment that replay would have to skip. A record is at most kMaxInlineBytes:
//   a larger write is made durable by fdatasync of its segment instead (Volume).
// - A flush that fails fails the callers waiting for the records it held (their writes
//   were not made durable; WaitDurable keeps saying so for the latest failed ranges),
//   the file is cut back to where that flush began, and later flushes write there.
// - Retire, once every segment has been synced (a clean Close), removes the files.
#pragma once

#include <condition_variable>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <span>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "base/env.h"
#include "base/status.h"
#include "format/journal.h"

namespace bale {

struct JournalStats {
  uint64_t records = 0;    // appended
  uint64_t bytes = 0;      // appended, headers included
  uint64_t flushes = 0;    // write + fdatasync rounds
  uint64_t rotations = 0;  // files started after the first
  uint64_t failures = 0;   // flushes, segment syncs or removals that failed
  uint64_t files = 0;      // on disk now
  uint64_t unflushed = 0;  // bytes appended, not yet durable
};

class Journal {
 public:
  static constexpr size_t kMaxInlineBytes = 64 << 10;
  struct Options {
    Env* env = nullptr;
    std::string dir;                           // <data dir>/journal, created if missing
    uint64_t file_bytes = uint64_t{64} << 20;  // start a new file past this
    // Makes every segment write made before the call durable (the store syncs its
    // volumes); a file is removed only after this succeeded.
    std::function<Status()> sync_segments;
    std::function<void(const std::string&)> log;  // null: none
  };

  // Starts file `first_seq` (synced, with its directory). Files already in the
  // directory are the caller's (replayed, then removed with RemoveFilesBefore).
  static Status Open(const Options& options, uint64_t first_seq, std::unique_ptr<Journal>* out);
  ~Journal();
  Journal(const Journal&) = delete;
  Journal& operator=(const Journal&) = delete;

  // Copies a record of `pieces` (whole aligned needles written at `target`) into the
  // buffer. Returns the journal position after it.
  uint64_t Append(const format::JournalTarget& target, std::span<const std::string_view> pieces);
  // Returns once every record up to `position` is durable, or the error that kept it
  // from being so.
  [[nodiscard]] Status WaitDurable(uint64_t position);
  // Everything appended so far.
  [[nodiscard]] Status Flush();
  // The journal position after the last record appended.
  uint64_t position() const;
  // Calls done(WaitDurable's outcome) from the journal's flusher thread once every
  // record up to `position` is durable, without waiting here: the flusher writes and
  // syncs back to back while anyone waits, so a flush covers every record appended
  // during the one before it. Callbacks run in position order and must be quick; every
  // one is called before Stop returns.
  void FlushAsync(uint64_t position, std::function<void(Status)> done);
  // Starts a new file now, syncs the segments and removes the older files (what the
  // background thread does past file_bytes).
  [[nodiscard]] Status Rotate();
  // Stops the background rotations (before the volumes close).
  void Stop();
  // After every volume was synced and closed: removes every journal file. Appends and
  // waits must not follow.
  [[nodiscard]] Status Retire();
  JournalStats Stats() const;

 private:
  explicit Journal(const Options& options) : options_(options) {}
  [[nodiscard]] Status StartFile(uint64_t seq, std::unique_ptr<File>* file, uint32_t* salt);
  // With mu_ held and no flush running: writes the buffer and syncs the active file,
  // dropping the lock meanwhile.
  [[nodiscard]] Status FlushLocked(std::unique_lock<std::mutex>& l);
  // Writes `bytes` at `at` of `file` and syncs it; on failure cuts the file back.
  [[nodiscard]] Status WriteAndSync(File* file, uint64_t at, std::string_view bytes);
  // After a flush of (from, to]: durable_ moves on, or the range is remembered as failed.
  void SettleLocked(uint64_t from, uint64_t to, const Status& s);
  [[nodiscard]] Status RemoveFilesUpTo(uint64_t seq);
  void RunRotations();
  void RunFlushes();
  // WaitDurable's outcome for a position already durable (or failed). Under mu_.
  Status OutcomeLocked(uint64_t position) const;

  const Options options_;
  std::mutex rotate_mu_;  // one Rotate at a time
  mutable std::mutex mu_;
  std::condition_variable flushed_;
  std::condition_variable rotate_;
  std::unique_ptr<File> file_;  // the active file
  uint64_t file_seq_ = 0;
  uint32_t salt_ = 0;
  uint64_t file_end_ = 0;  // where the buffer goes in the active file
  std::string buffer_;     // records not yet written
  std::string spare_;      // the buffer of the last flush, reused
  uint64_t appended_ = 0;  // journal positions: bytes appended since Open
  uint64_t durable_ = 0;
  bool flushing_ = false;
  struct Failed {
    uint64_t from, to;
    Status why;
  };
  std::vector<Failed> failed_;  // the latest flushes that failed (bounded)
  bool stop_ = false;
  JournalStats stats_;
  struct AsyncWaiter {
    uint64_t position;
    std::function<void(Status)> done;
  };
  std::vector<AsyncWaiter> async_;  // FlushAsync's, in position order
  std::condition_variable async_cv_;
  std::thread rotator_;
  std::thread flusher_;
};

}  // namespace bale
