// Volume: one partition's replica on one node (Haystack's physical volume).
//
// Contract:
// - A volume is a directory of segment files (store/segment.h) holding needles in log
//   order and an index checkpoint (format/checkpoint.h); a flush marker written by
//   earlier builds (format/volume_meta.h) is read at open. Only the newest segment, the
//   head, takes appends; it is sealed when it reaches options.segment_bytes.
// - Put, Delete and Write append; nothing is changed in place. A value larger than
//   kDirectValueBytes is not copied next to its header: the append writes it from the
//   caller's memory (pwritev), so a large object is not held twice. The in-memory
//   NeedleIndex points each key at its newest needle; a Get is one positioned read of
//   up to kFirstReadBytes, a second only for larger objects, and the CRC is always
//   checked: a damaged record is reported as Corruption, never returned.
// - A call that returns OK is durable per options.durability: kSync after fdatasync
//   (concurrent writers share one: group commit), kInterval within interval_ms,
//   kNone when the OS writes back. A failed write leaves nothing behind.
// - Every write is two steps under the write lock (store/decided_write.h): decide (find
//   what the key holds, apply add/replace/cas/append/incr/touch semantics, assign the
//   version, cookie, expiry and mtime, make room in the head, encode the needles with
//   the head's salt into a DecidedWrite) and append (write exactly those bytes to the
//   head, then point the index at them). Write, Update and Touch can hand the decided
//   records out; AppendDecided appends records another volume decided, as a replica
//   will: same objects, versions, cookies, expiries and mtimes. Its needles are
//   byte-identical when its head has the salt they were encoded with; otherwise they are
//   re-encoded with its own salt (only the CRC differs: every segment keeps its own
//   salt, and an object is still one needle, one read). A touch record names its target
//   by this volume's segment and offset, so the replica re-points it at its own needle
//   of that key and version (or, while that needle's segment is being compacted, writes
//   the object whole, as Touch does). Versions handed out later by the replica are above
//   every version it appended.
// - WriteAcross writes to several volumes all or nothing: every volume's lock is held
//   from the first append to the last, and when one append fails the others are cut
//   back before anyone could read them.
// - flush_all state (format::FlushRule) is kept in memory; making it durable is the
//   owner's job (Store writes one marker for every partition, format/store_flush.h).
// - Open recovers: it loads the checkpoint, scans the segment tail it does not cover,
//   truncates a torn tail (the file ends inside the last record) at the last good record
//   and finishes a compaction that committed (store/compaction.cc).
// - Damage is contained and reported, never silent (docs/store.md, "What damage does"):
//   a bad record is skipped and the records after it kept; a segment with a damaged
//   superblock is read with the salt its needles agree on and never written again; a
//   missing sequence number (segments are numbered 1..head with no gaps: nothing removes
//   a whole segment) is reported; a damaged FLUSH marker makes the volume unavailable:
//   every call answers Status::Unavailable naming the partition, until FlushAll(0)
//   writes a new marker. Damage() lists what was found (store/damage.h).
// - Thread-safe: readers share a lock, writers take it exclusively and do their fdatasync
//   outside it.
#pragma once

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <shared_mutex>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "base/env.h"
#include "base/status.h"
#include "format/needle.h"
#include "format/store_flush.h"
#include "store/compaction_plan.h"
#include "store/damage.h"
#include "store/decided_write.h"
#include "store/needle_index.h"
#include "store/segment.h"

