// ObjectStore: the one interface the faces (memcached, HTTP) see of the objects they
// serve. `bale serve` implements it over its own Store (store/local_object_store.h); a
// routing client (src/router/) will implement it over store nodes. docs/layers.md says
// what the faces may call and what an implementation must guarantee.
//
// Contract for the layer: this header includes only std, base/ and net/file_send.h, and
// the faces include nothing of src/store/ or src/format/ (scripts/check_layers checks
// it). Objects are named by key (1..250 bytes, memcached's rules) and carry an
// ObjectMeta of their own, never a needle header.
// - Lookups are synchronous and zero-copy: the view points into memory the session
//   lends (a segment's mapping, held by ObjectView::hold, or the session's read buffer)
//   and is valid until the session's next lookup or until the view is released.
// - Mutations are declarative (Mutation) and answer through a MutationCompletion:
//   Done(result) is called exactly once, by LocalObjectStore before Mutate returns, by a
//   remote implementation possibly later.
// - Durability: when durability_sync() is true, a mutation's result (any result that
//   changed something) may be acknowledged to a client only after the session's next
//   successful Commit(); a failed Commit means the writes since the last one may be lost
//   and their clients must not hear they succeeded. In the other modes Commit has
//   nothing to do.
// - No exceptions cross this interface: errors are Status or MutationStatus values.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "base/content_type.h"  // IsValidContentType: what a face may store
#include "base/status.h"

namespace bale {

// What the faces know of a stored object.
struct ObjectMeta {
  uint64_t version = 0;  // memcached's CAS unique, HTTP's ETag; a touch keeps it
  uint64_t cookie = 0;   // guards the object's public URL
  uint32_t flags = 0;    // memcached's client flags
  uint32_t expiry = 0;   // absolute unix seconds, 0 = never
  uint32_t mtime = 0;    // unix seconds of the write that stored the value
  uint64_t size = 0;     // bytes of the value
  // memcached's stale mark (meta md I, ms I with an older CAS): served, flagged X, until
  // a new value replaces it. Stored with the object: it survives a restart.
  bool stale = false;
  // Set by a lookup with LookupOptions::meta only (memcached's meta get):
  bool won = false;         // W: this lookup won the right to recache
  bool token_sent = false;  // Z: a win token had been handed out before
  bool fetched = false;     // h: fetched before this lookup (approximate)
  uint32_t idle_s = 0;      // l: seconds since the last access (approximate)
};

// A live object found by a lookup. `key`, `content_type` (empty: none) and `value` are
// views valid while `hold` is held (mapped segments) or until the session's next
// lookup (values read into the session's buffer). When `fd` >= 0 the value's bytes are
// also [value_offset, value_offset + meta.size) of that file, which `hold` keeps open,
// so that a face may send them with sendfile (net/file_send.h) instead of copying.
struct ObjectView {
  ObjectMeta meta;
  std::string_view key, content_type, value;
  std::shared_ptr<const void> hold;
  int fd = -1;
  uint64_t value_offset = 0;

