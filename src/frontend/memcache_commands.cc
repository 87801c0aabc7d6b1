#include "frontend/memcache_commands.h"

#include <algorithm>
#include <ctime>

#include "base/decimal.h"
#include "base/expiry.h"
#include "proto/memcache_parser.h"

namespace bale {

using proto::Command;
using proto::Request;

namespace {

void Line(std::string* out, std::string_view s) {
  out->append(s);
  out->append("\r\n");
}

void Reply(const Request& req, std::string* out, std::string_view s) {
  if (!req.noreply) Line(out, s);
}

void AppendValueLine(std::string* out, std::string_view key, const ObjectMeta& m, bool with_cas) {
  out->append("VALUE ");
  out->append(key);
  out->push_back(' ');
  AppendDecimal(out, m.flags);
  out->push_back(' ');
  AppendDecimal(out, m.size);
  if (with_cas) {
    out->push_back(' ');
    AppendDecimal(out, m.version);
  }
  out->append("\r\n");
}

// A large value found in a segment goes into the reply as a reference to its bytes in
// the segment file (sent with sendfile), so that the reply holds no copy of it; a
// plain get copies the value once, from the segment's mapping into the reply.
void AppendValue(std::string* out, std::vector<FileSend>* files, std::string_view key,
                 const ObjectView& obj, bool with_cas) {
  AppendValueLine(out, key, obj.meta, with_cas);
  if (files != nullptr && obj.fd >= 0 && obj.value.size() >= kSendfileBytes) {
    files->push_back(FileSend{out->size(), obj.hold, obj.fd, obj.value_offset, obj.value.size()});
  } else {
    out->append(obj.value);
  }
  out->append("\r\n");
}

MutationKind StorageKind(Command c) {
  switch (c) {
    case Command::kAdd:
      return MutationKind::kAdd;
    case Command::kReplace:
      return MutationKind::kReplace;
    case Command::kAppend:
      return MutationKind::kAppend;
    case Command::kPrepend:
      return MutationKind::kPrepend;
    case Command::kCas:
      return MutationKind::kCas;
    default:
      return MutationKind::kSet;
  }
}

}  // namespace

uint32_t MemcacheCommands::Now() const { return static_cast<uint32_t>(::time(nullptr)); }

void MemcacheCommands::ServerError(const Status& s, std::string* out, ThreadStats* st) {
  ThreadStats::Add(st->server_errors);
  if (s.IsNoSpace()) {
    Line(out, "SERVER_ERROR out of disk space");
  } else if (s.IsInvalidArgument() || s.IsUnavailable()) {  // the message says it all
    Line(out, "SERVER_ERROR " + std::string(s.message()));
  } else {
    Line(out, "SERVER_ERROR " + s.ToString());
  }
}

Outcome MemcacheCommands::Execute(const Request& req, std::string* out, ThreadStats* st,
                                  ObjectSession* session, std::vector<FileSend>* files,
                                  GetPart* part) {
  switch (req.command) {
    case Command::kGet:
    case Command::kGets:
    case Command::kGat:
    case Command::kGats:
      Retrieve(req, out, st, session, files, part);
      break;
    case Command::kSet:
    case Command::kAdd:
    case Command::kReplace:
    case Command::kAppend:
    case Command::kPrepend:
    case Command::kCas:
      Storage(req, out, st, session);
      break;
    case Command::kDelete:
      Delete(req, out, st, session);
      break;
    case Command::kIncr:
    case Command::kDecr:
      Arithmetic(req, out, st, session);
      break;
    case Command::kTouch:
      Touch(req, out, st, session);
      break;
    case Command::kFlushAll:
      FlushAll(req, out, st, session);
      break;
    case Command::kStats:
      Stats(req, out);
      break;
    case Command::kSlabs:
      Slabs(req, out);
      break;
    case Command::kVersion:
      out->append("VERSION ");
      Line(out, kVersion);
      break;
    case Command::kVerbosity:
    case Command::kCacheMemlimit:
      Reply(req, out, "OK");
      break;
    case Command::kQuit:
      return Outcome::kClose;
    case Command::kShutdown:
      Line(out, "ERROR: shutdown not enabled");
      break;
    case Command::kMetaGet:
      MetaGet(req, out, st, session);
      break;
    case Command::kMetaSet:
      MetaSet(req, out, st, session);
      break;
    case Command::kMetaDelete:
      MetaDelete(req, out, st, session);
      break;
    case Command::kMetaArithmetic:
      MetaArithmetic(req, out, st, session);
      break;
    case Command::kMetaNoop:
      Line(out, "MN");
      break;
    case Command::kMetaDebug:
      MetaDebug(req, out, session);
      break;
  }
  return Outcome::kContinue;
}

// The keys from part->from on, as many as the part takes (GetPart), or all of them.
void MemcacheCommands::Retrieve(const Request& req, std::string* out, ThreadStats* st,
                                ObjectSession* session, std::vector<FileSend>* files,
                                GetPart* part) {
  GetPart whole;
  if (part == nullptr) part = &whole;
  bool touch = req.command == Command::kGat || req.command == Command::kGats;
  bool with_cas = req.command == Command::kGets || req.command == Command::kGats;
  uint32_t expiry = touch ? ExpiryFromMemcached(req.exptime, Now()) : 0;
  LookupOptions options;
  if (touch) options.touch_expiry = &expiry;  // an expiry in the past: a miss
  thread_local ObjectView obj;
  const size_t part_start = out->size();
  std::string_view keys = req.keys.substr(std::min(part->from, req.keys.size())), key;
  // The store may fetch the part's keys together (all of them for a whole reply).
  std::string_view ahead = keys, hint;
  for (size_t n = 0; n < part->max_keys && proto::NextToken(&ahead, &key); n++) {
    hint = keys.substr(0, static_cast<size_t>(key.data() + key.size() - keys.data()));
  }
  if (hint.find(' ') != std::string_view::npos) store_->Prefetch(session, hint, options);
  for (size_t n = 0; n < part->max_keys && out->size() - part_start < part->max_bytes &&
                     proto::NextToken(&keys, &key);
       n++) {
    part->keys = n + 1;
    ThreadStats::Add(st->cmd_get);
    if (touch) ThreadStats::Add(st->cmd_touch);
    Status s = store_->Get(session, key, options, &obj);
    if (s.ok()) {
      ThreadStats::Add(st->get_hits);
      if (touch) ThreadStats::Add(st->touch_hits);
      AppendValue(out, files, key, obj, with_cas);
      obj.Release();
    } else if (s.IsUnavailable()) {
      // Not a miss: the key's partition cannot answer. The error ends the reply in place
      // of the part's values (all of them in a reply of one part), as memcached answers
      // a get that fails.
      out->resize(part_start);
      while (files != nullptr && !files->empty() && files->back().at >= part_start) {
        files->pop_back();
      }
      part->done = part->failed = true;
      return ServerError(s, out, st);
    } else {
      ThreadStats::Add(st->get_misses);
      if (touch) ThreadStats::Add(st->touch_misses);
      if (s.IsCorruption()) ThreadStats::Add(st->corrupt_reads);
    }
  }
  part->next = static_cast<size_t>(keys.data() - req.keys.data());
  std::string_view rest = keys;
  part->done = !proto::NextToken(&rest, &key);
  if (part->done && part->last) Line(out, "END");
}

void MemcacheCommands::Storage(const Request& req, std::string* out, ThreadStats* st,
                               ObjectSession* session) {
  ThreadStats::Add(st->cmd_set);
  Mutation m;
  m.key = req.key;
  if (req.too_large) {
    // memcached drops the old object too, so a reader never sees a stale value.
    m.kind = MutationKind::kDelete;
    bale::Mutate(store_, session, m, [](const MutationResult&) {});
    if (!req.noreply) Line(out, "SERVER_ERROR object too large for cache");
    return;
  }
  m.kind = StorageKind(req.command);
  m.value = req.data;
  m.flags = req.flags;
  m.expiry = ExpiryFromMemcached(req.exptime, Now());
  m.compare_version = req.cas;
  m.max_value_size = settings_->max_item_size;
  bool cas = req.command == Command::kCas;
  bale::Mutate(store_, session, m, [&](const MutationResult& r) {
    switch (r.status) {
      case MutationStatus::kOk:
        ThreadStats::Add(st->total_items);
        if (cas) ThreadStats::Add(st->cas_hits);
        return Reply(req, out, "STORED");
      case MutationStatus::kNotFound:  // cas only
        ThreadStats::Add(st->cas_misses);
        return Reply(req, out, "NOT_FOUND");
      case MutationStatus::kExists:  // cas only
        ThreadStats::Add(st->cas_badval);
        return Reply(req, out, "EXISTS");
      case MutationStatus::kNotStored:
      case MutationStatus::kTooLarge:  // append/prepend past the limit: memcached's answer
        return Reply(req, out, "NOT_STORED");
      default:
        if (!req.noreply) ServerError(r, out, st);
    }
  });
}

void MemcacheCommands::Delete(const Request& req, std::string* out, ThreadStats* st,
                              ObjectSession* session) {
  Mutation m;
  m.kind = MutationKind::kDelete;
  m.key = req.key;
  bale::Mutate(store_, session, m, [&](const MutationResult& r) {
    if (r.status == MutationStatus::kOk) {
      ThreadStats::Add(st->delete_hits);
      return Reply(req, out, "DELETED");
    }
    if (r.status == MutationStatus::kNotFound) {
      ThreadStats::Add(st->delete_misses);
      return Reply(req, out, "NOT_FOUND");
    }
    if (!req.noreply) ServerError(r, out, st);
  });
}

void MemcacheCommands::Arithmetic(const Request& req, std::string* out, ThreadStats* st,
                                  ObjectSession* session) {
  bool incr = req.command == Command::kIncr;
  Mutation m;
  m.kind = incr ? MutationKind::kIncr : MutationKind::kDecr;
  m.key = req.key;
  m.delta = req.delta;
  bale::Mutate(store_, session, m, [&](const MutationResult& r) {
    switch (r.status) {
      case MutationStatus::kOk:
        ThreadStats::Add(incr ? st->incr_hits : st->decr_hits);
        if (req.noreply) return;
        AppendDecimal(out, r.number);
        out->append("\r\n");
        return;
      case MutationStatus::kNotFound:
        ThreadStats::Add(incr ? st->incr_misses : st->decr_misses);
        return Reply(req, out, "NOT_FOUND");
      case MutationStatus::kNonNumeric:
        ThreadStats::Add(st->client_errors);
        return Reply(req, out, "CLIENT_ERROR cannot increment or decrement non-numeric value");
      default:
        if (!req.noreply) ServerError(r, out, st);
    }
  });
}

void MemcacheCommands::Touch(const Request& req, std::string* out, ThreadStats* st,
                             ObjectSession* session) {
  ThreadStats::Add(st->cmd_touch);
  Mutation m;
  m.kind = MutationKind::kTouch;
  m.key = req.key;
  m.expiry = ExpiryFromMemcached(req.exptime, Now());
  bale::Mutate(store_, session, m, [&](const MutationResult& r) {
    if (r.status == MutationStatus::kOk) {
      ThreadStats::Add(st->touch_hits);
      return Reply(req, out, "TOUCHED");
    }
    if (r.status == MutationStatus::kNotFound) {
      ThreadStats::Add(st->touch_misses);
      return Reply(req, out, "NOT_FOUND");
    }
    if (!req.noreply) ServerError(r, out, st);
  });
}

void MemcacheCommands::FlushAll(const Request& req, std::string* out, ThreadStats* st,
                                ObjectSession* session) {
  if (settings_->disable_flush_all) {
    return Line(out, "CLIENT_ERROR flush_all not allowed");
  }
  ThreadStats::Add(st->cmd_flush);
  uint32_t now = Now();
  uint32_t when = 0;
  if (req.has_number && req.number > 0) when = ExpiryFromMemcached(req.number, now);
  CallbackCompletion done([&](const MutationResult& r) {
    if (r.status != MutationStatus::kOk) {
      if (!req.noreply) ServerError(r, out, st);
      return;
    }
    Reply(req, out, "OK");
  });
  store_->FlushAll(when, session, &done);
}

}  // namespace bale
