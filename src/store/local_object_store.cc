#include "store/local_object_store.h"

#include <charconv>
#include <ctime>
#include <vector>

#include "base/decimal.h"

namespace bale {
namespace {

bool IsIncrDecr(MutationKind k) { return k == MutationKind::kIncr || k == MutationKind::kDecr; }
bool Joins(MutationKind k) { return k == MutationKind::kAppend || k == MutationKind::kPrepend; }

uint64_t DrawCookie() {
  uint64_t c;
  do c = RandomU64();
  while (c == 0);
  return c;
}

ObjectMeta MetaOf(const format::NeedleHeader& h, uint64_t size) {
  ObjectMeta m{h.version, h.cookie, h.flags, h.expiry, h.mtime, size};
  m.stale = (h.marks & format::kMarkStale) != 0;
  return m;
}

// Meta ms I: a set whose compared version is older than the object's stores anyway,
// marked stale.
bool StoresStale(const Mutation& m, uint64_t current) {
  bool set = m.kind == MutationKind::kSet || m.kind == MutationKind::kCas;
  return set && m.invalidate && m.compare_version < current;
}

// Meta md I / md x: the delete keeps the object (stale, or without its value), under a
// new version.
void KeepDeleted(const Mutation& m, const ReadResult& cur, UpdateDecision* d,
                 UpdateDecision* kept) {
  const format::NeedleHeader& h = cur.header();
  d->action = UpdateDecision::Action::kPut;
  d->value = m.remove_value ? std::string_view() : cur.value();
  d->content_type = cur.content_type();
  d->flags = m.remove_value ? 0 : h.flags;
  d->expiry = m.set_expiry ? m.expiry : h.expiry;
  d->cookie = h.cookie;
  d->marks = m.invalidate ? format::kMarkStale : h.marks;
  *kept = *d;
}

uint32_t WallClock() { return static_cast<uint32_t>(::time(nullptr)); }

}  // namespace

bool ParseCounter(std::string_view value, uint64_t* out) {
  auto space = [](char c) { return c == ' ' || (c >= '\t' && c <= '\r'); };
  size_t i = 0;
  while (i < value.size() && space(value[i])) i++;
  bool minus = i < value.size() && value[i] == '-';
  if (i < value.size() && (minus || value[i] == '+')) i++;
  const size_t digits = i;
  uint64_t n = 0;
  for (; i < value.size() && value[i] >= '0' && value[i] <= '9'; i++) {
    uint64_t d = static_cast<uint64_t>(value[i] - '0');
    if (n > (UINT64_MAX - d) / 10) return false;  // strtoull's ERANGE
    n = n * 10 + d;
  }
  if (i == digits) return false;
  // What follows the number is memcached's "\r\n" (or here the value's end): any space
  // or a NUL ends it, anything else makes the value non-numeric.
  if (i < value.size() && !space(value[i]) && value[i] != '\0') return false;
  if (minus) n = 0 - n;  // strtoull negates; memcached refuses what reads as negative
  if (minus && static_cast<int64_t>(n) < 0) return false;
  *out = n;
  return true;
}

// The volumes written since the last Commit, and the buffers lookups fill.
class LocalObjectStore::Session final : public ObjectSession {
 public:
  explicit Session(Store* store) : store_(store) {}

  bool commit_pending() const override { return !dirty_.empty(); }
  Status Commit() override {
    Status s = store_->SyncVolumes(dirty_);
    dirty_.clear();
    return s;
  }
  // With the journal the loop goes on while it flushes (its flusher thread calls back).
  void CommitAsync(std::function<void(bool ok)> done) override {
    Journal* j = store_->journal();
    if (j == nullptr) return ObjectSession::CommitAsync(std::move(done));
    dirty_.clear();
    j->FlushAsync(j->position(), [done = std::move(done)](Status s) { done(s.ok()); });
  }
  void TrimBuffers(size_t max_bytes) override {
    if (read_.capacity() > max_bytes) read_ = ReadResult();
  }
  void Wrote(Volume* v) {
    for (Volume* d : dirty_) {
      if (d == v) return;
    }
    dirty_.push_back(v);
  }