namespace bale {

class Syncer;
class Journal;

uint64_t RandomU64();
uint32_t NewSegmentSalt();

enum class Durability { kSync, kInterval, kNone };
const char* DurabilityName(Durability d);
bool ParseDurability(std::string_view s, Durability* out);

struct VolumeOptions {
  std::string dir;
  uint32_t partition = 0;
  uint64_t segment_bytes = uint64_t{1} << 30;
  Durability durability = Durability::kInterval;
  uint32_t interval_ms = 1000;  // kInterval: fdatasync at least this often
  // kInterval: the thread that syncs; when null the volume starts its own.
  Syncer* syncer = nullptr;
  // kSync: the node's journal (store/journal.h). Each append is copied into it under the
  // write lock and a write is durable once the journal is (one flush per round for every
  // volume); the head is fdatasync'ed only later (Sync). Null: each write waits for an
  // fdatasync of its own head.
  Journal* journal = nullptr;
  // Bytes appended after which a checkpoint is written (besides at seal and close), to
  // bound the tail a restart scans.
  uint64_t checkpoint_bytes = uint64_t{256} << 20;
  // Compaction reads and writes at most this many bytes per second; 0 = unthrottled.
  uint64_t compaction_bytes_per_s = 0;
  // Backpressure: a write that leaves this many dead bytes in the head (and as many as
  // live ones) compacts the head itself before it returns, so that writers faster than
  // the background compaction cannot grow the disk without bound. 0 = never.
  uint64_t head_dead_limit = 0;
  Env* env = Env::Default();
  // A full disk (store/store.h, "disk reserve"): called when an append or a new segment
  // meets NoSpace; and while *writes_refused reads true, writes that add data (put, an
  // update that stores, touch) fail with NoSpace before trying, while deletes, flush_all
  // and compaction go on. Both optional.
  std::function<void()> on_no_space;
  const std::atomic<bool>* writes_refused = nullptr;
  std::function<uint32_t()> clock;                   // unix seconds; default: time()
  std::function<uint64_t(std::string_view)> hasher;  // null: HashKey (tests force collisions)
};

// One object to store (or a delete, when tombstone is set).
struct WriteOp {
  std::string_view key;
  std::string_view value;
  // An HTTP Content-Type stored with the object; empty = none. At most
  // format::kMaxContentTypeLen (255) bytes, else the write fails with InvalidArgument.
  // Ignored for a tombstone.
  std::string_view content_type;
  uint32_t flags = 0;
  uint32_t expiry = 0;   // absolute unix seconds, 0 = never (see store/expiry.h)
  uint64_t cookie = 0;   // 0 = pick a random one
  uint64_t version = 0;  // out: the version assigned
  bool tombstone = false;
  // memcached's add: when the key has a live object (or an earlier op of the same write
  // stores it), the op is not applied and its status is Exists.
  bool only_if_absent = false;
  // out, for Write: OK, NotFound for a delete of a missing key, Exists (only_if_absent)
  Status status;
};

class Volume;

// One volume's share of a write across volumes (Volume::WriteAcross).
struct VolumeWrite {
  Volume* volume = nullptr;
  std::span<WriteOp> ops;
};

class Segment;

// A live object found by Locate, for sending without copying: views of its key,
// content type and value in the segment's mapping (checksum verified), valid as long as
// `segment` is held, and where its value lies in the segment file (for sendfile).
struct ObjectRef {
  format::NeedleHeader header;
  std::string_view key, content_type, value;
  std::shared_ptr<Segment> segment;
  uint64_t value_offset = 0;
};

// The result of a Get: the needle as read, with views into its own buffer. Reusing one
// ReadResult across calls avoids allocation.
class ReadResult {
 public:
  const format::NeedleHeader& header() const { return header_; }
  std::string_view key() const { return key_; }
  std::string_view content_type() const { return content_type_; }  // empty = none
  std::string_view value() const { return value_; }

  size_t capacity() const { return buf_.capacity(); }  // the buffer kept for reuse

