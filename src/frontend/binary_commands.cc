#include "frontend/binary_commands.h"

#include <ctime>
#include <string_view>

#include "base/expiry.h"
#include "proto/memcache_request.h"

namespace bale {

using proto::BinaryOpcode;
using proto::BinaryRequest;
using proto::BinaryResponseHeader;
using proto::BinaryStatus;

namespace {

uint32_t Now() { return static_cast<uint32_t>(::time(nullptr)); }

BinaryResponseHeader Header(const BinaryRequest& req, BinaryStatus status = BinaryStatus::kOk) {
  BinaryResponseHeader h;
  h.opcode = req.opcode;  // as sent: a quiet opcode is answered as itself
  h.opaque = req.opaque;
  h.status = status;
  return h;
}

void Error(const BinaryRequest& req, std::string* out, BinaryStatus status,
           std::string_view message = {}) {
  proto::AppendBinaryError(out, req.opcode, req.opaque, status, message);
}

// The empty success of a write (set, delete, flush, ...), unless the request is quiet.
void Done(const BinaryRequest& req, std::string* out, uint64_t cas) {
  if (req.quiet) return;
  BinaryResponseHeader h = Header(req);
  h.cas = cas;
  proto::AppendBinaryHeader(out, h);
}

// A store failure: memcached's nearest status (its own server errors are "out of
// memory") with bale's reason as the message.
void ServerError(const BinaryRequest& req, const Status& s, std::string* out, ThreadStats* st) {
  ThreadStats::Add(st->server_errors);
  if (s.IsNoSpace()) return Error(req, out, BinaryStatus::kOutOfMemory, "out of disk space");
  std::string why = s.IsUnavailable() ? std::string(s.message()) : s.ToString();
  Error(req, out, BinaryStatus::kOutOfMemory, why);
}

MutationKind StoreKind(BinaryOpcode c) {
  switch (c) {
    case BinaryOpcode::kAdd:
      return MutationKind::kAdd;
    case BinaryOpcode::kReplace:
      return MutationKind::kReplace;
    case BinaryOpcode::kAppend:
      return MutationKind::kAppend;
    case BinaryOpcode::kPrepend:
      return MutationKind::kPrepend;
    default:
      return MutationKind::kSet;
  }
}

// What memcached answers when a store is refused (its NOT_STORED): add of a present
// key "exists", replace of a missing one "not found", append/prepend "not stored".
BinaryStatus NotStored(BinaryOpcode c) {
  if (c == BinaryOpcode::kAdd) return BinaryStatus::kKeyExists;
  if (c == BinaryOpcode::kReplace) return BinaryStatus::kKeyNotFound;
  return BinaryStatus::kNotStored;
}

}  // namespace

Outcome BinaryCommands::Execute(const BinaryRequest& req, std::string* out, ThreadStats* st,
                                ObjectSession* session, std::vector<FileSend>* files) const {
  switch (req.command) {
    case BinaryOpcode::kGet:
    case BinaryOpcode::kGetK:
    case BinaryOpcode::kTouch:
    case BinaryOpcode::kGat:
    case BinaryOpcode::kGatK:
      Retrieve(req, out, st, session, files);
      break;
    case BinaryOpcode::kSet:
    case BinaryOpcode::kAdd:
    case BinaryOpcode::kReplace:
    case BinaryOpcode::kAppend:
    case BinaryOpcode::kPrepend:
      Store(req, out, st, session);
      break;
    case BinaryOpcode::kDelete:
      Delete(req, out, st, session);
      break;
    case BinaryOpcode::kIncrement:
    case BinaryOpcode::kDecrement:
      Arithmetic(req, out, st, session);
      break;
    case BinaryOpcode::kFlush:
      Flush(req, out, st, session);
      break;
    case BinaryOpcode::kStat:
      Stat(req, out, st, session);
      break;
    case BinaryOpcode::kVersion: {
      BinaryResponseHeader h = Header(req);
      h.body_length = static_cast<uint32_t>(MemcacheCommands::kVersion.size());
      proto::AppendBinaryHeader(out, h);
      out->append(MemcacheCommands::kVersion);
      break;
    }
    case BinaryOpcode::kNoop:
      Done(req, out, 0);
      break;
    case BinaryOpcode::kQuit:
      Done(req, out, 0);
      return Outcome::kClose;
    default:  // SASL: memcached without -S does not know it
      Error(req, out, BinaryStatus::kUnknownCommand);
      break;
  }
  return Outcome::kContinue;
}

// get, getk, touch, gat, gatk (and their quiet forms).
void BinaryCommands::Retrieve(const BinaryRequest& req, std::string* out, ThreadStats* st,
                              ObjectSession* session, std::vector<FileSend>* files) const {
  BinaryOpcode c = req.command;
  bool touch = c == BinaryOpcode::kTouch || c == BinaryOpcode::kGat || c == BinaryOpcode::kGatK;
  bool with_key = c == BinaryOpcode::kGetK || c == BinaryOpcode::kGatK;
  bool with_value = c != BinaryOpcode::kTouch;
  uint32_t expiry = touch ? ExpiryFromMemcached(req.expiration, Now()) : 0;
  LookupOptions options;
  if (touch) options.touch_expiry = &expiry;  // an expiry in the past: a miss
  if (with_value) ThreadStats::Add(st->cmd_get);
  if (touch) ThreadStats::Add(st->cmd_touch);
  ObjectView obj;
  Status s = store_->Get(session, req.key, options, &obj);
  if (s.ok()) {
    if (with_value) ThreadStats::Add(st->get_hits);
    if (touch) ThreadStats::Add(st->touch_hits);
    uint64_t value_size = with_value ? obj.value.size() : 0;
    BinaryResponseHeader h = Header(req);
    h.cas = obj.meta.version;
    h.extras_length = 4;
    h.key_length = with_key ? static_cast<uint16_t>(req.key.size()) : 0;
    h.body_length = static_cast<uint32_t>(4 + h.key_length + value_size);
    proto::AppendBinaryHeader(out, h);
    proto::AppendBigEndian32(out, obj.meta.flags);
    if (with_key) out->append(req.key);
    if (files != nullptr && obj.fd >= 0 && value_size >= kSendfileBytes) {
      files->push_back(FileSend{out->size(), obj.hold, obj.fd, obj.value_offset, value_size});
    } else if (value_size > 0) {
      out->append(obj.value);
    }
    obj.Release();
    return;
  }
  if (s.IsUnavailable()) return ServerError(req, s, out, st);  // not a miss
  if (with_value) ThreadStats::Add(st->get_misses);
  if (touch) ThreadStats::Add(st->touch_misses);
  if (s.IsCorruption()) ThreadStats::Add(st->corrupt_reads);
  if (req.quiet) return;
  if (!with_key) return Error(req, out, BinaryStatus::kKeyNotFound);
  // getk and gatk name the key that missed, without a message.
  BinaryResponseHeader h = Header(req, BinaryStatus::kKeyNotFound);
  h.key_length = static_cast<uint16_t>(req.key.size());
  h.body_length = h.key_length;
  proto::AppendBinaryHeader(out, h);
  out->append(req.key);
}

// set, add, replace (a CAS makes each a cas, as in memcached), append, prepend.
void BinaryCommands::Store(const BinaryRequest& req, std::string* out, ThreadStats* st,
                           ObjectSession* session) const {
  ThreadStats::Add(st->cmd_set);
  Mutation m;
  m.key = req.key;
  if (req.too_large) {
    // memcached drops the old value of a set too, so a reader never sees a stale one.
    if (req.command == BinaryOpcode::kSet) {
      m.kind = MutationKind::kDelete;
      bale::Mutate(store_, session, m, [](const MutationResult&) {});
    }
    return Error(req, out, BinaryStatus::kTooLarge);
  }
  bool concat = req.command == BinaryOpcode::kAppend || req.command == BinaryOpcode::kPrepend;
  bool cas = req.cas != 0;
  m.kind = StoreKind(req.command);
  if (cas) {
    if (!concat) m.kind = MutationKind::kCas;
    m.has_compare = concat;
    m.compare_version = req.cas;
  }
  m.value = req.value;
  m.flags = req.flags;
  m.expiry = concat ? 0 : ExpiryFromMemcached(req.expiration, Now());
  m.max_value_size = settings_->max_item_size;
  bale::Mutate(store_, session, m, [&](const MutationResult& r) {
    switch (r.status) {
      case MutationStatus::kOk:
        ThreadStats::Add(st->total_items);
        if (cas) ThreadStats::Add(st->cas_hits);
        return Done(req, out, r.meta.version);
      case MutationStatus::kNotFound:  // with a CAS; memcached's append says not stored
        ThreadStats::Add(st->cas_misses);
        return Error(req, out, concat ? BinaryStatus::kNotStored : BinaryStatus::kKeyNotFound);
      case MutationStatus::kExists:
        ThreadStats::Add(st->cas_badval);
        return Error(req, out, BinaryStatus::kKeyExists);
      case MutationStatus::kNotStored:
      case MutationStatus::kTooLarge:  // an append past the limit: memcached's NOT_STORED
        return Error(req, out, NotStored(req.command));
      default:
        return ServerError(req, r.error, out, st);
    }
  });
}

void BinaryCommands::Delete(const BinaryRequest& req, std::string* out, ThreadStats* st,
                            ObjectSession* session) const {
  Mutation m;
  m.kind = MutationKind::kDelete;
  m.key = req.key;
  m.has_compare = req.cas != 0;
  m.compare_version = req.cas;
  bale::Mutate(store_, session, m, [&](const MutationResult& r) {
    switch (r.status) {
      case MutationStatus::kOk:
        ThreadStats::Add(st->delete_hits);
        return Done(req, out, 0);
      case MutationStatus::kNotFound:
        ThreadStats::Add(st->delete_misses);
        return Error(req, out, BinaryStatus::kKeyNotFound);
      case MutationStatus::kExists:
        return Error(req, out, BinaryStatus::kKeyExists);
      default:
        return ServerError(req, r.error, out, st);
    }
  });
}

// increment, decrement: a missing key is created with `initial` unless the expiration
// is 0xffffffff; a CAS is compared only with an existing object, as in memcached.
void BinaryCommands::Arithmetic(const BinaryRequest& req, std::string* out, ThreadStats* st,
                                ObjectSession* session) const {
  bool incr = req.command == BinaryOpcode::kIncrement;
  Mutation m;
  m.kind = incr ? MutationKind::kIncr : MutationKind::kDecr;
  m.key = req.key;
  m.delta = req.delta;
  m.has_compare = req.cas != 0;
  m.compare_version = req.cas;
  if (req.expiration != proto::kBinaryNoVivify) {
    m.vivify = true;
    m.initial = req.initial;
    m.vivify_expiry = ExpiryFromMemcached(req.expiration, Now());
  }
  bale::Mutate(store_, session, m, [&](const MutationResult& r) {
    switch (r.status) {
      case MutationStatus::kOk: {
        ThreadStats::Add(incr ? st->incr_hits : st->decr_hits);
        if (req.quiet) return;
        BinaryResponseHeader h = Header(req);
        h.cas = r.meta.version;
        h.body_length = 8;
        proto::AppendBinaryHeader(out, h);
        return proto::AppendBigEndian64(out, r.number);
      }
      case MutationStatus::kNotFound:
        ThreadStats::Add(incr ? st->incr_misses : st->decr_misses);
        return Error(req, out, BinaryStatus::kKeyNotFound);
      case MutationStatus::kExists:
        return Error(req, out, BinaryStatus::kKeyExists);
      case MutationStatus::kNonNumeric:
        ThreadStats::Add(st->client_errors);
        return Error(req, out, BinaryStatus::kNonNumeric);
      default:
        return ServerError(req, r.error, out, st);
    }
  });
}

void BinaryCommands::Flush(const BinaryRequest& req, std::string* out, ThreadStats* st,
                           ObjectSession* session) const {
  // memcached answers a refused flush "Auth failure.".
  if (settings_->disable_flush_all) return Error(req, out, BinaryStatus::kAuthError);
  ThreadStats::Add(st->cmd_flush);
  uint32_t when = 0;
  if (req.has_expiration && req.expiration > 0) when = ExpiryFromMemcached(req.expiration, Now());
  CallbackCompletion done([&](const MutationResult& r) {
    if (r.status != MutationStatus::kOk) return ServerError(req, r.error, out, st);
    Done(req, out, 0);
  });
  store_->FlushAll(when, session, &done);
}

// The text face's `stats [group]`, each "STAT name value" line as a packet with the
// name as key and the value as value, then the empty packet that ends them; a group the
// text face does not know ("ERROR") is "Not found", as memcached answers it.
void BinaryCommands::Stat(const BinaryRequest& req, std::string* out, ThreadStats* st,
                          ObjectSession* session) const {
  proto::Request text;
  text.command = proto::Command::kStats;
  text.args = req.key;
  std::string lines;
  text_->Execute(text, &lines, st, session);
  std::string_view rest = lines;
  auto ends = [&](std::string_view tail) {
    return rest.size() >= tail.size() && rest.substr(rest.size() - tail.size()) == tail;
  };
  if (!ends("END\r\n") && rest != "RESET\r\n") return Error(req, out, BinaryStatus::kKeyNotFound);
  constexpr std::string_view kStat = "STAT ";
  while (rest.substr(0, kStat.size()) == kStat) {
    size_t eol = rest.find("\r\n");
    std::string_view line = rest.substr(kStat.size(), eol - kStat.size());
    rest.remove_prefix(eol + 2);
    size_t space = line.find(' ');
    std::string_view name = line.substr(0, space);
    std::string_view value = space == std::string_view::npos ? "" : line.substr(space + 1);
    BinaryResponseHeader h = Header(req);
    h.key_length = static_cast<uint16_t>(name.size());
    h.body_length = static_cast<uint32_t>(name.size() + value.size());
    proto::AppendBinaryHeader(out, h);
    out->append(name).append(value);
  }
  proto::AppendBinaryHeader(out, Header(req));
}

}  // namespace bale