  ReadResult read_;
  ObjectRef ref_;

 private:
  Store* store_;
  std::vector<Volume*> dirty_;
};

LocalObjectStore::LocalObjectStore(Store* store, Durability durability)
    : store_(store), durability_(durability), sync_(durability == Durability::kSync) {}

std::unique_ptr<ObjectSession> LocalObjectStore::NewSession() {
  return std::make_unique<Session>(store_);
}

Status LocalObjectStore::Get(ObjectSession* session, std::string_view key,
                             const LookupOptions& options, ObjectView* view) {
  auto* s = static_cast<Session*>(session);
  uint64_t hash;
  Volume* v = store_->VolumeFor(key, &hash);
  // A classic touch comes first (an expiry in the past reads as a miss); a meta one
  // applies to the object found, which is returned, as memcached's mg T does.
  if (options.touch_expiry != nullptr && !options.meta) {
    BALE_RETURN_IF_ERROR(Touch(s, v, key, *options.touch_expiry));
  }
  ObjectRef& ref = s->ref_;
  Status ls = v->Locate(key, &ref, &s->read_, &hash, options.cookie);
  bool vivified = false;
  if (ls.IsNotFound() && options.vivify_expiry != nullptr) {
    BALE_RETURN_IF_ERROR(Vivify(s, key, options, &vivified));
    ls = v->Locate(key, &ref, &s->read_, &hash, options.cookie);
  }
  BALE_RETURN_IF_ERROR(ls);
  if (options.touch_expiry != nullptr && options.meta) {
    BALE_RETURN_IF_ERROR(Touch(s, v, key, *options.touch_expiry));
    ref.header.expiry = *options.touch_expiry;
  }
  view->meta = MetaOf(ref.header, ref.value.size());
  view->key = ref.key;
  view->content_type = ref.content_type;
  view->value = ref.value;
  view->fd = ref.segment != nullptr ? ref.segment->descriptor() : -1;
  view->value_offset = ref.value_offset;
  view->hold = std::move(ref.segment);  // no reference count changes hands
  MetaLookup(hash, options, vivified, &view->meta);
  return Status::OK();
}

Status LocalObjectStore::Vivify(Session* session, std::string_view key,
                                const LookupOptions& options, bool* created) {
  Mutation m;
  m.kind = MutationKind::kAdd;
  m.key = key;
  m.expiry = *options.vivify_expiry;
  m.explicit_version = options.vivify_version;
  MutationResult r;
  Status s = Apply(session, m, &r);
  *created = s.ok() && r.status == MutationStatus::kOk;
  return s;  // kNotStored: another client created it first
}

void LocalObjectStore::MetaLookup(uint64_t hash, const LookupOptions& options, bool vivified,
                                  ObjectMeta* m) {
  MetaState::Access a = meta_.Fetch(hash, m->version, m->mtime, WallClock(), !options.no_bump);
  if (!options.meta) return;
  m->fetched = a.fetched;
  m->idle_s = a.idle_s;
  if (vivified) {
    m->won = meta_.ClaimToken(hash, m->version);
    return;
  }
  m->token_sent = meta_.TokenSent(hash, m->version);
  bool recache =
      options.recache_before != nullptr && m->expiry != 0 && m->expiry < *options.recache_before;
  if (!m->token_sent && (m->stale || recache)) {
    m->won = meta_.ClaimToken(hash, m->version);
    m->token_sent = !m->won;  // another client won in between
  }
}

Status LocalObjectStore::Touch(Session* session, Volume* v, std::string_view key, uint32_t expiry) {
  Status s = v->Touch(key, expiry, /*wait=*/!sync_);
  if (s.ok() && sync_) session->Wrote(v);
  return s;
}

void LocalObjectStore::Mutate(ObjectSession* session, const Mutation& m, MutationCompletion* done) {
  MutationResult result;
  Status s = Apply(static_cast<Session*>(session), m, &result);
  if (!s.ok()) Finish(s, &result);
  done->Done(result);
}

// Statuses the mutations return for their outcomes (Update's aborts).
void LocalObjectStore::Finish(const Status& s, MutationResult* result) {
  if (s.IsNotFound()) {
    result->status = MutationStatus::kNotFound;
  } else if (s.IsExists()) {
    result->status = MutationStatus::kExists;
  } else if (s.IsInvalidArgument() && s.message().starts_with("explicit version")) {
    result->status = MutationStatus::kInvalid;
    result->error = s;
  } else {
    result->status = s.IsNoSpace()       ? MutationStatus::kNoSpace
                     : s.IsUnavailable() ? MutationStatus::kUnavailable
                                         : MutationStatus::kError;
    result->error = s;
  }
}

Status LocalObjectStore::Apply(Session* session, const Mutation& m, MutationResult* result) {
  Volume* v = store_->VolumeFor(m.key);
  switch (m.kind) {
    case MutationKind::kTouch:
      return Touch(session, v, m.key, m.expiry);
    case MutationKind::kSet:
    case MutationKind::kDelete:
      // Nothing to read first: one append (a tombstone for a delete).
      if (!m.has_compare && m.explicit_version == 0 && !m.invalidate && !m.remove_value) {
        return Write(session, v, m, result);
      }
      [[fallthrough]];
    default:
      return Update(session, v, m, result);
  }
}

Status LocalObjectStore::Write(Session* session, Volume* v, const Mutation& m,
                               MutationResult* result) {
  WriteOp op;
  op.key = m.key;
  if (m.kind == MutationKind::kDelete) {
    op.tombstone = true;
  } else {
    op.value = m.value;
    op.content_type = m.content_type;
    op.flags = m.flags;
    op.expiry = m.expiry;
    op.cookie = m.cookie;
  }
  Status s = v->WriteNoWait(std::span<WriteOp>(&op, 1));
  if (s.ok()) s = op.status;
  if (!s.ok()) return s;
  if (sync_) session->Wrote(v);
  if (!op.tombstone)
    result->meta = ObjectMeta{op.version, op.cookie, m.flags, m.expiry, 0, m.value.size()};
  return Status::OK();
}

// The read-modify-write kinds, decided under the volume's write lock from the object
// there (or its absence); an outcome other than kOk aborts with nothing written.
Status LocalObjectStore::Update(Session* session, Volume* v, const Mutation& m,
                                MutationResult* result) {
  MutationStatus verdict = MutationStatus::kOk;
  std::string joined;
  char digits[24];
  UpdateDecision kept;            // what was decided, for the result
  uint64_t replaced_version = 0;  // ms I: the newer version a stale value replaced
  auto decide = [&](const ReadResult* cur, UpdateDecision* d) {
    auto abort = [&](MutationStatus why) {
      verdict = why;
      d->action = UpdateDecision::Action::kAbort;
      d->status = Status::Exists();  // Update returns it; verdict says why
    };
    bool compare = m.kind == MutationKind::kCas || m.has_compare;
    if (compare && !(IsIncrDecr(m.kind) && cur == nullptr)) {
      if (cur == nullptr) return abort(MutationStatus::kNotFound);
      if (cur->header().version != m.compare_version) {
        if (!StoresStale(m, cur->header().version)) return abort(MutationStatus::kExists);
        replaced_version = cur->header().version;  // stored, stale (meta ms I)
      }
    }
    d->action = UpdateDecision::Action::kPut;
    d->value = m.value;
    d->content_type = m.content_type;
    d->flags = m.flags;
    d->expiry = m.expiry;
    d->cookie = m.cookie != 0 ? m.cookie : DrawCookie();
    d->version = m.explicit_version;
    bool present = cur != nullptr;
    switch (m.kind) {
      case MutationKind::kAdd:
        if (present) return abort(MutationStatus::kNotStored);
        break;
      case MutationKind::kReplace:
        if (!present) return abort(MutationStatus::kNotStored);
        break;
      case MutationKind::kDelete:
        if (!present) return abort(MutationStatus::kNotFound);
        if (m.invalidate || m.remove_value) return KeepDeleted(m, *cur, d, &kept);
        d->action = UpdateDecision::Action::kDelete;
        break;
      case MutationKind::kAppend:
      case MutationKind::kPrepend:
      case MutationKind::kIncr:
      case MutationKind::kDecr:
        break;
      default:  // set, cas
        break;
    }
    if (Joins(m.kind)) {
      if (!present) return abort(MutationStatus::kNotStored);
      uint64_t size = cur->value().size() + m.value.size();
      if (m.max_value_size != 0 && size > m.max_value_size) {
        return abort(MutationStatus::kTooLarge);
      }
      joined.reserve(size);
      joined = m.kind == MutationKind::kAppend ? cur->value() : m.value;
      joined.append(m.kind == MutationKind::kAppend ? m.value : cur->value());
      d->value = joined;
    }
    if (IsIncrDecr(m.kind)) {
      uint64_t number;
      if (!present) {
        if (!m.vivify) return abort(MutationStatus::kNotFound);
        number = m.initial;
        d->expiry = m.vivify_expiry;
        d->flags = 0;
        d->content_type = {};
      } else {
        uint64_t value;
        if (!ParseCounter(cur->value(), &value)) return abort(MutationStatus::kNonNumeric);
        bool incr = m.kind == MutationKind::kIncr;
        number = incr ? value + m.delta : (value < m.delta ? 0 : value - m.delta);
        d->expiry = m.set_expiry ? m.expiry : cur->header().expiry;
      }
      result->number = number;
      auto r = std::to_chars(digits, digits + sizeof(digits), number);
      d->value = std::string_view(digits, static_cast<size_t>(r.ptr - digits));
    }
    if (present && (Joins(m.kind) || IsIncrDecr(m.kind))) {  // in place: keep the rest
      d->content_type = cur->content_type();
      d->flags = cur->header().flags;
      if (Joins(m.kind)) d->expiry = cur->header().expiry;
      if (IsIncrDecr(m.kind)) d->marks = cur->header().marks;  // as memcached's in place
      d->cookie = cur->header().cookie;
    }
    if (replaced_version != 0) {
      d->expiry = cur->header().expiry;
      d->marks = format::kMarkStale;
    }
    kept = *d;
  };
  uint64_t version = 0;
  Status s = v->Update(m.key, decide, &version, /*wait=*/!sync_);
  if (verdict != MutationStatus::kOk) {
    result->status = verdict;
    return Status::OK();
  }
  if (!s.ok()) return s;
  if (sync_) session->Wrote(v);
  if (kept.action == UpdateDecision::Action::kPut) {
    result->meta = ObjectMeta{version, kept.cookie, kept.flags, kept.expiry, 0, kept.value.size()};
    result->meta.stale = (kept.marks & format::kMarkStale) != 0;
  }
  if (replaced_version != 0) {  // a win token handed out for the object stays handed out
    uint64_t hash = HashKey(m.key);
    if (meta_.TokenSent(hash, replaced_version)) meta_.ClaimToken(hash, version);
  }
  return Status::OK();
}

void LocalObjectStore::FlushAll(uint32_t when, ObjectSession* session, MutationCompletion* done) {
  MutationResult result;
  Status s = store_->FlushAll(when);
  if (!s.ok()) Finish(s, &result);
  done->Done(result);
}

void LocalObjectStore::PutAtomic(std::span<BatchPut> items, ObjectSession* session,
                                 MutationCompletion* done) {
  std::vector<WriteOp> ops(items.size());
  for (size_t i = 0; i < items.size(); i++) {
    WriteOp& op = ops[i];
    op.key = items[i].key;
    op.value = items[i].value;
    op.content_type = items[i].content_type;
    op.flags = items[i].flags;
    op.expiry = items[i].expiry;
    op.cookie = items[i].cookie;
    op.only_if_absent = items[i].only_if_absent;
  }
  std::vector<Volume*> written;
  MutationResult result;
  Status s = store_->WriteAtomic(ops, /*wait=*/false, &written);
  for (size_t i = 0; i < items.size(); i++) {
    items[i].taken = ops[i].status.IsExists();
    items[i].cookie = ops[i].cookie;
    items[i].version = ops[i].version;
  }
  if (!s.ok()) {
    Finish(s, &result);
  } else if (sync_) {
    for (Volume* v : written) static_cast<Session*>(session)->Wrote(v);
  }
  done->Done(result);
}

ObjectStats LocalObjectStore::Stats() const {
  StoreStats ss = store_->Stats();
  const VolumeStats& t = ss.total;
  ObjectStats o;
  o.partitions = ss.partitions;
  o.objects = t.objects;
  o.live_objects = t.live_objects;
  o.live_bytes = t.live_bytes;
  o.expired_reads = t.expired_reads;
  o.flushed_reads = t.flushed_reads;
  o.oldest_mtime = t.oldest_mtime;
  o.index_bytes = t.index_bytes;
  o.segments = t.segments;
  o.disk_bytes = t.disk_bytes;
  o.dead_bytes = t.dead_bytes;
  o.unsynced_bytes = t.unsynced_bytes;
  o.compactions = t.compactions;
  o.compaction_reclaimed = t.compaction_reclaimed;
  o.compaction_scanned = t.compaction_scanned;
  o.compaction_total = t.compaction_total;
  o.inline_compactions = t.inline_compactions;
  o.checkpoint_failures = t.checkpoint_failures;
  o.recovery_scanned_bytes = t.recovery_scanned_bytes;
  o.corrupt_records = t.corrupt_records;
  o.truncated_bytes = t.truncated_bytes;
  o.damaged_segments = t.damaged_segments;
  o.unreadable_segments = t.unreadable_segments;
  o.missing_segments = t.missing_segments;
  o.compaction_running = ss.compactor.running;
  o.compaction_request_pending = ss.compactor.request_pending;
  o.compaction_failures = ss.compactor.failures;
  o.compactor_compactions = ss.compactor.compactions;
  o.tail_checkpoints = ss.compactor.checkpoints;
  o.disk_full = ss.disk_full;
  o.disk_reserve_bytes = ss.disk_reserve_bytes;
  o.damaged_partitions = ss.damaged_partitions;
  o.unavailable_partitions = ss.unavailable_partitions;
  o.flush_all_damaged = ss.flush_all_damaged;
  o.journal_flushes = ss.journal.flushes;
  o.journal_bytes = ss.journal.bytes;
  o.journal_rotations = ss.journal.rotations;
  o.journal_failures = ss.journal.failures;
  o.journal_replayed = ss.replayed.records;
  return o;
}

std::vector<DamageReportView> LocalObjectStore::Damage() const {
  std::vector<DamageReportView> out;
  for (const PartitionDamage& d : store_->Damage()) {
    static_assert(PartitionDamage::kStoreWide == DamageReportView::kStoreWide);
    out.push_back({d.partition, DamageKindName(d.report.kind), d.report.path, d.report.offset,
                   d.report.what});
  }
  return out;
}

std::vector<PartitionHealth> LocalObjectStore::Health() const {
  std::vector<PartitionHealth> out(store_->partitions());
  for (uint32_t p = 0; p < out.size(); p++) {
    VolumeStats vs = store_->volume(p)->Stats();
    out[p] = {vs.damaged, vs.unavailable};
  }
  return out;
}

bool LocalObjectStore::RequestCompaction() {
  Compactor* c = store_->compactor();
  return c != nullptr && c->Request();
}

}  // namespace bale