 private:
  friend class Volume;
  std::string buf_;
  format::NeedleHeader header_;
  std::string_view key_, content_type_, value_;
};

struct SegmentInfo {
  uint64_t seq = 0;
  uint32_t generation = 0;
  uint64_t bytes = 0;
  bool sealed = false;
  // Bytes of needles known to be dead (overwritten, deleted, tombstones, replaced touch
  // records) since the segment was written or compacted in this process or scanned by
  // recovery; what a checkpoint covered before a restart is not counted.
  uint64_t dead_bytes = 0;
  bool damaged = false;  // kept as found: never compacted
  // False for a segment a checkpoint covered at open: dead_bytes misses what died before
  // the restart until Volume::SurveyDead counts it.
  bool dead_known = true;
};

struct VolumeStats {
  uint64_t objects = 0;      // index entries (including expired, not yet compacted)
  uint64_t index_bytes = 0;  // memory the index maps
  uint64_t segments = 0;
  uint64_t disk_bytes = 0;
  uint64_t dead_bytes = 0;  // SegmentInfo::dead_bytes, summed
  uint64_t last_version = 0;
  uint64_t unsynced_bytes = 0;  // durability lag
  uint64_t compactions = 0;
  uint64_t compaction_reclaimed = 0;  // bytes of segment files compactions freed
  uint64_t compaction_scanned = 0;    // bytes of the running (or last) compaction
  uint64_t compaction_total = 0;
  uint64_t corrupt_records = 0;  // found by recovery and skipped
  uint64_t checkpoint_failures = 0;
  uint64_t inline_compactions = 0;      // heads compacted by the writer (backpressure)     //
                                        // checkpoints not written (a full disk): longer restarts
  uint64_t truncated_bytes = 0;         // torn tail cut off by recovery
  uint64_t damaged_segments = 0;        // superblock fails its checks
  uint64_t unreadable_segments = 0;     // ... and the salt could not be recovered
  uint64_t missing_segments = 0;        // sequence numbers without a segment file
  bool damaged = false;                 // Damage() holds more than torn tails
  bool unavailable = false;             // every call answers Status::Unavailable
  uint64_t recovery_scanned_bytes = 0;  // needle bytes the last open had to scan
  bool recovery_used_checkpoint = false;
  // memcached's curr_items and bytes: index entries less those an immediate flush_all
  // hid (until a restart: then until compaction drops them), and the bytes of needles
  // not known dead. Expired objects count until a read or compaction finds them, as
  // memcached's count them until a read or its crawler does.
  uint64_t live_objects = 0;
  uint64_t live_bytes = 0;
  uint64_t expired_reads = 0;  // reads that found the key's object expired (get_expired)
  uint64_t flushed_reads = 0;  // ... hidden by flush_all (get_flushed)
  uint32_t oldest_mtime = 0;   // of the oldest live object, if found (0: unknown)
};

struct CompactionResult {
  uint64_t bytes_before = 0;
  uint64_t bytes_after = 0;
  uint64_t needles_kept = 0;
  uint64_t needles_dropped = 0;
  // What the compaction decided, record by record (store/compaction_plan.h): what a
  // replica's ApplyCompaction carries out.
  CompactionPlan plan;
};

// What an Update callback decides after seeing the key's current object.
struct UpdateDecision {
  enum class Action { kAbort, kPut, kDelete };
  Action action = Action::kAbort;
  Status status;           // kAbort: what Update returns (NotFound, Exists, InvalidArgument...)
  std::string_view value;  // kPut: must stay valid until Update returns
  // kPut: the content type to store (empty = none; at most 255 bytes, else Update
  // returns InvalidArgument); must stay valid until Update returns. Not carried over by
  // itself: to keep the object's, set it to current->content_type().
  std::string_view content_type;
  uint32_t flags = 0;
  uint32_t expiry = 0;
  uint64_t cookie = 0;  // 0 = random
  uint8_t marks = 0;    // kPut: format::NeedleHeader::marks (kMarkStale)
  // kPut, kDelete: the version to give the needle (memcached's meta E), which must be
  // above every version the volume has handed out (else Update returns InvalidArgument);
  // 0 = the volume assigns one.
  uint64_t version = 0;
};
// Called under the volume's write lock with the live object, or null when there is
// none. Must be quick: writers of this volume wait for it.
using Updater = std::function<void(const ReadResult* current, UpdateDecision* decision)>;

class Volume {
 public:
  static constexpr size_t kFirstReadBytes = 4096;
  // Versions carry their partition in their low bits (partitions <= 65536: Store, the
  // cluster map); see NextVersionLocked.
  static constexpr int kVersionPartitionBits = 16;
  // Values larger than this are written from the caller's memory (see the contract).
  static constexpr size_t kDirectValueBytes = DecidedWrite::kDirectValueBytes;

  static Status Open(const VolumeOptions& options, std::unique_ptr<Volume>* out);
  // A volume for a partition that could not open (`why`): every call answers
  // Status::Unavailable naming the partition and why; Damage() reports it.
  static std::unique_ptr<Volume> Unavailable(const VolumeOptions& options, const Status& why);
  // A partition this node does not hold (store/store.h): every call answers
  // Status::Unavailable ("partition N is not held by this node"); no damage is reported
  // and nothing on disk is touched.
  static std::unique_ptr<Volume> NotHeld(const VolumeOptions& options);
  ~Volume();