  // Lets go of the file (a compacted-away segment is not kept open by a view).
  void Release() {
    hold.reset();
    fd = -1;
  }
};

struct LookupOptions {
  // HTTP public URLs: an object with another cookie is NotFound.
  const uint64_t* cookie = nullptr;
  // gat, gats, mg T: the object's expiry is set to *touch_expiry (a mutation, so the
  // session's Commit rule applies). gat, gats: first, so that an expiry in the past
  // reads as a miss; with `meta` (mg T): after the lookup, which returns the object with
  // its new expiry, as memcached's mg does.
  const uint32_t* touch_expiry = nullptr;
  // Meta get (memcached's mg): the win token and access state are reported in the
  // view's meta (won, token_sent, fetched, idle_s). A hit wins (W, and the token is
  // handed out: later lookups see token_sent, Z) when no token was handed out for this
  // version of the object and it is stale, or its expiry is before *recache_before.
  bool meta = false;
  const uint32_t* recache_before = nullptr;  // mg R: absolute unix seconds
  // mg N: a miss creates an empty object (flags 0) with this expiry (0 = never) and
  // version vivify_version (mg E; 0 = assigned), and reads it, won.
  const uint32_t* vivify_expiry = nullptr;
  uint64_t vivify_version = 0;
  // mg u: this access is not recorded (h and l of later lookups do not see it).
  bool no_bump = false;
};

enum class MutationKind : uint8_t {
  kSet,
  kAdd,      // only if absent
  kReplace,  // only if present
  kCas,      // kSet only if the object's version is compare_version
  kAppend,   // keeps the object's flags, expiry, cookie and content type
  kPrepend,  // the same
  kIncr,     // the decimal value plus delta (wrapping at 2^64), keeping the rest
  kDecr,     // minus delta, floored at 0
  kTouch,    // a new expiry; the version stays
  kDelete,
};

struct Mutation {
  MutationKind kind = MutationKind::kSet;
  std::string_view key;
  std::string_view value;         // set, add, replace, cas, append, prepend
  std::string_view content_type;  // stored as given (empty: none) by set/add/replace/cas
  uint32_t flags = 0;             // set, add, replace, cas
  // set/add/replace/cas/touch: the new expiry (absolute unix seconds, 0 = never);
  // incr/decr: the new expiry only when set_expiry (else the object's is kept).
  uint32_t expiry = 0;
  bool set_expiry = false;
  // kCas always; any other kind but touch when has_compare (meta commands' C): the
  // object must exist (kNotFound) with this version (kExists) before anything else is
  // checked. incr/decr check it only on an existing object.
  uint64_t compare_version = 0;
  bool has_compare = false;
  uint64_t delta = 0;  // incr, decr
  // incr/decr of a missing key: store `initial` with expiry `vivify_expiry` instead of
  // answering kNotFound (meta ma N/J).
  bool vivify = false;
  uint64_t initial = 0;
  uint32_t vivify_expiry = 0;
  uint64_t cookie = 0;          // set, add, replace, cas: 0 = the store draws one
  uint64_t max_value_size = 0;  // append, prepend: a longer result is kTooLarge (0: none)
  // Meta E: the version the written object gets (memcached's explicit CAS), 0 = the store
  // assigns one. It must be above every version of the key's partition (versions order
  // writes and flush_all): kInvalid otherwise, with nothing written.
  uint64_t explicit_version = 0;
  // Meta I (invalidate). kSet/kCas with has_compare: a compare_version below the
  // object's stores anyway, keeping the object's expiry and its handed-out win token,
  // and marks the new object stale. kDelete: the object is kept, marked stale, with a
  // new version (and the new expiry when set_expiry) instead of being deleted.
  bool invalidate = false;
  // Meta md x: kDelete keeps the object with an empty value and flags 0 (its expiry,
  // content type and cookie stay), under a new version.
  bool remove_value = false;
};

enum class MutationStatus : uint8_t {
  kOk,           // stored, deleted, touched
  kNotStored,    // add of a present key, replace/append/prepend of a missing one
  kExists,       // the version is not compare_version
  kNotFound,     // cas, incr, decr, touch, delete (or has_compare) of a missing key
  kNonNumeric,   // incr, decr of a value that is not a decimal number
  kTooLarge,     // append, prepend past max_value_size
  kNoSpace,      // the disk is full (error says so)
  kUnavailable,  // the key's partition cannot answer (error names it)
  kInvalid,      // explicit_version not above the partition's versions (error says so)
  kError,        // anything else (error says what)
};

struct MutationResult {
  MutationStatus status = MutationStatus::kOk;
  Status error;         // kNoSpace, kUnavailable, kError: the store's reason
  ObjectMeta meta;      // kOk: the object as stored (delete, touch: version 0); cookie 0 if drawn
                        // by the store and not known
  uint64_t number = 0;  // incr, decr: the new value
};

class MutationCompletion {
 public:
  virtual void Done(const MutationResult& result) = 0;

 protected:
  ~MutationCompletion() = default;
};

// A completion that calls `f(result)`.
template <class F>
class CallbackCompletion final : public MutationCompletion {
 public:
  explicit CallbackCompletion(F f) : f_(std::move(f)) {}
  void Done(const MutationResult& result) override { f_(result); }

