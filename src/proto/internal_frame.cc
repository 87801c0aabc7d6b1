#include "proto/internal_frame.h"

#include <bit>
#include <charconv>
#include <cstring>
#include <utility>

namespace bale::proto {
namespace {

static_assert(std::endian::native == std::endian::little,
              "the internal frames are little-endian; add byte swaps for this target");

constexpr size_t kHelloExtras = 8;
constexpr size_t kGetExtras = 32;
constexpr size_t kMutateExtras = 64;
constexpr size_t kFlushExtras = 8;
constexpr size_t kMetaExtras = 56;
constexpr size_t kPutItemHead = 32;
constexpr size_t kPutItemResult = 17;

// GetRequest bits.
enum : uint8_t {
  kGetCookie = 1,
  kGetTouch = 2,
  kGetMeta = 4,
  kGetRecache = 8,
  kGetVivify = 16,
  kGetNoBump = 32
};
// Mutation bits.
enum : uint8_t {
  kMutSetExpiry = 1,
  kMutCompare = 2,
  kMutVivify = 4,
  kMutInvalidate = 8,
  kMutRemoveValue = 16
};
// ObjectMeta bits.
enum : uint8_t { kMetaStale = 1, kMetaWon = 2, kMetaTokenSent = 4, kMetaFetched = 8 };

template <class T>
void Put(std::string* out, T v) {
  char b[sizeof(T)];
  std::memcpy(b, &v, sizeof(T));
  out->append(b, sizeof(T));
}
template <class T>
T Get(const char* p) {
  T v;
  std::memcpy(&v, p, sizeof(T));
  return v;
}
// Reads fields in order from a view whose size the caller checked.
struct Reader {
  const char* p;
  template <class T>
  T Next() {
    T v = Get<T>(p);
    p += sizeof(T);
    return v;
  }
};

bool Bit(uint8_t bits, uint8_t b) { return (bits & b) != 0; }

FrameHeader ReplyHeader(FrameOp op, uint64_t id, uint64_t epoch, WireStatus status) {
  FrameHeader h;
  h.op = op;
  h.flags = kFlagReply;
  h.status = status;
  h.request_id = id;
  h.epoch = epoch;
  return h;
}

Status StatusOf(uint8_t code, std::string_view msg) {
  switch (static_cast<Status::Code>(code)) {
    case Status::Code::kOk:
      return Status::OK();
    case Status::Code::kNotFound:
      return Status::NotFound(msg);
    case Status::Code::kCorruption:
      return Status::Corruption(msg);
    case Status::Code::kInvalidArgument:
      return Status::InvalidArgument(msg);
    case Status::Code::kNoSpace:
      return Status::NoSpace(msg);
    case Status::Code::kExists:
      return Status::Exists(msg);
    case Status::Code::kBusy:
      return Status::Busy(msg);
    case Status::Code::kUnavailable:
      return Status::Unavailable(msg);
    default:
      return Status::IOError(msg);
  }
}

// MetaExtras (see the header) and the body: content type, then `rest`.
void PutMeta(std::string* out, const ObjectMeta& m, uint8_t mutation_status, uint8_t error_code,
             size_t content_type_len, uint64_t number) {
  uint8_t bits = (m.stale ? kMetaStale : 0) | (m.won ? kMetaWon : 0) |
                 (m.token_sent ? kMetaTokenSent : 0) | (m.fetched ? kMetaFetched : 0);
  Put<uint8_t>(out, mutation_status);
  Put<uint8_t>(out, bits);
  Put<uint16_t>(out, static_cast<uint16_t>(content_type_len));
  Put<uint32_t>(out, m.flags);
  Put<uint32_t>(out, m.expiry);
  Put<uint32_t>(out, m.mtime);
  Put<uint32_t>(out, m.idle_s);
  Put<uint8_t>(out, error_code);
  out->append(3, '\0');
  Put<uint64_t>(out, m.version);
  Put<uint64_t>(out, m.cookie);
  Put<uint64_t>(out, m.size);
  Put<uint64_t>(out, number);
}

struct MetaFields {
  ObjectMeta meta;
  uint8_t mutation_status = 0, error_code = 0;
  uint16_t content_type_len = 0;
  uint64_t number = 0;
};

bool ReadMeta(const Frame& f, MetaFields* out) {
  if (f.extras.size() != kMetaExtras) return false;
  Reader r{f.extras.data()};
  out->mutation_status = r.Next<uint8_t>();
  uint8_t bits = r.Next<uint8_t>();
  out->content_type_len = r.Next<uint16_t>();
  ObjectMeta& m = out->meta;
  m.flags = r.Next<uint32_t>();
  m.expiry = r.Next<uint32_t>();
  m.mtime = r.Next<uint32_t>();
  m.idle_s = r.Next<uint32_t>();
  out->error_code = r.Next<uint8_t>();
  r.p += 3;
  m.version = r.Next<uint64_t>();
  m.cookie = r.Next<uint64_t>();
  m.size = r.Next<uint64_t>();
  out->number = r.Next<uint64_t>();
  m.stale = Bit(bits, kMetaStale);
  m.won = Bit(bits, kMetaWon);
  m.token_sent = Bit(bits, kMetaTokenSent);
  m.fetched = Bit(bits, kMetaFetched);
  return out->content_type_len <= f.body.size() &&
         out->mutation_status <= static_cast<uint8_t>(MutationStatus::kError);
}

// ObjectStats' fields by name (STATS replies are "name value\n" lines).
constexpr std::pair<std::string_view, uint64_t ObjectStats::*> kStats64[] = {
    {"objects", &ObjectStats::objects},
    {"live_objects", &ObjectStats::live_objects},
    {"live_bytes", &ObjectStats::live_bytes},
    {"expired_reads", &ObjectStats::expired_reads},
    {"flushed_reads", &ObjectStats::flushed_reads},
    {"index_bytes", &ObjectStats::index_bytes},
    {"segments", &ObjectStats::segments},
    {"disk_bytes", &ObjectStats::disk_bytes},
    {"dead_bytes", &ObjectStats::dead_bytes},
    {"unsynced_bytes", &ObjectStats::unsynced_bytes},
    {"compactions", &ObjectStats::compactions},
    {"compaction_reclaimed", &ObjectStats::compaction_reclaimed},
    {"compaction_scanned", &ObjectStats::compaction_scanned},
    {"compaction_total", &ObjectStats::compaction_total},
    {"inline_compactions", &ObjectStats::inline_compactions},
    {"checkpoint_failures", &ObjectStats::checkpoint_failures},
    {"recovery_scanned_bytes", &ObjectStats::recovery_scanned_bytes},
    {"corrupt_records", &ObjectStats::corrupt_records},
    {"truncated_bytes", &ObjectStats::truncated_bytes},
    {"damaged_segments", &ObjectStats::damaged_segments},
    {"unreadable_segments", &ObjectStats::unreadable_segments},
    {"missing_segments", &ObjectStats::missing_segments},
    {"compaction_failures", &ObjectStats::compaction_failures},
    {"compactor_compactions", &ObjectStats::compactor_compactions},
    {"tail_checkpoints", &ObjectStats::tail_checkpoints},
    {"disk_reserve_bytes", &ObjectStats::disk_reserve_bytes},
    {"journal_flushes", &ObjectStats::journal_flushes},
    {"journal_bytes", &ObjectStats::journal_bytes},
    {"journal_rotations", &ObjectStats::journal_rotations},
    {"journal_failures", &ObjectStats::journal_failures},
    {"journal_replayed", &ObjectStats::journal_replayed},
};
constexpr std::pair<std::string_view, uint32_t ObjectStats::*> kStats32[] = {
    {"partitions", &ObjectStats::partitions},
    {"oldest_mtime", &ObjectStats::oldest_mtime},
    {"damaged_partitions", &ObjectStats::damaged_partitions},
    {"unavailable_partitions", &ObjectStats::unavailable_partitions},
};
constexpr std::pair<std::string_view, bool ObjectStats::*> kStatsBool[] = {
    {"compaction_running", &ObjectStats::compaction_running},
    {"compaction_request_pending", &ObjectStats::compaction_request_pending},
    {"disk_full", &ObjectStats::disk_full},
    {"flush_all_damaged", &ObjectStats::flush_all_damaged},
};

}  // namespace

std::string_view WireStatusName(WireStatus s) {
  switch (s) {
    case WireStatus::kOk:
      return "OK";
    case WireStatus::kNotFound:
      return "NOT_FOUND";
    case WireStatus::kCorruption:
      return "CORRUPTION";
    case WireStatus::kUnavailable:
      return "UNAVAILABLE";
    case WireStatus::kError:
      return "ERROR";
    case WireStatus::kWrongEpoch:
      return "WRONG_EPOCH";
    case WireStatus::kNotHeld:
      return "NOT_HELD";
    case WireStatus::kBadFrame:
      return "BAD_FRAME";
    case WireStatus::kTooLarge:
      return "TOO_LARGE";
    case WireStatus::kUnsupportedVersion:
      return "UNSUPPORTED_VERSION";
    case WireStatus::kBadRequest:
      return "BAD_REQUEST";
  }
  return "UNKNOWN";
}

DecodeResult DecodeFrame(std::string_view input, const FrameLimits& limits, Frame* frame) {
  DecodeResult r;
  if (input.empty()) return r;
  if (static_cast<uint8_t>(input[0]) != kFrameMagic) {
    return {DecodeStatus::kBad, WireStatus::kUnsupportedVersion,
            "not a bale internal frame of version 1"};
  }
  if (input.size() < kFrameHeaderSize) return r;
  const char* p = input.data();
  uint8_t op = static_cast<uint8_t>(p[1]);
  uint8_t status = static_cast<uint8_t>(p[3]);
  uint16_t key_len = Get<uint16_t>(p + 24);
  uint16_t extras_len = Get<uint16_t>(p + 26);
  uint64_t body_len = Get<uint64_t>(p + 32);
  bool known_op = (op >= 0x01 && op <= 0x06) || op == 0x7F;
  if (!known_op || status > static_cast<uint8_t>(WireStatus::kBadRequest) ||
      (static_cast<uint8_t>(p[2]) & ~kFlagReply) != 0 || Get<uint32_t>(p + 28) != 0 ||
      key_len > kMaxFrameKey || extras_len > 1024) {
    return {DecodeStatus::kBad, WireStatus::kBadFrame, "malformed frame header"};
  }
  // No overflow: body_len is compared before it is added to anything.
  uint64_t fixed = kFrameHeaderSize + key_len + extras_len;
  if (body_len > limits.max_frame || fixed + body_len > limits.max_frame) {
    return {DecodeStatus::kBad, WireStatus::kTooLarge, "frame larger than the limit"};
  }
  uint64_t size = fixed + body_len;
  if (input.size() < size) return r;
  FrameHeader& h = frame->header;
  h.op = static_cast<FrameOp>(op);
  h.flags = static_cast<uint8_t>(p[2]);
  h.status = static_cast<WireStatus>(status);
  h.partition = Get<uint32_t>(p + 4);
  h.request_id = Get<uint64_t>(p + 8);
  h.epoch = Get<uint64_t>(p + 16);
  frame->extras = input.substr(kFrameHeaderSize, extras_len);
  frame->key = input.substr(kFrameHeaderSize + extras_len, key_len);
  frame->body = input.substr(fixed, static_cast<size_t>(body_len));
  frame->size = static_cast<size_t>(size);
  r.status = DecodeStatus::kFrame;
  return r;
}

void AppendHeader(std::string* out, const FrameHeader& h, size_t key_len, size_t extras_len,
                  uint64_t body_len) {
  Put<uint8_t>(out, kFrameMagic);
  Put<uint8_t>(out, static_cast<uint8_t>(h.op));
  Put<uint8_t>(out, h.flags);
  Put<uint8_t>(out, static_cast<uint8_t>(h.status));
  Put<uint32_t>(out, h.partition);
  Put<uint64_t>(out, h.request_id);
  Put<uint64_t>(out, h.epoch);
  Put<uint16_t>(out, static_cast<uint16_t>(key_len));
  Put<uint16_t>(out, static_cast<uint16_t>(extras_len));
  Put<uint32_t>(out, 0);
  Put<uint64_t>(out, body_len);
}
static_assert(kFrameHeaderSize == 1 + 1 + 1 + 1 + 4 + 8 + 8 + 2 + 2 + 4 + 8);

void SetRequestId(char* frame, uint64_t id) { std::memcpy(frame + 8, &id, 8); }

void AppendHello(std::string* out, uint64_t id, const Hello& hello, bool reply,
                 std::string_view body) {
  FrameHeader h = ReplyHeader(FrameOp::kHello, id, 0, WireStatus::kOk);
  h.flags = reply ? kFlagReply : 0;
  AppendHeader(out, h, 0, kHelloExtras, body.size());
  Put<uint8_t>(out, hello.min_version);
  Put<uint8_t>(out, hello.max_version);
  Put<uint16_t>(out, 0);
  Put<uint32_t>(out, hello.features);
  out->append(body);
}

bool DecodeHello(const Frame& f, Hello* hello) {
  if (f.extras.size() != kHelloExtras) return false;
  Reader r{f.extras.data()};
  hello->min_version = r.Next<uint8_t>();
  hello->max_version = r.Next<uint8_t>();
  r.p += 2;
  hello->features = r.Next<uint32_t>();
  return true;
}

GetRequest GetRequest::From(std::string_view key, const LookupOptions& o) {
  GetRequest g;
  g.key = key;
  g.has_cookie = o.cookie != nullptr;
  g.cookie = g.has_cookie ? *o.cookie : 0;
  g.has_touch = o.touch_expiry != nullptr;
  g.touch_expiry = g.has_touch ? *o.touch_expiry : 0;
  g.meta = o.meta;
  g.has_recache = o.recache_before != nullptr;
  g.recache_before = g.has_recache ? *o.recache_before : 0;
  g.has_vivify = o.vivify_expiry != nullptr;
  g.vivify_expiry = g.has_vivify ? *o.vivify_expiry : 0;
  g.vivify_version = o.vivify_version;
  g.no_bump = o.no_bump;
  return g;
}

LookupOptions GetRequest::options() const {
  LookupOptions o;
  o.cookie = has_cookie ? &cookie : nullptr;
  o.touch_expiry = has_touch ? &touch_expiry : nullptr;
  o.meta = meta;
  o.recache_before = has_recache ? &recache_before : nullptr;
  o.vivify_expiry = has_vivify ? &vivify_expiry : nullptr;
  o.vivify_version = vivify_version;
  o.no_bump = no_bump;
  return o;
}

void AppendGet(std::string* out, uint64_t id, uint64_t epoch, uint32_t partition,
               const GetRequest& g) {
  FrameHeader h{FrameOp::kGet, 0, WireStatus::kOk, partition, id, epoch};
  AppendHeader(out, h, g.key.size(), kGetExtras, 0);
  uint8_t bits = (g.has_cookie ? kGetCookie : 0) | (g.has_touch ? kGetTouch : 0) |
                 (g.meta ? kGetMeta : 0) | (g.has_recache ? kGetRecache : 0) |
                 (g.has_vivify ? kGetVivify : 0) | (g.no_bump ? kGetNoBump : 0);
  Put<uint8_t>(out, bits);
  out->append(3, '\0');
  Put<uint32_t>(out, g.touch_expiry);
  Put<uint32_t>(out, g.recache_before);
  Put<uint32_t>(out, g.vivify_expiry);
  Put<uint64_t>(out, g.cookie);
  Put<uint64_t>(out, g.vivify_version);
  out->append(g.key);
}

bool DecodeGet(const Frame& f, GetRequest* g) {
  if (f.extras.size() != kGetExtras || f.key.empty() || !f.body.empty()) return false;
  Reader r{f.extras.data()};
  uint8_t bits = r.Next<uint8_t>();
  r.p += 3;
  *g = GetRequest();
  g->key = f.key;
  g->touch_expiry = r.Next<uint32_t>();
  g->recache_before = r.Next<uint32_t>();
  g->vivify_expiry = r.Next<uint32_t>();
  g->cookie = r.Next<uint64_t>();
  g->vivify_version = r.Next<uint64_t>();
  g->has_cookie = Bit(bits, kGetCookie);
  g->has_touch = Bit(bits, kGetTouch);
  g->meta = Bit(bits, kGetMeta);
  g->has_recache = Bit(bits, kGetRecache);
  g->has_vivify = Bit(bits, kGetVivify);
  g->no_bump = Bit(bits, kGetNoBump);
  return true;
}

void AppendMutateHead(std::string* out, uint64_t id, uint64_t epoch, uint32_t partition,
                      const Mutation& m) {
  FrameHeader h{FrameOp::kMutate, 0, WireStatus::kOk, partition, id, epoch};
  AppendHeader(out, h, m.key.size(), kMutateExtras, m.content_type.size() + m.value.size());
  uint8_t bits = (m.set_expiry ? kMutSetExpiry : 0) | (m.has_compare ? kMutCompare : 0) |
                 (m.vivify ? kMutVivify : 0) | (m.invalidate ? kMutInvalidate : 0) |
                 (m.remove_value ? kMutRemoveValue : 0);
  Put<uint8_t>(out, static_cast<uint8_t>(m.kind));
  Put<uint8_t>(out, bits);
  Put<uint16_t>(out, static_cast<uint16_t>(m.content_type.size()));
  Put<uint32_t>(out, m.flags);
  Put<uint32_t>(out, m.expiry);
  Put<uint32_t>(out, m.vivify_expiry);
  Put<uint64_t>(out, m.compare_version);
  Put<uint64_t>(out, m.delta);
  Put<uint64_t>(out, m.initial);
  Put<uint64_t>(out, m.cookie);
  Put<uint64_t>(out, m.max_value_size);
  Put<uint64_t>(out, m.explicit_version);
  out->append(m.key);
  out->append(m.content_type);
}

void AppendMutate(std::string* out, uint64_t id, uint64_t epoch, uint32_t partition,
                  const Mutation& m) {
  AppendMutateHead(out, id, epoch, partition, m);
  out->append(m.value);
}

bool DecodeMutate(const Frame& f, Mutation* m) {
  if (f.extras.size() != kMutateExtras || f.key.empty()) return false;
  Reader r{f.extras.data()};
  uint8_t kind = r.Next<uint8_t>();
  uint8_t bits = r.Next<uint8_t>();
  uint16_t ct_len = r.Next<uint16_t>();
  if (kind > static_cast<uint8_t>(MutationKind::kDelete) || ct_len > f.body.size()) return false;
  *m = Mutation();
  m->kind = static_cast<MutationKind>(kind);
  m->key = f.key;
  m->content_type = f.body.substr(0, ct_len);
  m->value = f.body.substr(ct_len);
  m->flags = r.Next<uint32_t>();
  m->expiry = r.Next<uint32_t>();
  m->vivify_expiry = r.Next<uint32_t>();
  m->compare_version = r.Next<uint64_t>();
  m->delta = r.Next<uint64_t>();
  m->initial = r.Next<uint64_t>();
  m->cookie = r.Next<uint64_t>();
  m->max_value_size = r.Next<uint64_t>();
  m->explicit_version = r.Next<uint64_t>();
  m->set_expiry = Bit(bits, kMutSetExpiry);
  m->has_compare = Bit(bits, kMutCompare);
  m->vivify = Bit(bits, kMutVivify);
  m->invalidate = Bit(bits, kMutInvalidate);
  m->remove_value = Bit(bits, kMutRemoveValue);
  return true;
}

void AppendFlushAll(std::string* out, uint64_t id, uint64_t epoch, uint32_t when) {
  FrameHeader h{FrameOp::kFlushAll, 0, WireStatus::kOk, kNoPartition, id, epoch};
  AppendHeader(out, h, 0, kFlushExtras, 0);
  Put<uint32_t>(out, when);
  Put<uint32_t>(out, 0);
}

bool DecodeFlushAll(const Frame& f, uint32_t* when) {
  if (f.extras.size() != kFlushExtras) return false;
  *when = Get<uint32_t>(f.extras.data());
  return true;
}

void AppendPutAtomic(std::string* out, uint64_t id, uint64_t epoch,
                     std::span<const BatchPut> items) {
  uint64_t body = 4;
  for (const BatchPut& b : items) {
    body += kPutItemHead + b.key.size() + b.content_type.size() + b.value.size();
  }
  FrameHeader h{FrameOp::kPutAtomic, 0, WireStatus::kOk, kNoPartition, id, epoch};
  AppendHeader(out, h, 0, 0, body);
  Put<uint32_t>(out, static_cast<uint32_t>(items.size()));
  for (const BatchPut& b : items) {
    Put<uint16_t>(out, static_cast<uint16_t>(b.key.size()));
    Put<uint16_t>(out, static_cast<uint16_t>(b.content_type.size()));
    Put<uint8_t>(out, b.only_if_absent ? 1 : 0);
    out->append(3, '\0');
    Put<uint32_t>(out, b.flags);
    Put<uint32_t>(out, b.expiry);
    Put<uint64_t>(out, b.cookie);
    Put<uint64_t>(out, b.value.size());
    out->append(b.key).append(b.content_type).append(b.value);
  }
}

bool DecodePutAtomic(const Frame& f, std::vector<BatchPut>* items) {
  items->clear();
  std::string_view body = f.body;
  if (!f.extras.empty() || body.size() < 4) return false;
  uint32_t count = Get<uint32_t>(body.data());
  body.remove_prefix(4);
  // Each item takes at least kPutItemHead bytes: a count past that is refused before
  // anything is reserved.
  if (count > body.size() / kPutItemHead) return false;
  items->reserve(count);
  for (uint32_t i = 0; i < count; i++) {
    if (body.size() < kPutItemHead) return false;
    Reader r{body.data()};
    BatchPut b;
    uint16_t key_len = r.Next<uint16_t>();
    uint16_t ct_len = r.Next<uint16_t>();
    b.only_if_absent = r.Next<uint8_t>() != 0;
    r.p += 3;
    b.flags = r.Next<uint32_t>();
    b.expiry = r.Next<uint32_t>();
    b.cookie = r.Next<uint64_t>();
    uint64_t value_len = r.Next<uint64_t>();
    body.remove_prefix(kPutItemHead);
    if (key_len == 0 || key_len > kMaxFrameKey || value_len > body.size() ||
        static_cast<uint64_t>(key_len) + ct_len + value_len > body.size()) {
      return false;
    }
    b.key = body.substr(0, key_len);
    b.content_type = body.substr(key_len, ct_len);
    b.value = body.substr(key_len + ct_len, static_cast<size_t>(value_len));
    body.remove_prefix(key_len + ct_len + static_cast<size_t>(value_len));
    items->push_back(b);
  }
  return body.empty();
}

void AppendStats(std::string* out, uint64_t id, uint64_t epoch) {
  FrameHeader h{FrameOp::kStats, 0, WireStatus::kOk, kNoPartition, id, epoch};
  AppendHeader(out, h, 0, 0, 0);
}

void AppendResult(std::string* out, FrameOp op, uint64_t id, uint64_t epoch,
                  const MutationResult& r) {
  std::string_view error = r.error.message();
  AppendHeader(out, ReplyHeader(op, id, epoch, WireStatus::kOk), 0, kMetaExtras, error.size());
  PutMeta(out, r.meta, static_cast<uint8_t>(r.status), static_cast<uint8_t>(r.error.code()), 0,
          r.number);
  out->append(error);
}

bool DecodeMutationResult(const Frame& f, MutationResult* r) {
  MetaFields m;
  if (f.header.status != WireStatus::kOk || !ReadMeta(f, &m)) return false;
  r->status = static_cast<MutationStatus>(m.mutation_status);
  r->meta = m.meta;
  r->number = m.number;
  r->error = StatusOf(m.error_code, f.body.substr(m.content_type_len));
  if (r->error.ok() && m.error_code != 0) r->error = Status::IOError(f.body);
  return true;
}

void AppendValueHead(std::string* out, uint64_t id, uint64_t epoch, const ObjectView& v) {
  FrameHeader h = ReplyHeader(FrameOp::kGet, id, epoch, WireStatus::kOk);
  AppendHeader(out, h, v.key.size(), kMetaExtras, v.content_type.size() + v.value.size());
  PutMeta(out, v.meta, 0, 0, v.content_type.size(), 0);
  out->append(v.key).append(v.content_type);
}

void AppendValue(std::string* out, uint64_t id, uint64_t epoch, const ObjectView& v) {
  AppendValueHead(out, id, epoch, v);
  out->append(v.value);
}

bool DecodeValue(const Frame& f, ObjectView* v) {
  MetaFields m;
  if (f.header.op != FrameOp::kGet || f.header.status != WireStatus::kOk || !ReadMeta(f, &m)) {
    return false;
  }
  *v = ObjectView();
  v->meta = m.meta;
  v->key = f.key;
  v->content_type = f.body.substr(0, m.content_type_len);
  v->value = f.body.substr(m.content_type_len);
  return v->value.size() == v->meta.size;
}

void AppendGetMiss(std::string* out, uint64_t id, uint64_t epoch, WireStatus status,
                   std::string_view message) {
  AppendHeader(out, ReplyHeader(FrameOp::kGet, id, epoch, status), 0, 0, message.size());
  out->append(message);
}

void AppendPutAtomicResult(std::string* out, uint64_t id, uint64_t epoch, const MutationResult& r,
                           std::span<const BatchPut> items) {
  std::string_view error = r.error.message();
  uint64_t body = error.size() + kPutItemResult * items.size();
  AppendHeader(out, ReplyHeader(FrameOp::kPutAtomic, id, epoch, WireStatus::kOk), 0, kMetaExtras,
               body);
  // The items' results come first (the content type slot), then the error text.
  PutMeta(out, r.meta, static_cast<uint8_t>(r.status), static_cast<uint8_t>(r.error.code()),
          kPutItemResult * items.size(), r.number);
  for (const BatchPut& b : items) {
    Put<uint64_t>(out, b.cookie);
    Put<uint64_t>(out, b.version);
    Put<uint8_t>(out, b.taken ? 1 : 0);
  }
  out->append(error);
}

bool DecodePutAtomicResult(const Frame& f, MutationResult* r, std::span<BatchPut> items) {
  if (!DecodeMutationResult(f, r)) return false;
  MetaFields m;
  (void)ReadMeta(f, &m);
  if (m.content_type_len != kPutItemResult * items.size()) return false;
  const char* p = f.body.data();
  for (BatchPut& b : items) {
    b.cookie = Get<uint64_t>(p);
    b.version = Get<uint64_t>(p + 8);
    b.taken = p[16] != 0;
    p += kPutItemResult;
  }
  return true;
}

void AppendStatsReply(std::string* out, uint64_t id, uint64_t epoch, const ObjectStats& s) {
  std::string body;
  auto line = [&](std::string_view name, uint64_t v) {
    body.append(name).append(1, ' ').append(std::to_string(v)).append(1, '\n');
  };
  for (const auto& [name, field] : kStats64) line(name, s.*field);
  for (const auto& [name, field] : kStats32) line(name, s.*field);
  for (const auto& [name, field] : kStatsBool) line(name, s.*field ? 1 : 0);
  AppendHeader(out, ReplyHeader(FrameOp::kStats, id, epoch, WireStatus::kOk), 0, 0, body.size());
  out->append(body);
}

bool DecodeStatsReply(const Frame& f, ObjectStats* s) {
  if (f.header.status != WireStatus::kOk) return false;
  std::string_view body = f.body;
  while (!body.empty()) {
    size_t eol = body.find('\n');
    size_t sp = body.find(' ');
    if (eol == std::string_view::npos || sp > eol) return false;
    std::string_view name = body.substr(0, sp);
    uint64_t v = 0;
    auto [end, ec] = std::from_chars(body.data() + sp + 1, body.data() + eol, v);
    if (ec != std::errc() || end != body.data() + eol) return false;
    // Unknown names are skipped: a newer node may report more.
    for (const auto& [n, field] : kStats64)
      if (n == name) s->*field = v;
    for (const auto& [n, field] : kStats32)
      if (n == name) s->*field = static_cast<uint32_t>(v);
    for (const auto& [n, field] : kStatsBool)
      if (n == name) s->*field = v != 0;
    body.remove_prefix(eol + 1);
  }
  return true;
}

void AppendError(std::string* out, uint64_t id, uint64_t epoch, WireStatus status,
                 std::string_view message) {
  AppendHeader(out, ReplyHeader(FrameOp::kError, id, epoch, status), 0, 0, message.size());
  out->append(message);
}

Status ReplyStatus(const Frame& f) {
  std::string msg(WireStatusName(f.header.status));
  bool has_text = f.header.op == FrameOp::kError ||
                  (f.header.op == FrameOp::kGet && f.header.status != WireStatus::kOk);
  if (has_text && !f.body.empty()) msg.append(": ").append(f.body);
  switch (f.header.status) {
    case WireStatus::kOk:
      return Status::OK();
    case WireStatus::kNotFound:
      return Status::NotFound(f.body);
    case WireStatus::kCorruption:
      return Status::Corruption(msg);
    case WireStatus::kUnavailable:
    case WireStatus::kWrongEpoch:
    case WireStatus::kNotHeld:
      return Status::Unavailable(msg);
    case WireStatus::kBadFrame:
    case WireStatus::kTooLarge:
    case WireStatus::kUnsupportedVersion:
    case WireStatus::kBadRequest:
      return Status::InvalidArgument(msg);
    default:
      return Status::IOError(msg);
  }
}

}  // namespace bale::proto