  Status Put(WriteOp& op);
  Status Delete(std::string_view key);  // NotFound if there is no live object
  // Applies `ops` in order with one append and (kSync) one fdatasync. Per-op outcome
  // in op.status; the returned Status is the I/O outcome of the batch.
  Status Write(std::span<WriteOp> ops);
  // Write without waiting for durability in kSync mode; the caller calls Sync() before
  // acknowledging (so that one fdatasync covers many writers).
  Status WriteNoWait(std::span<WriteOp> ops);
  // Write (`wait`) or WriteNoWait, deciding into *decided (reused: its buffers keep
  // their capacity), which then holds exactly the records appended (empty when none
  // was, or on error): what a replica's AppendDecided takes.
  Status Write(std::span<WriteOp> ops, bool wait, DecidedWrite* decided);
  // Appends records another volume decided (a replica applying its primary's writes;
  // see the contract), all or none, and indexes them as recovery would. Makes the
  // volume's next versions exceed decided.max_version(). Waits for durability (kSync)
  // unless `wait` is false. Corruption, with nothing appended, when a touch record
  // names an object (key and version) this volume does not hold.
  Status AppendDecided(const DecidedWrite& decided, bool wait = true);
  // Writes to several distinct volumes so that every op takes effect or none does, now
  // and after a restart: Exists (nothing written) when an only_if_absent op finds its
  // key taken, and any failure to append in one volume cuts the heads of the others
  // back (and syncs them) before their locks are released; no reader sees a part of
  // it before all of it. Per-op outcome in op.status as for Write. Waits for durability
  // (kSync) only if `wait`.
  static Status WriteAcross(std::span<const VolumeWrite> writes, bool wait);
  // Read-modify-write of one key, atomic with respect to every other write
  // (memcached's add, replace, cas, append, prepend, incr, decr, touch). *version is the
  // new needle's version. Waits for durability unless `wait` is false.
  // With `decided`, the record appended is decided there (see Write); it owns its
  // bytes (DecidedWrite::Own), since the decision's value does not outlive the call.
  Status Update(std::string_view key, const Updater& fn, uint64_t* version, bool wait = true,
                DecidedWrite* decided = nullptr);
  Status Get(std::string_view key, ReadResult* out);
  // Like Get, without copying the object when its segment is mapped: out's views point
  // into the mapping and out->segment holds it. Otherwise the object is read into
  // *fallback as Get does, out's views point there and out->segment is null. Statuses
  // are Get's (a candidate whose key differs is skipped before any checksum).
  // `key_hash`, when given, is HashKey(key), already computed by the caller. With
  // `cookie`, an object with another cookie is NotFound, found so before its checksum is
  // computed on the mapped path.
  Status Locate(std::string_view key, ObjectRef* out, ReadResult* fallback,
                const uint64_t* key_hash = nullptr, const uint64_t* cookie = nullptr);
  static constexpr size_t kWillNeedBytes = 1 << 20;

  // A new expiry for the key's live object, without copying its value: a small touch
  // record (format/needle.h) that the index points at instead. The object keeps its
  // version (memcached's touch leaves the CAS unique alone). NotFound if there is no
  // live object. Waits for durability unless `wait` is false.
  // `decided`: as for Write.
  Status Touch(std::string_view key, uint32_t expiry, bool wait = true,
               DecidedWrite* decided = nullptr);

  // flush_all, in two steps so that the owner can make one flush durable for every
  // volume before any applies it. PlanFlush returns the rule after a flush at `when`
  // (unix seconds; 0 or past = now): objects written before it read as missing from
  // `when` on. Changes nothing. A pending delayed flush is replaced, as in memcached,
  // but one whose time has come stays in effect.
  format::FlushRule PlanFlush(uint32_t when) const;
  // Makes `rule` the volume's flush state, in memory only. Versions handed out later
  // are above rule.flush_version (needles it names may have been lost in a crash).
  // An immediate flush also repairs a damaged flush marker (see MarkFlushDamaged).
  void ApplyFlush(const format::FlushRule& rule);
  // The flush state that covers this volume is damaged (`path`: its FLUSH, or the
  // store's FLUSH_ALL, where its rule is at `offset`): the volume answers Unavailable
  // until an immediate flush.
  void MarkFlushDamaged(const std::string& path, uint64_t offset, const std::string& why);
  bool flush_damaged() const {
    std::shared_lock<std::shared_mutex> l(mu_);
    return flush_damaged_;
  }
  format::FlushRule flush_rule() const;

  // Bytes a restart would scan beyond the checkpoint (appended since it was written, or
  // the whole volume when a compaction made it stale).
  uint64_t UncheckpointedBytes() const { return since_checkpoint_.load(std::memory_order_relaxed); }