 private:
  F f_;
};

// One object of an atomic batch (POST /batch).
struct BatchPut {
  std::string_view key, value, content_type;
  uint32_t flags = 0;
  uint32_t expiry = 0;
  bool only_if_absent = false;  // add semantics: `taken` and nothing stored if present
  uint64_t cookie = 0;          // in: 0 = the store draws one; out: the object's
  uint64_t version = 0;         // out
  bool taken = false;           // out: only_if_absent found the key (or an earlier part) had it
};

// Per-thread state a face uses with one ObjectStore: the read buffer that lookups fill
// and the writes awaiting Commit (group commit: one Commit covers every mutation of an
// event-loop round). Not thread-safe: one per event-loop thread.
class ObjectSession {
 public:
  virtual ~ObjectSession() = default;
  // Whether mutations since the last Commit await it.
  virtual bool commit_pending() const = 0;
  // Makes everything written through this session since the last Commit durable (in
  // kSync: one fdatasync per written volume, in parallel); the first error is returned,
  // and the pending set is cleared either way.
  [[nodiscard]] virtual Status Commit() = 0;
  // Commit without waiting: the pending set is cleared now and `done` is called once
  // with Commit's outcome (true: durable), on this thread before CommitAsync returns or
  // later on another (a session whose store flushes in the background: the node's
  // journal, store/journal.h). Commits complete in the order they were asked.
  virtual void CommitAsync(std::function<void(bool ok)> done) { done(Commit().ok()); }
  // Gives back read-buffer memory above `max_bytes` (after an unusually large object).
  virtual void TrimBuffers(size_t max_bytes) = 0;

  // Round batching, for a session whose calls are round trips to other processes (a
  // router's): instead of waiting for each call in turn, a face may run a round's
  // requests twice. First while Speculate(true): lookups and mutations change nothing
  // and only record the call they would send (lookups answer NotFound, mutations
  // kUnavailable, flush_all and atomic batches too without being recorded); the calls
  // made are counted in speculated_calls(), those recorded numbered from recorded().
  // At the round's end SendRound() sends every recorded call at once and waits for the
  // replies. Then the face runs the same requests again, in the same order, each after
  // Replay(the numbers of the calls it recorded): its calls take the recorded replies
  // in order (each call is sent once), and any other call is made then. EndRound()
  // forgets the round. A request must make the same first calls in both runs: a face
  // only replays requests whose calls do not depend on what an earlier call answered.
  virtual bool batches_rounds() const { return false; }
  virtual void Speculate(bool on) { (void)on; }
  virtual uint64_t speculated_calls() const { return 0; }
  virtual uint32_t recorded() const { return 0; }
  // Forgets the calls recorded from number `from` on (the latest): not sent with the
  // round, they are made when replayed (after a call the speculative run could not
  // record, such as a flush_all, which is made then too: the connection's order holds).
  virtual void DropRecorded(uint32_t from) { (void)from; }
  virtual void SendRound() {}
  virtual void Replay(std::span<const uint32_t> calls) { (void)calls; }
  virtual void EndRound() {}
};

// The figures the faces report (stats, /metrics, /status).
struct ObjectStats {
  uint32_t partitions = 0;
  uint64_t objects = 0;  // index entries (live, plus expired ones not yet compacted)
  // memcached's curr_items and bytes: the objects stored now (expired ones until a read
  // or compaction finds them, as memcached counts them until a read or its crawler
  // does) and their bytes on disk (headers and keys included, as memcached's are).
  uint64_t live_objects = 0;
  uint64_t live_bytes = 0;
  uint64_t expired_reads = 0;  // reads that found the object expired (get_expired)
  uint64_t flushed_reads = 0;  // ... hidden by flush_all (get_flushed)
  uint32_t oldest_mtime = 0;   // unix seconds the oldest object was written (0: unknown)
  uint64_t index_bytes = 0;
  uint64_t segments = 0;
  uint64_t disk_bytes = 0;
  uint64_t dead_bytes = 0;
  uint64_t unsynced_bytes = 0;
  uint64_t compactions = 0;
  uint64_t compaction_reclaimed = 0;
  uint64_t compaction_scanned = 0;
  uint64_t compaction_total = 0;
  uint64_t inline_compactions = 0;
  uint64_t checkpoint_failures = 0;
  uint64_t recovery_scanned_bytes = 0;
  uint64_t corrupt_records = 0;
  uint64_t truncated_bytes = 0;
  uint64_t damaged_segments = 0;
  uint64_t unreadable_segments = 0;
  uint64_t missing_segments = 0;
  bool compaction_running = false;
  bool compaction_request_pending = false;
  uint64_t compaction_failures = 0;
  uint64_t compactor_compactions = 0;  // by the background compactor
  uint64_t tail_checkpoints = 0;
  bool disk_full = false;
  uint64_t disk_reserve_bytes = 0;
  uint32_t damaged_partitions = 0;
  uint32_t unavailable_partitions = 0;
  bool flush_all_damaged = false;  // the flush_all marker failed a check when it opened
  // kSync's journal (docs/store.md, "Durable writes"): flushes (one write and one
  // fdatasync each), bytes and files written, its failures, and at open the records the
  // last run left that were written back into their segments.
  uint64_t journal_flushes = 0;
  uint64_t journal_bytes = 0;
  uint64_t journal_rotations = 0;
  uint64_t journal_failures = 0;
  uint64_t journal_replayed = 0;
};

// One thing found wrong with a partition's data, or with a file of the whole store
// (/status).
struct DamageReportView {
  static constexpr uint32_t kStoreWide = 0xFFFFFFFF;  // no one partition's (FLUSH_ALL's)
  uint32_t partition = 0;                             // or kStoreWide
  std::string kind;                                   // a DamageKind's name
  std::string file;
  uint64_t offset = 0;
  std::string what;
};

struct PartitionHealth {
  bool damaged = false;
  bool unavailable = false;
};

class ObjectStore {
 public:
  virtual ~ObjectStore() = default;

