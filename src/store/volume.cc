// Volume: the write and read paths. Recovery is in volume_recovery.cc, checkpoints in
// checkpoint.cc, compaction in compaction.cc.
#include "store/volume.h"

#include <algorithm>
#include <cstring>
#include <ctime>
#include <random>
#include <unordered_map>

#include "base/checksum.h"
#include "format/superblock.h"
#include "store/expiry.h"
#include "store/journal.h"
#include "store/syncer.h"

namespace bale {

const char* DurabilityName(Durability d) {
  switch (d) {
    case Durability::kSync:
      return "sync";
    case Durability::kInterval:
      return "interval";
    case Durability::kNone:
      return "none";
  }
  return "?";
}

bool ParseDurability(std::string_view s, Durability* out) {
  if (s == "sync")
    *out = Durability::kSync;
  else if (s == "interval")
    *out = Durability::kInterval;
  else if (s == "none")
    *out = Durability::kNone;
  else
    return false;
  return true;
}

namespace {

uint64_t RandomCookie() {
  uint64_t c;
  do c = RandomU64();
  while (c == 0);
  return c;
}

}  // namespace

uint64_t RandomU64() {
  thread_local std::mt19937_64 rng{std::random_device{}()};
  return rng();
}

uint32_t NewSegmentSalt() { return static_cast<uint32_t>(RandomU64() >> 32); }

Volume::Volume(const VolumeOptions& options) : options_(options) {
  if (!options_.clock) options_.clock = [] { return static_cast<uint32_t>(::time(nullptr)); };
  if (options_.env == nullptr) options_.env = Env::Default();
}

Volume::~Volume() { (void)Close(); }

uint32_t Volume::Now() const { return options_.clock(); }
uint32_t Volume::Tag(std::string_view key) const {
  uint64_t h = options_.hasher ? options_.hasher(key) : HashKey(key);
  return static_cast<uint32_t>(h >> 32);
}

bool Volume::IsLive(const format::NeedleHeader& h, uint32_t now) const {
  if (h.kind == format::NeedleKind::kTombstone || IsExpired(h.expiry, now)) return false;
  if (h.version <= flush_.flush_version || h.mtime < flush_.flushed_before) return false;
  return !(flush_.flush_time != 0 && now >= flush_.flush_time && h.mtime < flush_.flush_time);
}

Status Volume::CheckKey(std::string_view key) const {
  if (key.empty() || key.size() > format::kMaxKeyLen) {
    return Status::InvalidArgument("key length must be 1..250");
  }
  return Status::OK();
}

Status Volume::ReadNeedleLocked(Location loc, ReadResult* out, bool whole, bool resolve) {
  const std::shared_ptr<Segment>& seg = slots_[loc.slot];
  uint64_t offset = uint64_t{loc.offset_units} * format::kNeedleAlign;
  uint64_t end = seg->end();
  if (offset + format::kNeedleHeaderSize > end) {
    return Status::Corruption(seg->path() + ": index points past the end");
  }
  // Reads of whole needles (Get) copy from the mapping: the header first, then exactly
  // the rest. Key checks on the write path (whole == false) use pread, so loading data
  // does not map page-cache pages into the process; one read of kFirstReadBytes
  // usually fetches the whole needle.
  bool use_map = whole && seg->mapped();
  size_t first = static_cast<size_t>(
      std::min<uint64_t>(use_map ? format::kNeedleHeaderSize : kFirstReadBytes, end - offset));
  if (out->buf_.size() < first) out->buf_.resize(first);
  size_t got = 0;
  BALE_RETURN_IF_ERROR(seg->Read(offset, first, out->buf_.data(), &got, use_map));
  Status s = format::DecodeNeedleHeader(std::string_view(out->buf_.data(), got), &out->header_);
  if (!s.ok()) {
    return Status::Corruption(seg->path() + " @" + std::to_string(offset) + ": " +
                              std::string(s.message()));
  }
  const auto& h = out->header_;
  size_t raw = format::NeedleRawSize(h);
  size_t need = whole ? raw : format::kNeedleHeaderSize + h.key_len;
  if (need > got) {
    if (offset + raw > end) return Status::Corruption(seg->path() + ": needle past the end");
    out->buf_.resize(need);
    size_t more = 0;
    BALE_RETURN_IF_ERROR(
        seg->Read(offset + got, need - got, out->buf_.data() + got, &more, use_map));
    if (more != need - got) return Status::Corruption(seg->path() + ": short needle");
    got = need;
  }
  std::string_view buf(out->buf_.data(), got);
  if (!whole) {
    out->key_ = buf.substr(format::kNeedleHeaderSize, h.key_len);
    out->content_type_ = {};
    out->value_ = {};
    return Status::OK();
  }
  s = format::VerifyNeedle(seg->salt(), buf, h, &out->key_, &out->content_type_, &out->value_);
  if (!s.ok()) {
    return Status::Corruption(seg->path() + " @" + std::to_string(offset) + ": " +
                              std::string(s.message()));
  }
  if (h.kind != format::NeedleKind::kTouch || !resolve) return Status::OK();
  // A touch record reads as its object: the target's needle with the record's expiry.
  auto corrupt = [&](std::string_view why) {
    return Status::Corruption(seg->path() + " @" + std::to_string(offset) + ": touch record " +
                              std::string(why));
  };
  format::TouchTarget t;
  Location target;
  if (!format::DecodeTouchTarget(out->value_, &t).ok() || !ResolveTouchLocked(t, &target).ok()) {
    return corrupt("names a segment that is gone");
  }
  const uint64_t version = h.version;
  const uint32_t expiry = h.expiry;
  char key[format::kMaxKeyLen];
  const size_t key_len = out->key_.size();
  std::memcpy(key, out->key_.data(), key_len);
  BALE_RETURN_IF_ERROR(ReadNeedleLocked(target, out, /*whole=*/true, /*resolve=*/false));
  if (out->header_.kind != format::NeedleKind::kValue || out->header_.version != version ||
      out->key_ != std::string_view(key, key_len)) {
    return corrupt("names a needle of another object");
  }
  out->header_.expiry = expiry;
  return Status::OK();
}

Status Volume::ResolveTouchLocked(const format::TouchTarget& t, Location* out) const {
  // Every slot, not only order_: during a compaction's relocation both generations of
  // the segment are open.
  for (size_t i = 0; i < slots_.size(); i++) {
    const std::shared_ptr<Segment>& seg = slots_[i];
    if (seg == nullptr || seg->seq() != t.seq || seg->generation() != t.generation) continue;
    if (uint64_t{t.offset_units} * format::kNeedleAlign + format::kNeedleHeaderSize > seg->end()) {
      break;
    }
    *out = Location{static_cast<uint16_t>(i), t.offset_units};
    return Status::OK();
  }
  return Status::Corruption(
      "touch target " + std::to_string(t.seq) + "/" + std::to_string(t.generation) + " @" +
      std::to_string(uint64_t{t.offset_units} * format::kNeedleAlign) + " is gone");
}

Status Volume::TouchTargetLocked(Location loc, format::TouchTarget* t, Location* target) {
  thread_local ReadResult raw;
  BALE_RETURN_IF_ERROR(ReadNeedleLocked(loc, &raw, /*whole=*/true, /*resolve=*/false));
  BALE_RETURN_IF_ERROR(format::DecodeTouchTarget(raw.value(), t));
  return ResolveTouchLocked(*t, target);
}

uint64_t Volume::NeedleSizeOf(const WriteOp& op) {
  return op.tombstone ? format::NeedleSize(op.key.size(), 0, 0)
                      : format::NeedleSize(op.key.size(), op.content_type.size(), op.value.size());
}

Status Volume::SurveyDead(uint64_t seq) {
  std::shared_ptr<Segment> seg;
  uint16_t slot = 0;
  {
    std::shared_lock<std::shared_mutex> l(mu_);
    if (closed_) return Status::IOError("volume closed");
    for (uint16_t s : order_) {
      if (slots_[s]->seq() == seq) {
        slot = s;
        seg = slots_[s];
      }
    }
  }
  if (seg == nullptr) return Status::NotFound("no segment " + std::to_string(seq));
  if (seg->damaged()) return Status::OK();
  uint64_t dead = 0;
  NeedleScanner scanner(seg.get(), format::kSuperblockSize, seg->end());
  NeedleScanner::Record rec;
  for (;;) {
    uint64_t bad = 0;
    Status s = scanner.Next(&rec, &bad);
    if (s.IsNotFound()) break;
    if (!s.ok()) {
      if (s.IsCorruption() && scanner.Resync()) continue;
      return s;
    }
    if (rec.header.kind == format::NeedleKind::kTombstone) {
      dead += rec.size;
      continue;
    }
    Location loc{slot, static_cast<uint32_t>(rec.offset / format::kNeedleAlign)};
    std::shared_lock<std::shared_mutex> l(mu_);
    if (!index_.Contains(Tag(rec.key), loc)) dead += rec.size;
  }
  std::unique_lock<std::shared_mutex> l(mu_);
  if (slots_.size() > slot && slots_[slot] == seg) {
    SlotState& state = StateLocked(slot);
    state.dead_bytes = std::max(state.dead_bytes, dead);
    state.dead_known = true;
  }
  return Status::OK();
}

Status Volume::FindLocked(std::string_view key, uint32_t tag, Found* found) {
  thread_local ReadResult probe;
  Status result = Status::NotFound();
  index_.ForEachCandidate(tag, [&](Location loc) {
    Status s = ReadNeedleLocked(loc, &probe, /*whole=*/false);
    if (s.ok() && probe.key() == key) {
      found->loc = loc;
      found->header = probe.header();
      result = Status::OK();
      return true;
    }
    if (!s.ok()) {
      result = s;
      return true;
    }
    return false;
  });
  return result;
}

Status Volume::Get(std::string_view key, ReadResult* out) {
  uint32_t tag = 0;
  Gone gone = Gone::kNo;
  Status s = GetImpl(key, out, &tag, &gone);
  if (gone != Gone::kNo) ReclaimGone(key, tag);
  return s;
}

Status Volume::GetImpl(std::string_view key, ReadResult* out, uint32_t* tag_out, Gone* gone) {
  BALE_RETURN_IF_ERROR(CheckKey(key));
  uint32_t tag = *tag_out = Tag(key);
  uint32_t now = Now();
  std::shared_lock<std::shared_mutex> l(mu_);
  if (closed_) return Status::IOError("volume closed");
  if (!unavailable_.ok()) return unavailable_;
  Status result = Status::NotFound();
  index_.ForEachCandidate(tag, [&](Location loc) {
    result = ReadNeedleLocked(loc, out, /*whole=*/true);
    if (!result.ok()) return true;  // corruption or I/O error: report it
    if (out->key_ != key) {
      result = Status::NotFound();
      return false;  // a tag collision: another key
    }
    if (!IsLive(out->header_, now)) {
      result = Status::NotFound();
      *gone = NoteGoneRead(out->header_, now);
    }
    return true;
  });
  return result;
}

Status Volume::Locate(std::string_view key, ObjectRef* out, ReadResult* fallback,
                      const uint64_t* key_hash, const uint64_t* cookie) {
  out->segment.reset();
  bool not_mapped = false;
  Gone gone = Gone::kNo;
  Status s = LocateMapped(key, out, key_hash, cookie, &not_mapped, &gone);
  if (gone != Gone::kNo) ReclaimGone(key, Tag(key, key_hash));
  if (!not_mapped) return s;
  BALE_RETURN_IF_ERROR(Get(key, fallback));
  if (cookie != nullptr && fallback->header().cookie != *cookie) return Status::NotFound();
  out->header = fallback->header();
  out->key = fallback->key();
  out->content_type = fallback->content_type();
  out->value = fallback->value();
  return Status::OK();
}

Status Volume::LocateMapped(std::string_view key, ObjectRef* out, const uint64_t* key_hash,
                            const uint64_t* cookie, bool* not_mapped, Gone* gone) {
  BALE_RETURN_IF_ERROR(CheckKey(key));
  uint32_t tag = Tag(key, key_hash);
  uint32_t now = Now();
  std::shared_lock<std::shared_mutex> l(mu_);
  if (closed_) return Status::IOError("volume closed");
  if (!unavailable_.ok()) return unavailable_;
  Status result = Status::NotFound();
  index_.ForEachCandidate(tag, [&](Location loc) {
    const std::shared_ptr<Segment>& seg = slots_[loc.slot];
    uint64_t offset = uint64_t{loc.offset_units} * format::kNeedleAlign;
    auto corrupt = [&](std::string_view why) {
      return Status::Corruption(seg->path() + " @" + std::to_string(offset) + ": " +
                                std::string(why));
    };
    std::string_view head, whole;
    if (offset + format::kNeedleHeaderSize > seg->end()) {
      result = corrupt("index points past the end");
      return true;
    }
    if (!seg->View(offset, format::kNeedleHeaderSize, &head)) {
      *not_mapped = true;
      return true;
    }
    Status s = format::DecodeNeedleHeader(head, &out->header);
    if (!s.ok()) {
      result = corrupt(s.message());
      return true;
    }
    size_t raw = format::NeedleRawSize(out->header);
    if (offset + raw > seg->end()) {
      result = corrupt("needle past the end");
      return true;
    }
    if (!seg->View(offset, raw, &whole)) {
      *not_mapped = true;
      return true;
    }
    // Cheap checks first: a tag collision, a dead object or a wrong cookie costs no
    // checksum over the value (a guessed public URL costs what a miss does).
    if (whole.substr(format::kNeedleHeaderSize, out->header.key_len) != key) return false;
    if (!IsLive(out->header, now) || (cookie != nullptr && out->header.cookie != *cookie)) {
      if (!IsLive(out->header, now)) *gone = NoteGoneRead(out->header, now);
      result = Status::NotFound();
      return true;
    }
    if (raw >= kWillNeedBytes) seg->WillNeed(offset, raw);  // one read-ahead, not a fault a page
    s = format::VerifyNeedle(seg->salt(), whole, out->header, &out->key, &out->content_type,
                             &out->value);
    if (!s.ok()) {
      result = corrupt(s.message());
      return true;
    }
    if (out->header.kind == format::NeedleKind::kTouch) {
      result = LocateTouchedMapped(out, not_mapped);
      if (!result.ok() && !*not_mapped) result = corrupt(result.message());
      return true;
    }
    result = Status::OK();
    out->segment = seg;
    out->value_offset = offset + (raw - out->value.size());
    return true;
  });
  return result;
}

// *out holds a verified touch record; makes it its object, viewed in the mapping.
Status Volume::LocateTouchedMapped(ObjectRef* out, bool* not_mapped) {
  format::TouchTarget t;
  Location loc;
  if (!format::DecodeTouchTarget(out->value, &t).ok() || !ResolveTouchLocked(t, &loc).ok()) {
    return Status::Corruption("touch record names a segment that is gone");
  }
  const format::NeedleHeader touch = out->header;
  const std::string_view key = out->key;  // in the record's mapping, which stays
  const std::shared_ptr<Segment>& seg = slots_[loc.slot];
  uint64_t offset = uint64_t{loc.offset_units} * format::kNeedleAlign;
  std::string_view head, whole;
  if (!seg->View(offset, format::kNeedleHeaderSize, &head)) {
    *not_mapped = true;
    return Status::OK();
  }
  BALE_RETURN_IF_ERROR(format::DecodeNeedleHeader(head, &out->header));
  size_t raw = format::NeedleRawSize(out->header);
  if (!seg->View(offset, raw, &whole)) {
    *not_mapped = offset + raw <= seg->end();
    return *not_mapped ? Status::OK() : Status::Corruption("touch target past the end");
  }
  if (raw >= kWillNeedBytes) seg->WillNeed(offset, raw);
  BALE_RETURN_IF_ERROR(format::VerifyNeedle(seg->salt(), whole, out->header, &out->key,
                                            &out->content_type, &out->value));
  if (out->header.kind != format::NeedleKind::kValue || out->header.version != touch.version ||
      out->key != key) {
    return Status::Corruption("touch record names a needle of another object");
  }
  out->header.expiry = touch.expiry;
  out->segment = seg;
  out->value_offset = offset + (raw - out->value.size());
  return Status::OK();
}

uint16_t Volume::FreeSlotLocked() const {
  for (size_t i = 0; i < slots_.size(); i++) {
    if (!slots_[i]) return static_cast<uint16_t>(i);
  }
  return static_cast<uint16_t>(slots_.size());
}

Status Volume::EnsureRoomLocked(uint64_t bytes) {
  const std::shared_ptr<Segment>& head = slots_[order_.back()];
  if (head->end() + bytes <= options_.segment_bytes || head->end() == format::kSuperblockSize) {
    return Status::OK();
  }
  uint16_t slot = FreeSlotLocked();
  if (slot >= format::kMaxSegmentSlots) return Status::NoSpace("volume has too many segments");
  // Seal: the old head becomes immutable and durable before the new one takes writes.
  BALE_RETURN_IF_ERROR(head->Sync());
  uint64_t seq = head->seq() + 1;
  std::unique_ptr<Segment> seg;
  BALE_RETURN_IF_ERROR(NoteNoSpace(
      Segment::Create(options_.env, options_.dir + "/" + format::SegmentFileName(seq, 0),
                      options_.partition, seq, 0, NewSegmentSalt(), &seg)));
  BALE_RETURN_IF_ERROR(options_.env->SyncDir(options_.dir));
  seg->Map(options_.segment_bytes);
  if (slot == slots_.size()) slots_.emplace_back();
  slots_[slot] = std::move(seg);
  FreshSlotLocked(slot);
  order_.push_back(slot);
  since_checkpoint_.store(options_.checkpoint_bytes);  // checkpoint after this write
  return Status::OK();
}

Status Volume::AppendDecidedLocked(const DecidedWrite& d, uint64_t* offset) {
  const std::shared_ptr<Segment>& head = slots_[order_.back()];
  const uint64_t bytes = d.size();
  d.Pieces(&pieces_);
  Status s = pieces_.size() == 1 ? head->Append(pieces_[0], offset) : head->Append(pieces_, offset);
  pieces_.clear();  // views into the caller's memory
  BALE_RETURN_IF_ERROR(NoteNoSpace(std::move(s)));
  appended_.fetch_add(bytes, std::memory_order_release);
  since_checkpoint_.fetch_add(bytes, std::memory_order_relaxed);
  return Status::OK();
}

Status Volume::RecordAppendLocked(const DecidedWrite& d, uint64_t offset, uint64_t* lsn) {
  if (options_.journal == nullptr || options_.durability != Durability::kSync) {
    *lsn = appended_.load(std::memory_order_relaxed);
    return Status::OK();
  }
  Segment& head = *slots_[order_.back()];
  if (d.size() > Journal::kMaxInlineBytes) {
    // Not copied: synced in place, under the lock, so that no later record of this head
    // that the journal holds lies past bytes that could be lost.
    *lsn = 0;
    return head.Sync();
  }
  format::JournalTarget t;
  t.partition = options_.partition;
  t.seq = head.seq();
  t.generation = head.generation();
  t.offset = offset;
  d.Pieces(&pieces_);
  *lsn = options_.journal->Append(t, pieces_);
  pieces_.clear();
  return Status::OK();
}

Status Volume::Put(WriteOp& op) {
  BALE_RETURN_IF_ERROR(Write(std::span<WriteOp>(&op, 1)));
  return op.status;
}

Status Volume::Delete(std::string_view key) {
  WriteOp op;
  op.key = key;
  op.tombstone = true;
  return Put(op);
}

Status Volume::Write(std::span<WriteOp> ops) { return WriteImpl(ops, true, nullptr); }
Status Volume::WriteNoWait(std::span<WriteOp> ops) { return WriteImpl(ops, false, nullptr); }
Status Volume::Write(std::span<WriteOp> ops, bool wait, DecidedWrite* decided) {
  return WriteImpl(ops, wait, decided);
}

Status Volume::CheckOps(std::span<const WriteOp> ops) {
  for (const WriteOp& op : ops) {
    if (op.key.empty() || op.key.size() > format::kMaxKeyLen) {
      return Status::InvalidArgument("key length must be 1..250");
    }
    if (op.value.size() > format::kMaxValueLen) return Status::InvalidArgument("value too large");
    if (!op.tombstone && !format::IsValidContentType(op.content_type)) {
      return Status::InvalidArgument("content type over 255 bytes or with control bytes");
    }
  }
  return Status::OK();
}

Status Volume::PlanWriteLocked(std::span<WriteOp> ops, std::vector<PendingOp>* pending,
                               uint32_t now) {
  pending->assign(ops.size(), PendingOp{});
  std::unordered_map<uint32_t, size_t> last_with_tag;  // tag -> latest written op
  for (size_t i = 0; i < ops.size(); i++) {
    WriteOp& op = ops[i];
    PendingOp& p = (*pending)[i];
    p.tag = Tag(op.key);
    bool live_old = false;
    auto it = ops.size() > 1 ? last_with_tag.find(p.tag) : last_with_tag.end();
    if (it != last_with_tag.end()) {
      for (size_t j = it->second + 1; j-- > 0;) {
        if (ops[j].status.ok() && (*pending)[j].tag == p.tag && ops[j].key == op.key) {
          p.earlier = j;
          break;
        }
      }
    }
    if (p.earlier != PendingOp::kNoOp) {
      p.had_old = live_old = !ops[p.earlier].tombstone;
    } else {
      Found f;
      Status s = FindLocked(op.key, p.tag, &f);
      if (!s.ok() && !s.IsNotFound()) return s;
      if (s.ok()) {
        p.had_old = true;
        p.old = f.loc;
        p.old_size = format::NeedleSize(f.header);
        p.old_ver = f.header.version;
        live_old = IsLive(f.header, now);
      }
    }
    if (op.tombstone && !live_old) {
      op.status = Status::NotFound();
      continue;
    }
    if (op.only_if_absent && live_old) {
      op.status = Status::Exists();
      continue;
    }
    op.status = Status::OK();
    if (ops.size() > 1) last_with_tag[p.tag] = i;
  }
  return Status::OK();
}

Status Volume::DecideWriteLocked(std::span<WriteOp> ops, std::vector<PendingOp>* pending,
                                 uint32_t now, DecidedWrite* d) {
  // Room first (sealing the head if the write may not fit): needles carry its salt.
  uint64_t most = 0;
  for (const WriteOp& op : ops) {
    if (op.status.ok()) most += NeedleSizeOf(op);
  }
  d->Begin(order_.empty() ? 0 : slots_[order_.back()]->salt());
  if (most == 0) return Status::OK();
  BALE_RETURN_IF_ERROR(EnsureRoomLocked(most));
  d->Begin(slots_[order_.back()]->salt());
  for (size_t i = 0; i < ops.size(); i++) {
    WriteOp& op = ops[i];
    if (!op.status.ok()) continue;
    format::NeedleHeader h;
    h.version = op.version = NextVersionLocked();
    h.cookie = op.cookie = op.cookie != 0 ? op.cookie : RandomCookie();
    h.flags = op.flags;
    h.expiry = op.expiry;
    h.mtime = now;
    h.kind = op.tombstone ? format::NeedleKind::kTombstone : format::NeedleKind::kValue;
    (*pending)[i].rel =
        op.tombstone ? d->Add(h, op.key, {}, {}) : d->Add(h, op.key, op.content_type, op.value);
  }
  return Status::OK();
}

Status Volume::AppendWriteLocked(std::span<WriteOp> ops, std::vector<PendingOp>* pending,
                                 uint32_t now, DecidedWrite* d, bool* appended, uint64_t* base) {
  *appended = false;
  BALE_RETURN_IF_ERROR(DecideWriteLocked(ops, pending, now, d));
  if (d->empty()) return Status::OK();
  Status s = AppendDecidedLocked(*d, base);
  if (!s.ok()) {
    d->Begin(d->salt());  // nothing was appended
    return s;
  }
  *appended = true;
  return Status::OK();
}

void Volume::IndexWriteLocked(std::span<WriteOp> ops, const std::vector<PendingOp>& pending,
                              uint64_t base) {
  uint16_t head = order_.back();
  auto at = [&](const PendingOp& p) {
    return Location{head, static_cast<uint32_t>((base + p.rel) / format::kNeedleAlign)};
  };
  for (size_t i = 0; i < ops.size(); i++) {
    if (!ops[i].status.ok()) continue;
    const PendingOp& p = pending[i];
    Location old = p.earlier == PendingOp::kNoOp ? p.old : at(pending[p.earlier]);
    if (p.had_old && p.earlier == PendingOp::kNoOp) {
      ForgetIndexedLocked(old.slot, p.old_size, p.old_ver);
    } else if (p.had_old) {
      NoteDeadLocked(old.slot, NeedleSizeOf(ops[p.earlier]));
    }
    if (ops[i].tombstone) NoteDeadLocked(head, NeedleSizeOf(ops[i]));
    if (ops[i].tombstone) {
      if (p.had_old) index_.Erase(p.tag, old);
    } else if (p.had_old) {
      index_.Replace(p.tag, old, at(p));
    } else {
      index_.Insert(p.tag, at(p));
    }
  }
}

Status Volume::UndoAppendLocked(uint64_t base) {
  // Nothing was appended after it (the lock is held) and nothing points at it.
  Segment* head = slots_[order_.back()].get();
  Status s = head->TruncateTo(base);
  if (s.ok()) s = head->Sync();
  if (!s.ok()) {
    return Status::IOError(head->path() + ": could not cut back a write that failed elsewhere (" +
                           s.ToString() + "); a restart may find it");
  }
  return Status::OK();
}

Status Volume::RefuseIfFull() const {
  if (!WritesRefused()) return Status::OK();
  return Status::NoSpace("the disk is full: writes wait until deletes or compaction free space");
}

Status Volume::CheckRefused(std::span<const WriteOp> ops) const {
  for (const WriteOp& op : ops) {
    if (!op.tombstone) return RefuseIfFull();
  }
  return Status::OK();
}

Status Volume::WriteImpl(std::span<WriteOp> ops, bool wait, DecidedWrite* decided) {
  if (decided != nullptr) decided->Begin(0);
  BALE_RETURN_IF_ERROR(CheckOps(ops));
  BALE_RETURN_IF_ERROR(CheckRefused(ops));
  thread_local std::vector<PendingOp> pending;  // reused: no allocation per write
  uint64_t lsn = 0;
  {
    std::unique_lock<std::shared_mutex> l(mu_);
    if (closed_) return Status::IOError("volume closed");
    if (!unavailable_.ok()) return unavailable_;
    uint32_t now = Now();
    BALE_RETURN_IF_ERROR(PlanWriteLocked(ops, &pending, now));
    bool appended = false;
    uint64_t base = 0;
    DecidedWrite* d = decided != nullptr ? decided : &decided_;
    BALE_RETURN_IF_ERROR(AppendWriteLocked(ops, &pending, now, d, &appended, &base));
    if (!appended) return Status::OK();
    BALE_RETURN_IF_ERROR(RecordAppendLocked(*d, base, &lsn));
    IndexWriteLocked(ops, pending, base);
  }
  if (wait && options_.durability == Durability::kSync) BALE_RETURN_IF_ERROR(WaitDurable(lsn));
  MaybeCompactHead();
  return MaybeCheckpoint();
}

Status Volume::WriteAcross(std::span<const VolumeWrite> writes, bool wait) {
  for (const VolumeWrite& w : writes) {
    BALE_RETURN_IF_ERROR(CheckOps(w.ops));
    BALE_RETURN_IF_ERROR(w.volume->CheckRefused(w.ops));
  }
  // Locks are taken in address order, so two writes across volumes cannot deadlock.
  std::vector<const VolumeWrite*> order;
  for (const VolumeWrite& w : writes) order.push_back(&w);
  std::sort(order.begin(), order.end(),
            [](const VolumeWrite* a, const VolumeWrite* b) { return a->volume < b->volume; });
  for (size_t i = 1; i < order.size(); i++) {
    if (order[i]->volume == order[i - 1]->volume) {
      return Status::InvalidArgument("WriteAcross: a volume named twice");
    }
  }
  struct Step {
    std::vector<PendingOp> pending;
    bool appended = false;
    uint64_t base = 0;
    uint64_t lsn = 0;
    uint32_t now = 0;
  };
  std::vector<Step> steps(order.size());
  {
    std::vector<std::unique_lock<std::shared_mutex>> locks;
    locks.reserve(order.size());
    for (const VolumeWrite* w : order) {
      locks.emplace_back(w->volume->mu_);
      if (w->volume->closed_) return Status::IOError("volume closed");
      if (!w->volume->unavailable_.ok()) return w->volume->unavailable_;
    }
    // Every check before the first byte is written.
    bool taken = false;
    for (size_t i = 0; i < order.size(); i++) {
      Volume* v = order[i]->volume;
      steps[i].now = v->Now();
      BALE_RETURN_IF_ERROR(v->PlanWriteLocked(order[i]->ops, &steps[i].pending, steps[i].now));
      for (const WriteOp& op : order[i]->ops) taken |= op.status.IsExists();
    }
    if (taken) return Status::Exists("a key of the write is taken");
    for (size_t i = 0; i < order.size(); i++) {
      Volume* v = order[i]->volume;
      Step& st = steps[i];
      Status s = v->AppendWriteLocked(order[i]->ops, &st.pending, st.now, &v->decided_,
                                      &st.appended, &st.base);
      if (s.ok()) continue;
      // This volume's failed append left nothing behind; take back the earlier ones.
      for (size_t j = 0; j < i; j++) {
        if (!steps[j].appended) continue;
        Status undo = order[j]->volume->UndoAppendLocked(steps[j].base);
        if (!undo.ok()) s = undo;  // the worse news
      }
      return s;
    }
    // Only now, every append having succeeded, do they go to the journal (one that
    // was cut back above must not be replayed).
    for (size_t i = 0; i < order.size(); i++) {
      if (!steps[i].appended) continue;
      Volume* v = order[i]->volume;
      BALE_RETURN_IF_ERROR(v->RecordAppendLocked(v->decided_, steps[i].base, &steps[i].lsn));
      v->IndexWriteLocked(order[i]->ops, steps[i].pending, steps[i].base);
    }
  }
  Status first;
  for (size_t i = 0; i < order.size(); i++) {
    Volume* v = order[i]->volume;
    Status s;
    if (wait && steps[i].appended && v->options_.durability == Durability::kSync) {
      s = v->WaitDurable(steps[i].lsn);
    }
    if (s.ok()) s = v->MaybeCheckpoint();
    if (!s.ok() && first.ok()) first = s;
  }
  return first;
}

Status Volume::AppendOneLocked(const format::NeedleHeader& h, std::string_view key,
                               std::string_view content_type, std::string_view value,
                               DecidedWrite* d, Location* loc, uint64_t* lsn) {
  d->Begin(0);
  BALE_RETURN_IF_ERROR(
      EnsureRoomLocked(format::NeedleSize(key.size(), content_type.size(), value.size())));
  d->Begin(slots_[order_.back()]->salt());
  d->Add(h, key, content_type, value);
  uint64_t at = 0;
  Status s = AppendDecidedLocked(*d, &at);
  if (!s.ok()) {
    d->Begin(d->salt());  // nothing was appended
    return s;
  }
  BALE_RETURN_IF_ERROR(RecordAppendLocked(*d, at, lsn));
  *loc = Location{order_.back(), static_cast<uint32_t>(at / format::kNeedleAlign)};
  return Status::OK();
}

uint64_t Volume::NextVersionLocked() {
  uint64_t counter = (last_version_ >> kVersionPartitionBits) + 1;
  uint64_t partition = options_.partition & ((uint64_t{1} << kVersionPartitionBits) - 1);
  last_version_ = (counter << kVersionPartitionBits) | partition;
  return last_version_;
}

Status Volume::TakeVersionLocked(uint64_t version) {
  if (version <= last_version_) {
    return Status::InvalidArgument("explicit version " + std::to_string(version) +
                                   " is not above the partition's last version " +
                                   std::to_string(last_version_));
  }
  last_version_ = version;
  return Status::OK();
}

Status Volume::Update(std::string_view key, const Updater& fn, uint64_t* version, bool wait,
                      DecidedWrite* decided) {
  BALE_RETURN_IF_ERROR(CheckKey(key));
  uint32_t tag = Tag(key);
  uint64_t lsn = 0;
  if (decided != nullptr) decided->Begin(0);
  {
    std::unique_lock<std::shared_mutex> l(mu_);
    if (closed_) return Status::IOError("volume closed");
    if (!unavailable_.ok()) return unavailable_;
    // Decide: what the key holds, what the caller makes of it, the new needle.
    uint32_t now = Now();
    thread_local ReadResult current;
    Found f;
    Status s = FindLocked(key, tag, &f);
    if (!s.ok() && !s.IsNotFound()) return s;
    bool had_old = s.ok();
    bool live = had_old && IsLive(f.header, now);
    if (live) BALE_RETURN_IF_ERROR(ReadNeedleLocked(f.loc, &current, /*whole=*/true));
    UpdateDecision d;
    fn(live ? &current : nullptr, &d);
    if (d.action == UpdateDecision::Action::kAbort) return d.status;
    bool tombstone = d.action == UpdateDecision::Action::kDelete;
    if (tombstone && !live) return Status::NotFound();
    if (!tombstone) BALE_RETURN_IF_ERROR(RefuseIfFull());
    std::string_view value = tombstone ? std::string_view() : d.value;
    std::string_view content_type = tombstone ? std::string_view() : d.content_type;
    if (value.size() > format::kMaxValueLen) return Status::InvalidArgument("value too large");
    if (!format::IsValidContentType(content_type)) {
      return Status::InvalidArgument("content type over 255 bytes or with control bytes");
    }
    format::NeedleHeader h;
    if (d.version != 0) {
      BALE_RETURN_IF_ERROR(TakeVersionLocked(d.version));
      h.version = d.version;
    } else {
      h.version = NextVersionLocked();
    }
    h.cookie = d.cookie != 0 ? d.cookie : RandomCookie();
    if (!tombstone) h.marks = d.marks;
    h.flags = d.flags;
    h.expiry = d.expiry;
    h.mtime = now;
    h.kind = tombstone ? format::NeedleKind::kTombstone : format::NeedleKind::kValue;
    // Append exactly that, then index it.
    Location loc;
    DecidedWrite* dw = decided != nullptr ? decided : &decided_;
    BALE_RETURN_IF_ERROR(AppendOneLocked(h, key, content_type, value, dw, &loc, &lsn));
    if (decided != nullptr) decided->Own();  // d.value does not outlive this call
    if (had_old) ForgetIndexedLocked(f.loc.slot, format::NeedleSize(f.header), f.header.version);
    if (tombstone) NoteDeadLocked(loc.slot, format::NeedleSize(key.size(), 0, 0));
    if (tombstone) {
      index_.Erase(tag, f.loc);
    } else if (had_old) {
      index_.Replace(tag, f.loc, loc);
    } else {
      index_.Insert(tag, loc);
    }
    if (version != nullptr) *version = h.version;
  }
  if (wait && options_.durability == Durability::kSync) BALE_RETURN_IF_ERROR(WaitDurable(lsn));
  MaybeCompactHead();
  return MaybeCheckpoint();
}

Status Volume::DecideTouchLocked(const Found& f, uint32_t expiry, format::NeedleHeader* h,
                                 std::string_view* content_type, std::string_view* value,
                                 char (&payload)[format::kTouchValueSize], ReadResult* current,
                                 Location* target) {
  *target = f.loc;
  format::TouchTarget t;
  if (f.header.kind == format::NeedleKind::kTouch) {
    BALE_RETURN_IF_ERROR(TouchTargetLocked(f.loc, &t, target));
  } else {
    const Segment& seg = *slots_[target->slot];
    t = format::TouchTarget{seg.seq(), seg.generation(), target->offset_units};
  }
  *h = f.header;
  h->expiry = expiry;
  if (target->slot == compacting_slot_) {
    // Compaction is copying the target's segment: a record naming it would dangle, so
    // the object is written whole (same version, as compaction's merge writes it).
    BALE_RETURN_IF_ERROR(ReadNeedleLocked(*target, current, /*whole=*/true, false));
    h->kind = format::NeedleKind::kValue;
    *content_type = current->content_type();
    *value = current->value();
  } else {
    h->kind = format::NeedleKind::kTouch;
    format::EncodeTouchTarget(t, payload);
    *content_type = {};
    *value = std::string_view(payload, sizeof(payload));
  }
  return Status::OK();
}

Status Volume::Touch(std::string_view key, uint32_t expiry, bool wait, DecidedWrite* decided) {
  BALE_RETURN_IF_ERROR(CheckKey(key));
  BALE_RETURN_IF_ERROR(RefuseIfFull());
  uint32_t tag = Tag(key);
  uint64_t lsn = 0;
  if (decided != nullptr) decided->Begin(0);
  {
    std::unique_lock<std::shared_mutex> l(mu_);
    if (closed_) return Status::IOError("volume closed");
    if (!unavailable_.ok()) return unavailable_;
    Found f;
    BALE_RETURN_IF_ERROR(FindLocked(key, tag, &f));
    if (!IsLive(f.header, Now())) return Status::NotFound();
    thread_local ReadResult current;
    char payload[format::kTouchValueSize];
    format::NeedleHeader h;
    std::string_view content_type, value;
    Location target;
    BALE_RETURN_IF_ERROR(
        DecideTouchLocked(f, expiry, &h, &content_type, &value, payload, &current, &target));
    Location loc;
    DecidedWrite* dw = decided != nullptr ? decided : &decided_;
    BALE_RETURN_IF_ERROR(AppendOneLocked(h, key, content_type, value, dw, &loc, &lsn));
    if (decided != nullptr) decided->Own();  // a whole copy's value is in `current`
    if (h.kind == format::NeedleKind::kTouch) StateLocked(target.slot).touch_free = false;
    if (f.header.kind == format::NeedleKind::kTouch) {
      NoteDeadLocked(f.loc.slot, format::NeedleSize(f.header));
    } else if (h.kind == format::NeedleKind::kValue) {
      NoteDeadLocked(f.loc.slot, format::NeedleSize(f.header));  // copied whole: the old is dead
    }
    index_.Replace(tag, f.loc, loc);
  }
  if (wait && options_.durability == Durability::kSync) BALE_RETURN_IF_ERROR(WaitDurable(lsn));
  MaybeCompactHead();
  return MaybeCheckpoint();
}

Status Volume::RedecideLocked(const DecidedWrite& src, DecidedWrite* out) {
  out->Begin(slots_[order_.back()]->salt());
  thread_local ReadResult current;
  for (size_t i = 0; i < src.records().size(); i++) {
    format::NeedleHeader h = src.records()[i].header;
    std::string_view key, content_type, value;
    src.View(i, &key, &content_type, &value);
    char payload[format::kTouchValueSize];
    if (h.kind == format::NeedleKind::kTouch) {
      // Re-pointed at this volume's needle of the same key and version. An earlier
      // record of the same write cannot be its object: a write touches what is stored.
      Found f;
      Status s = FindLocked(key, Tag(key), &f);
      if (!s.ok() || f.header.version != h.version ||
          f.header.kind == format::NeedleKind::kTombstone) {
        return Status::Corruption("partition " + std::to_string(options_.partition) +
                                  ": a decided touch of version " + std::to_string(h.version) +
                                  " names an object this volume does not hold");
      }
      const uint32_t expiry = h.expiry;
      Location target;
      BALE_RETURN_IF_ERROR(
          DecideTouchLocked(f, expiry, &h, &content_type, &value, payload, &current, &target));
    }
    out->Add(h, key, content_type, value);
  }
  return Status::OK();
}

Status Volume::AppendDecided(const DecidedWrite& decided, bool wait) {
  if (decided.empty()) return Status::OK();
  for (const auto& r : decided.records()) {
    if (r.header.kind != format::NeedleKind::kTombstone) {
      BALE_RETURN_IF_ERROR(RefuseIfFull());
      break;
    }
  }
  uint64_t lsn = 0;
  {
    std::unique_lock<std::shared_mutex> l(mu_);
    if (closed_) return Status::IOError("volume closed");
    if (!unavailable_.ok()) return unavailable_;
    // Byte for byte when the salts agree and no touch record needs re-pointing; else
    // re-encoded for this head (again if making room sealed it: a new salt).
    const DecidedWrite* d = &decided;
    auto salt = [&] { return slots_[order_.back()]->salt(); };
    if (decided.salt() != salt() || decided.has_touch()) {
      BALE_RETURN_IF_ERROR(RedecideLocked(decided, &decided_));
      d = &decided_;
    }
    BALE_RETURN_IF_ERROR(EnsureRoomLocked(d->size()));
    if (d->salt() != salt()) {
      BALE_RETURN_IF_ERROR(RedecideLocked(decided, &decided_));
      d = &decided_;
    }
    uint64_t base = 0;
    BALE_RETURN_IF_ERROR(AppendDecidedLocked(*d, &base));
    BALE_RETURN_IF_ERROR(RecordAppendLocked(*d, base, &lsn));
    // Indexed as recovery indexes what it scans (it also moves last_version_ on).
    const uint16_t head = order_.back();
    NeedleScanner::Record rec;
    for (size_t i = 0; i < d->records().size(); i++) {
      const DecidedWrite::Record& r = d->records()[i];
      rec.offset = base + r.rel;
      rec.header = r.header;
      rec.size = r.size;
      d->View(i, &rec.key, &rec.content_type, &rec.value);
      BALE_RETURN_IF_ERROR(ApplyRecord(head, rec));
    }
  }
  if (wait && options_.durability == Durability::kSync) BALE_RETURN_IF_ERROR(WaitDurable(lsn));
  MaybeCompactHead();
  return MaybeCheckpoint();
}

bool Volume::FindToucherLocked(std::string_view key, uint32_t tag,
                               const format::NeedleHeader& value, Location value_loc,
                               Found* touch) {
  if (!FindLocked(key, tag, touch).ok()) return false;
  if (touch->header.kind != format::NeedleKind::kTouch || touch->header.version != value.version) {
    return false;
  }
  format::TouchTarget t;
  Location target;
  return TouchTargetLocked(touch->loc, &t, &target).ok() && target == value_loc;
}

Status Volume::WaitDurable(uint64_t lsn) {
  if (options_.journal != nullptr && options_.durability == Durability::kSync) {
    return options_.journal->WaitDurable(lsn);
  }
  return HeadDurable(lsn);
}

Status Volume::HeadDurable(uint64_t lsn) {
  std::unique_lock<std::mutex> l(sync_mu_);
  while (synced_ < lsn) {
    if (syncing_) {
      sync_cv_.wait(l);
      continue;
    }
    // Become the leader: one fdatasync covers every append made so far.
    syncing_ = true;
    uint64_t target;
    std::shared_ptr<Segment> head;
    {
      std::shared_lock<std::shared_mutex> vl(mu_);
      if (order_.empty()) {
        syncing_ = false;
        return Status::IOError("volume closed");
      }
      target = appended_.load(std::memory_order_acquire);
      head = slots_[order_.back()];
    }
    l.unlock();
    Status s = head->Sync();
    l.lock();
    syncing_ = false;
    if (s.ok() && target > synced_) synced_ = target;
    sync_cv_.notify_all();
    if (!s.ok()) return s;
  }
  return Status::OK();
}

Status Volume::Sync() { return HeadDurable(appended_.load(std::memory_order_acquire)); }

void Volume::MaybeCompactHead() {
  if (options_.head_dead_limit == 0) return;
  uint64_t seq = 0;
  {
    std::shared_lock<std::shared_mutex> l(mu_);
    if (closed_ || order_.empty()) return;
    uint16_t head = order_.back();
    uint64_t dead = StateOf(head).dead_bytes;
    const Segment& seg = *slots_[head];
    if (dead < options_.head_dead_limit || 2 * dead < seg.end() || seg.damaged()) return;
    seq = seg.seq();
  }
  {
    // One already running (the compactor's, most likely this head): it will do.
    std::unique_lock<std::mutex> busy(compaction_mu_, std::try_to_lock);
    if (!busy.owns_lock()) return;
  }
  CompactionResult r;
  if (Compact(seq, &r).ok()) inline_compactions_.fetch_add(1);
}

Status Volume::MaybeCheckpoint() {
  if (since_checkpoint_.load(std::memory_order_relaxed) < options_.checkpoint_bytes) {
    return Status::OK();
  }
  // Skip when a checkpoint or a compaction's relocation is under way; a later write
  // tries again.
  std::unique_lock<std::mutex> cl(checkpoint_mu_, std::try_to_lock);
  if (!cl.owns_lock()) return Status::OK();
  std::shared_lock<std::shared_mutex> l(mu_);
  if (closed_) return Status::OK();
  // The write it follows is stored: a checkpoint that fails (a full disk) only leaves a
  // longer tail for the next restart to scan, and is tried again after more appends.
  if (!WriteCheckpointLocked().ok()) {
    checkpoint_failures_.fetch_add(1);
    since_checkpoint_.store(0);
  }
  return Status::OK();
}

format::FlushRule Volume::PlanFlush(uint32_t when) const {
  std::shared_lock<std::shared_mutex> l(mu_);
  uint32_t now = Now();
  format::FlushRule r = flush_;
  // A delayed flush whose time has come keeps hiding what it hid, whatever follows.
  if (r.flush_time != 0 && r.flush_time <= now) {
    r.flushed_before = std::max(r.flushed_before, r.flush_time);
  }
  if (when == 0 || when <= now) {
    r.flush_version = std::max(r.flush_version, last_version_);
    r.flush_time = 0;
    planned_hidden_.store(index_.size(), std::memory_order_relaxed);  // what it will hide
    // A partition that could not open has no versions to name: it hides by time what
    // its segments hold (all written before now) for when it is repaired.
    if (!opened_) r.flushed_before = std::max(r.flushed_before, now + 1);
  } else {
    r.flush_time = when;
  }
  return r;
}

void Volume::ApplyFlush(const format::FlushRule& rule) {
  std::unique_lock<std::shared_mutex> l(mu_);
  bool immediate = rule.flush_version >= last_version_ && rule.flush_time == 0;
  if (rule.flush_version > flush_.flush_version) {
    NoteAllDeadLocked();
    NoteFlushHidLocked(rule.flush_version);
  }
  flush_ = rule;
  last_version_ = std::max(last_version_, rule.flush_version);
  if (flush_damaged_ && immediate) {
    // Everything so far is hidden, whatever the lost marker said: repaired.
    flush_damaged_ = false;
    unavailable_ = Status::OK();
    std::erase_if(damage_,
                  [](const DamageReport& d) { return d.kind == DamageKind::kBadFlushMarker; });
    damaged_ = damaged_segments_ + missing_segments_ + corrupt_records_ > 0;
  }
}

void Volume::NoteAllDeadLocked() {
  for (uint16_t slot : order_) {
    StateLocked(slot).dead_bytes = slots_[slot]->end() - format::kSuperblockSize;
  }
}

format::FlushRule Volume::flush_rule() const {
  std::shared_lock<std::shared_mutex> l(mu_);
  return flush_;
}

Status Volume::Close() {
  if (own_syncer_) own_syncer_->Remove(this);
  if (options_.syncer != nullptr && options_.durability == Durability::kInterval) {
    options_.syncer->Remove(this);
  }
  Status s;
  {
    std::shared_lock<std::shared_mutex> l(mu_);
    if (closed_ || order_.empty()) return Status::OK();
  }
  s = Sync();
  // Once synced, everything acknowledged is safe: a checkpoint that cannot be written
  // (a full disk) costs the next start a longer scan, not data.
  if (s.ok() && !Checkpoint().ok()) checkpoint_failures_.fetch_add(1);
  std::unique_lock<std::shared_mutex> l(mu_);
  closed_ = true;
  own_syncer_.reset();
  return s;
}

std::vector<SegmentInfo> Volume::Segments() const {
  std::shared_lock<std::shared_mutex> l(mu_);
  std::vector<SegmentInfo> out;
  for (size_t i = 0; i < order_.size(); i++) {
    const Segment& s = *slots_[order_[i]];
    SlotState state = StateOf(order_[i]);
    out.push_back({s.seq(), s.generation(), s.end(), i + 1 < order_.size(), state.dead_bytes,
                   s.damaged(), state.dead_known});
  }
  return out;
}

VolumeStats Volume::Stats() const {
  std::shared_lock<std::shared_mutex> l(mu_);
  VolumeStats st;
  st.objects = index_.size();
  st.index_bytes = index_.MemoryBytes();
  st.segments = order_.size();
  for (uint16_t slot : order_) {
    st.disk_bytes += slots_[slot]->end();
    st.dead_bytes += StateOf(slot).dead_bytes;
  }
  st.last_version = last_version_;
  uint64_t appended = appended_.load();
  {
    std::lock_guard<std::mutex> sl(sync_mu_);
    st.unsynced_bytes = appended > synced_ ? appended - synced_ : 0;
  }
  st.compactions = compactions_.load();
  st.compaction_reclaimed = compaction_reclaimed_.load();
  st.compaction_scanned = compaction_scanned_.load();
  st.compaction_total = compaction_total_.load();
  st.corrupt_records = corrupt_records_;
  st.checkpoint_failures = checkpoint_failures_.load();
  st.inline_compactions = inline_compactions_.load();
  st.truncated_bytes = truncated_bytes_;
  st.recovery_scanned_bytes = recovery_scanned_;
  st.recovery_used_checkpoint = recovery_used_checkpoint_;
  LiveStatsLocked(&st);
  st.damaged_segments = damaged_segments_;
  st.unreadable_segments = unreadable_segments_;
  st.missing_segments = missing_segments_;
  st.damaged = damaged_;
  st.unavailable = !unavailable_.ok();
  return st;
}

std::vector<DamageReport> Volume::Damage() const {
  std::shared_lock<std::shared_mutex> l(mu_);
  return damage_;
}

}  // namespace bale