  Status Sync();        // everything appended so far reaches stable storage
  Status Checkpoint();  // writes index.ckpt now
  // Counts the bytes of segment `seq`'s needles that the index does not point at (after a
  // restart, what a checkpoint covered is not counted otherwise), so that compaction is
  // triggered by garbage from before a crash too. One read of the segment.
  Status SurveyDead(uint64_t seq);
  // Rewrites sealed segment `seq` without its dead needles while reads and writes go on.
  // `progress`, when given, is called with the bytes scanned so far and the total after
  // each 1 MiB written (for a log line).
  using CompactionProgress = std::function<void(uint64_t scanned, uint64_t total)>;
  Status Compact(uint64_t seq, CompactionResult* result, const CompactionProgress& progress = {});
  // Carries out a compaction another volume decided (result->plan of its Compact), as a
  // replica will: the same records copied with the same actions, so that the copy holds
  // the same needles as the primary's (store/compaction_plan.h); index entries move as
  // Compact moves them, with the same crash safety. The segment must hold what the
  // primary's did up to plan.end: InvalidArgument, nothing changed, when its generation,
  // end offset or record count differ; Corruption, nothing changed, when the plan drops
  // or changes a record this volume's index holds live.
  Status ApplyCompaction(const CompactionPlan& plan, CompactionResult* result);
  Status Close();  // sync and checkpoint; later calls fail

  std::vector<SegmentInfo> Segments() const;
  VolumeStats Stats() const;
  // What recovery found wrong (at most kMaxDamageReports; Stats() counts all of it).
  std::vector<DamageReport> Damage() const;
  static constexpr size_t kMaxDamageReports = 100;
  const VolumeOptions& options() const { return options_; }

 private:
  struct Found {
    Location loc;
    format::NeedleHeader header;
  };

  explicit Volume(const VolumeOptions& options);
  uint32_t Now() const;
  uint32_t Tag(std::string_view key) const;
  uint32_t Tag(std::string_view key, const uint64_t* key_hash) const {
    return key_hash != nullptr && !options_.hasher ? static_cast<uint32_t>(*key_hash >> 32)
                                                   : Tag(key);
  }
  bool IsLive(const format::NeedleHeader& h, uint32_t now) const;
  Status CheckKey(std::string_view key) const;