  virtual std::unique_ptr<ObjectSession> NewSession() = 0;

  // The key's live object into *view. OK; NotFound (missing, expired, flushed, wrong
  // cookie); Corruption (a damaged record: the faces answer a miss); Unavailable (the
  // partition cannot answer: not a miss); other errors.
  virtual Status Get(ObjectSession* session, std::string_view key, const LookupOptions& options,
                     ObjectView* view) = 0;

  // A lookup of several keys is coming (memcached's `get k1 k2 ...`, `keys` as sent:
  // space-separated), each with `options`: an implementation may fetch them together (a
  // router sends one batch to each store node at once) and answer the Gets that follow,
  // in the same order, from what it fetched. Only a hint: the Gets decide. By default
  // nothing happens.
  virtual void Prefetch(ObjectSession* session, std::string_view keys,
                        const LookupOptions& options) {
    (void)session;
    (void)keys;
    (void)options;
  }

  // Applies `m`; `done->Done(result)` is called exactly once (see the contract above).
  virtual void Mutate(ObjectSession* session, const Mutation& m, MutationCompletion* done) = 0;

  // flush_all: objects written before `when` (unix seconds; 0 or past = now) read as
  // missing from `when` on, everywhere; on error nothing changes.
  virtual void FlushAll(uint32_t when, ObjectSession* session, MutationCompletion* done) = 0;

  // Stores every item or none: kExists (nothing stored) when an only_if_absent item's
  // key is taken (its `taken` says which); on kOk every item's cookie and version are
  // set.
  virtual void PutAtomic(std::span<BatchPut> items, ObjectSession* session,
                         MutationCompletion* done) = 0;

  // Whether objects of these two keys are kept together, so that a PutAtomic of both can
  // be all or nothing (locally always; in a cluster, when one node owns both). The batch
  // route draws generated ids that are.
  virtual bool Colocated(std::string_view a, std::string_view b) const {
    (void)a;
    (void)b;
    return true;
  }

  // The partition a key belongs to (public URLs name it), and how many there are.
  virtual uint32_t PartitionOf(std::string_view key) const = 0;
  virtual uint32_t partitions() const = 0;
  // Whether a result must wait for ObjectSession::Commit before it is acknowledged.
  virtual bool durability_sync() const = 0;
  virtual std::string_view durability_name() const = 0;

  virtual ObjectStats Stats() const = 0;
  virtual std::vector<DamageReportView> Damage() const = 0;
  virtual std::vector<PartitionHealth> Health() const = 0;  // by partition
  // Asks for a compaction pass over every segment with dead bytes; false if compaction
  // is stopped.
  virtual bool RequestCompaction() = 0;
};

// Calls `store->Mutate` with a completion that runs `f(result)`.
template <class F>
void Mutate(ObjectStore* store, ObjectSession* session, const Mutation& m, F f) {
  CallbackCompletion<F> done(std::move(f));
  store->Mutate(session, m, &done);
}

}  // namespace bale