  // Finds the needle the index holds for `key` (live or not); NotFound if none.
  Status FindLocked(std::string_view key, uint32_t tag, Found* found);
  // Why a read found the key's object dead (a read to count and reclaim), if it did.
  enum class Gone : uint8_t { kNo, kExpired, kFlushed };
  // Locate's mapped path; *not_mapped when the needle lies outside every mapping.
  Status LocateMapped(std::string_view key, ObjectRef* out, const uint64_t* key_hash,
                      const uint64_t* cookie, bool* not_mapped, Gone* gone);
  Status GetImpl(std::string_view key, ReadResult* out, uint32_t* tag, Gone* gone);
  // Stats of reads (volume_stats.cc). Why the needle `h` the index points at is not
  // live (kNo: a tombstone, or live), counted as a read of a dead object.
  Gone NoteGoneRead(const format::NeedleHeader& h, uint32_t now);
  // A read found the key's object dead: the index lets go of it, as memcached unlinks
  // an expired or flushed item it finds (an expired one leaves a tombstone, so that no
  // older needle of the key comes back after a restart; a flushed one needs none).
  void ReclaimGone(std::string_view key, uint32_t tag);
  // The index lets go of (or replaces) its entry for a needle of `version` and `size`
  // bytes in `slot`: the needle is dead, unless a flush counted it dead already.
  void ForgetIndexedLocked(uint16_t slot, uint64_t size, uint64_t version);
  // An immediate flush hid the index's entries up to `flush_version` (ApplyFlush).
  void NoteFlushHidLocked(uint64_t flush_version);
  void LiveStatsLocked(VolumeStats* st) const;
  // The mtime of the oldest live object, looked for among the first kOldestScan needles
  // of the oldest segment (compaction keeps the log's order; one small read each, from
  // the mapping when there is one); 0 if none is there.
  static constexpr int kOldestScan = 16;
  uint32_t OldestMtimeLocked() const;
  // Reads the needle at `loc`: its header and key only, or (whole) all of it with the
  // checksum verified. A touch record read whole reads as its object (the target's
  // value, the record's expiry) unless `resolve` is false.
  Status ReadNeedleLocked(Location loc, ReadResult* out, bool whole, bool resolve = true);
  // LocateMapped's step from a touch record in *out to its object.
  Status LocateTouchedMapped(ObjectRef* out, bool* not_mapped);
  // Where a touch record's target is now; Corruption if its segment generation is gone.
  Status ResolveTouchLocked(const format::TouchTarget& t, Location* out) const;
  // The target of the touch record at `loc` (read from disk).
  Status TouchTargetLocked(Location loc, format::TouchTarget* t, Location* target);
  // Compaction: whether a touch record (not in segment slot `except`) makes the value
  // needle `value_loc` of `key` live; fills *touch with its location and header.
  bool FindToucherLocked(std::string_view key, uint32_t tag, const format::NeedleHeader& value,
                         Location value_loc, Found* touch);
  // Whether touch records may name needles of `slot`: unknown (true) for segments found
  // at open, false for new ones until a touch names one of their needles.
  bool MayBeTouchTarget(uint16_t slot) const { return !StateOf(slot).touch_free; }
  // What the volume knows of segment slot `slot` (compaction's trigger, touch targets).
  struct SlotState {
    uint64_t dead_bytes = 0;  // SegmentInfo::dead_bytes
    bool dead_known = true;   // SegmentInfo::dead_known
    bool touch_free = false;  // no touch record names its needles (unknown: false)
  };
  SlotState& StateLocked(uint16_t slot) {
    if (slot_state_.size() <= slot) slot_state_.resize(size_t{slot} + 1);
    return slot_state_[slot];
  }
  SlotState StateOf(uint16_t slot) const {
    return slot < slot_state_.size() ? slot_state_[slot] : SlotState{};
  }
  // A segment this process created (a new head, a compaction's copy): nothing dead, no
  // touch record names it.
  void FreshSlotLocked(uint16_t slot) { StateLocked(slot) = SlotState{0, true, true}; }
  struct CompactionPass;
  // Compact (`follow` null: deciding) or ApplyCompaction (carrying out *follow).
  Status RunCompaction(uint64_t seq, const CompactionPlan* follow, CompactionResult* result,
                       const CompactionProgress& progress);
  // ApplyCompaction's side of CompactRecordLocked: the planned action for `rec` into *h,
  // *content_type and *value (*keep), checked against what this volume decided itself.
  Status FollowPlanLocked(const CompactionPass& pass, const NeedleScanner::Record& rec,
                          bool indexed, format::NeedleHeader* h, std::string_view* content_type,
                          std::string_view* value, bool* keep);
  void CompactRecordLocked(const CompactionPass& pass, const NeedleScanner::Record& rec,
                           std::string* buf, uint64_t written, CompactionResult* r);
  // Counts `bytes` of needles in segment `slot` as dead (compaction's trigger).
  void NoteDeadLocked(uint16_t slot, uint64_t bytes) { StateLocked(slot).dead_bytes += bytes; }
  void NoteAllDeadLocked();  // flush_all: every needle written so far is dead
  static uint64_t NeedleSizeOf(const WriteOp& op);
  // Makes room for `bytes` in the head, sealing it and starting a new one if needed.
  // Appends must follow under the same lock: needles carry the head's salt.
  Status EnsureRoomLocked(uint64_t bytes);
  // Appends exactly the records of `d` (encoded with the head's salt) as one pwrite,
  // or one pwritev when values are spliced in; *offset is where they start.
  Status AppendDecidedLocked(const DecidedWrite& d, uint64_t* offset);
  // After `d` was appended at `offset` (and every check of the write passed): *lsn is
  // what WaitDurable waits for. With a journal (kSync) the bytes are copied into it,
  // or, past Journal::kMaxInlineBytes, the head is fdatasync'ed now (*lsn 0: nothing to
  // wait for); else the volume's append count.
  Status RecordAppendLocked(const DecidedWrite& d, uint64_t offset, uint64_t* lsn);
  // Decides one needle into *d (making room in the head first: needles carry the head's
  // salt) and appends it; *loc is where it went, *lsn the volume's append count after.
  Status AppendOneLocked(const format::NeedleHeader& h, std::string_view key,
                         std::string_view content_type, std::string_view value, DecidedWrite* d,
                         Location* loc, uint64_t* lsn);
  // Touch's decision for the key's needle `f`: the header (f's, with `expiry`), and a
  // touch record naming the object's value needle (its payload in `payload`), or, while
  // that needle's segment is being compacted, the whole object (views into `current`).
  // *target is the value needle's location.
  Status DecideTouchLocked(const Found& f, uint32_t expiry, format::NeedleHeader* h,
                           std::string_view* content_type, std::string_view* value,
                           char (&payload)[format::kTouchValueSize], ReadResult* current,
                           Location* target);
  // AppendDecided's re-encoding of `src` for this volume (its head's salt, its touch
  // targets) into *out.
  Status RedecideLocked(const DecidedWrite& src, DecidedWrite* out);
  uint16_t FreeSlotLocked() const;
  // The next version: the low kVersionPartitionBits are the partition, the bits above a
  // counter that continues above every version the volume has seen (last_version_), so
  // that versions are unique across partitions and monotonic within one.
  uint64_t NextVersionLocked();
  // Takes `version` (an explicit one, UpdateDecision::version) as the next; InvalidArgument
  // unless it is above last_version_.
  Status TakeVersionLocked(uint64_t version);
  // Returns once the append `lsn` (RecordAppendLocked's) is durable: the journal's
  // flush, or the head's fdatasync (HeadDurable).
  Status WaitDurable(uint64_t lsn);
  // The head's fdatasync, shared by concurrent callers, up to append count `lsn`.
  Status HeadDurable(uint64_t lsn);
  Status WriteCheckpointLocked();
  // Recovery helpers (volume_recovery.cc, checkpoint.cc).
  Status Recover();
  Status OpenSegments(bool* created);
  Status LoadCheckpoint(uint64_t* scan_seq, uint64_t* scan_offset);
  Status ScanFrom(uint64_t seq, uint64_t offset, uint64_t* scanned);
  Status ApplyRecord(uint16_t slot, const NeedleScanner::Record& rec);
  // Whether the head's failing record at `bad`, with nothing valid after it, is a torn
  // write: the file ends inside it, or ends in zeros that begin inside it (the length
  // reached the disk, the bytes did not). Otherwise it is damage and is kept.
  Status IsTornTail(const Segment& seg, uint64_t bad, bool* torn) const;
  void AddDamage(DamageKind kind, std::string path, uint64_t offset, std::string what);
  Status ReadLegacyFlushMarker();
  Status MaybeCheckpoint();
  // The backpressure of VolumeOptions::head_dead_limit; after a write, without locks.
  void MaybeCompactHead();
  Status WriteImpl(std::span<WriteOp> ops, bool wait, DecidedWrite* decided);
  bool WritesRefused() const {
    return options_.writes_refused != nullptr &&
           options_.writes_refused->load(std::memory_order_relaxed);
  }
  // Tells the store of a full disk when `s` is NoSpace; returns s.
  Status NoteNoSpace(Status s) const {
    if (s.IsNoSpace() && options_.on_no_space) options_.on_no_space();
    return s;
  }

  // The steps of a write, under the write lock (WriteImpl, WriteAcross).
  struct PendingOp {
    static constexpr size_t kNoOp = SIZE_MAX;
    uint32_t tag = 0;
    bool had_old = false;    // the key has a needle the index points at
    Location old;            // ... at this location, when earlier == kNoOp
    uint64_t old_size = 0;   // ... of this many bytes (a touch record: the record's)
    uint64_t old_ver = 0;    // ... and this version
    size_t earlier = kNoOp;  // or an earlier op of this write wrote the key
    uint64_t rel = 0;        // offset of this op's needle within the append
  };
  static Status CheckOps(std::span<const WriteOp> ops);
  // NoSpace if the disk is full (VolumeOptions::writes_refused): for a write that adds
  // data; CheckRefused, if one of `ops` does.
  Status RefuseIfFull() const;
  Status CheckRefused(std::span<const WriteOp> ops) const;
  // Finds what each op replaces and sets op.status; changes nothing else.
  Status PlanWriteLocked(std::span<WriteOp> ops, std::vector<PendingOp>* pending, uint32_t now);
  // Decides the planned ops whose status is OK into *d (versions, cookies, needles;
  // room made in the head first); d is empty when there is none.
  Status DecideWriteLocked(std::span<WriteOp> ops, std::vector<PendingOp>* pending, uint32_t now,
                           DecidedWrite* d);
  // DecideWriteLocked, then AppendDecidedLocked, without indexing; *appended is false
  // when there was nothing to append, else *base is where the append starts.
  Status AppendWriteLocked(std::span<WriteOp> ops, std::vector<PendingOp>* pending, uint32_t now,
                           DecidedWrite* d, bool* appended, uint64_t* base);
  // Points the index at an append made by AppendWriteLocked.
  void IndexWriteLocked(std::span<WriteOp> ops, const std::vector<PendingOp>& pending,
                        uint64_t base);
  // Undoes an append made by AppendWriteLocked (and not indexed): cuts the head back to
  // `base` and syncs it, so that a restart cannot find the needles either.
  Status UndoAppendLocked(uint64_t base);

  VolumeOptions options_;
  mutable std::shared_mutex mu_;
  NeedleIndex index_;
  std::vector<std::shared_ptr<Segment>> slots_;  // slot -> segment (null when free)
  std::vector<uint16_t> order_;                  // slots in log order; back() is the head
  uint64_t last_version_ = 0;
  format::FlushRule flush_;  // what flush_all has hidden (format/store_flush.h)
  // The next append, reused under the write lock (decided here when the caller takes
  // no DecidedWrite of its own), and the buffers it is written from.
  DecidedWrite decided_;
  std::vector<std::string_view> pieces_;
  bool closed_ = false;

  // Group commit: appended_ counts bytes appended to the volume (a log sequence
  // number); synced_ how many of them are known durable.
  std::atomic<uint64_t> appended_{0};
  mutable std::mutex sync_mu_;
  std::condition_variable sync_cv_;
  uint64_t synced_ = 0;
  bool syncing_ = false;
  std::unique_ptr<Syncer> own_syncer_;

  std::mutex checkpoint_mu_;  // one checkpoint writer at a time
  std::atomic<uint64_t> since_checkpoint_{0};
  std::vector<SlotState> slot_state_;  // by slot (StateLocked, StateOf)
  // Compaction's state, owned by the compaction running (compaction_mu_).
  struct CompactionPass {
    uint16_t old_slot = 0;
    bool oldest = false;
    bool touch_targets = false;  // whether touch records may name needles of the segment
    uint32_t salt = 0;
    uint32_t now = 0;
    CompactionPlan* plan = nullptr;            // Compact: the decisions, recorded
    CompactionPlan::Cursor* follow = nullptr;  // ApplyCompaction: the decisions to carry out
  };
  struct Move {
    uint32_t tag;
    uint16_t from_slot;  // the compacted segment's, or a touch record's elsewhere
    uint32_t from_units;
    uint32_t to_units;
    bool drop;
    bool hidden;  // an entry the last immediate flush hid (hidden_ counts it)
  };
  std::vector<Move> compaction_moves_;
  ReadResult compaction_read_;  // an object merged with its touch record
  Status pass_status_;
  std::atomic<uint64_t> compaction_reclaimed_{0};
  std::atomic<uint64_t> checkpoint_failures_{0};
  std::atomic<uint64_t> inline_compactions_{0};  // by writers (head_dead_limit)
  // The slot a compaction is copying (kNoSlot: none). A touch of a needle in it writes
  // a whole copy instead of a touch record, which the copy would leave dangling.
  static constexpr uint16_t kNoSlot = 0xFFFF;
  uint16_t compacting_slot_ = kNoSlot;
  std::mutex compaction_mu_;  // one compaction at a time
  std::atomic<uint64_t> compactions_{0}, compaction_scanned_{0}, compaction_total_{0};
  uint64_t corrupt_records_ = 0, truncated_bytes_ = 0, recovery_scanned_ = 0;
  bool recovery_used_checkpoint_ = false;
  // Damage found at open (store/damage.h). The volume writes no checkpoint while it
  // knows of corrupt records, so that every open scans them again and reports them.
  std::vector<DamageReport> damage_;
  bool damaged_ = false;  // damage_ holds (or would hold) more than torn tails
  uint64_t damaged_segments_ = 0, unreadable_segments_ = 0, missing_segments_ = 0;
  std::vector<std::pair<uint64_t, uint64_t>> missing_;  // missing sequence numbers (ranges)
  // Not OK: what every call answers (Status::Unavailable naming the partition).
  Status unavailable_;
  bool opened_ = false;         // Open recovered it (not a Volume::Unavailable)
  bool flush_damaged_ = false;  // why: FLUSH is damaged (FlushAll(0) repairs it)
  // Live counts (volume_stats.cc), under mu_: the index entries the last immediate
  // flush_all in this process hid and that are still indexed, and the versions it hid
  // (their needles were counted dead then).
  uint64_t hidden_ = 0;
  uint64_t hidden_through_ = 0;
  // The index's size when PlanFlush planned an immediate flush (kNoPlan: none pending).
  static constexpr uint64_t kNoPlan = UINT64_MAX;
  mutable std::atomic<uint64_t> planned_hidden_{kNoPlan};
  std::atomic<uint64_t> expired_reads_{0}, flushed_reads_{0};
};

}  // namespace bale
