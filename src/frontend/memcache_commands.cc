#include "frontend/memcache_commands.h"

#include <sys/resource.h>
#include <unistd.h>

#include <charconv>
#include <ctime>

#include "proto/memcache_parser.h"
#include "store/expiry.h"

namespace bale {

using proto::Command;
using proto::Request;

namespace {

void AppendU64(std::string* out, uint64_t v) {
  char buf[24];
  auto r = std::to_chars(buf, buf + sizeof(buf), v);
  out->append(buf, static_cast<size_t>(r.ptr - buf));
}

void Line(std::string* out, std::string_view s) {
  out->append(s);
  out->append("\r\n");
}

void Reply(const Request& req, std::string* out, std::string_view s) {
  if (!req.noreply) Line(out, s);
}

void AppendValueLine(std::string* out, std::string_view key, const format::NeedleHeader& h,
                     size_t size, bool with_cas) {
  out->append("VALUE ");
  out->append(key);
  out->push_back(' ');
  AppendU64(out, h.flags);
  out->push_back(' ');
  AppendU64(out, size);
  if (with_cas) {
    out->push_back(' ');
    AppendU64(out, h.version);
  }
  out->append("\r\n");
}

void AppendValue(std::string* out, std::string_view key, const format::NeedleHeader& h,
                 std::string_view value, bool with_cas) {
  AppendValueLine(out, key, h, value.size(), with_cas);
  out->append(value);
  out->append("\r\n");
}

// A large value found in a segment goes into the reply as a reference to its bytes in
// the segment file (sent with sendfile), so that the reply holds no copy of it.
bool AppendValueByReference(std::string* out, std::vector<FileSend>* files, std::string_view key,
                            const ObjectRef& ref, bool with_cas) {
  if (files == nullptr || ref.segment == nullptr || ref.value.size() < kSendfileBytes) {
    return false;
  }
  int fd = ref.segment->descriptor();
  if (fd < 0) return false;
  AppendValueLine(out, key, ref.header, ref.value.size(), with_cas);
  files->push_back(FileSend{out->size(), ref.segment, fd, ref.value_offset, ref.value.size()});
  out->append("\r\n");
  return true;
}

// A plain get copies the value once, from the segment's mapping into the reply.
Status Lookup(Volume* v, std::string_view key, uint64_t hash, ObjectRef* ref, ReadResult* r) {
  return v->Locate(key, ref, r, &hash);
}

}  // namespace

Status DirtyVolumes::SyncAll(bale::Store* store) {
  Status s = store->SyncVolumes(list_);
  list_.clear();
  return s;
}

bool ParseCounter(std::string_view value, uint64_t* out) {
  while (!value.empty() && value.back() == ' ') value.remove_suffix(1);
  if (value.empty() || value.size() > 20) return false;
  auto r = std::from_chars(value.data(), value.data() + value.size(), *out);
  return r.ec == std::errc() && r.ptr == value.data() + value.size();
}

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
                                  DirtyVolumes* dirty, std::vector<FileSend>* files) {
  switch (req.command) {
    case Command::kGet:
    case Command::kGets:
    case Command::kGat:
    case Command::kGats:
      Retrieve(req, out, st, dirty, files);
      break;
    case Command::kSet:
    case Command::kAdd:
    case Command::kReplace:
    case Command::kAppend:
    case Command::kPrepend:
    case Command::kCas:
      Storage(req, out, st, dirty);
      break;
    case Command::kDelete:
      Delete(req, out, st, dirty);
      break;
    case Command::kIncr:
    case Command::kDecr:
      Arithmetic(req, out, st, dirty);
      break;
    case Command::kTouch:
      Touch(req, out, st, dirty);
      break;
    case Command::kFlushAll:
      FlushAll(req, out, st);
      break;
    case Command::kStats:
      Stats(req, out);
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
      MetaGet(req, out, st, dirty);
      break;
    case Command::kMetaSet:
      MetaSet(req, out, st, dirty);
      break;
    case Command::kMetaDelete:
      MetaDelete(req, out, st, dirty);
      break;
    case Command::kMetaArithmetic:
      MetaArithmetic(req, out, st, dirty);
      break;
    case Command::kMetaNoop:
      Line(out, "MN");
      break;
    case Command::kMetaDebug:
      MetaDebug(req, out);
      break;
  }
  return Outcome::kContinue;
}

void MemcacheCommands::Retrieve(const Request& req, std::string* out, ThreadStats* st,
                                DirtyVolumes* dirty, std::vector<FileSend>* files) {
  bool touch = req.command == Command::kGat || req.command == Command::kGats;
  bool with_cas = req.command == Command::kGets || req.command == Command::kGats;
  uint32_t expiry = touch ? ExpiryFromMemcached(req.exptime, Now()) : 0;
  thread_local ReadResult r;
  thread_local ObjectRef ref;
  const size_t reply_start = out->size();
  std::string_view keys = req.keys, key;
  while (proto::NextToken(&keys, &key)) {
    ThreadStats::Add(st->cmd_get);
    if (touch) ThreadStats::Add(st->cmd_touch);
    uint64_t hash;
    Volume* v = store_->VolumeFor(key, &hash);
    Status s;
    if (touch) {
      s = SetExpiry(v, key, expiry, dirty);
      if (s.ok()) s = Lookup(v, key, hash, &ref, &r);  // an expiry in the past: a miss
    } else {
      s = Lookup(v, key, hash, &ref, &r);
    }
    if (s.ok()) {
      ThreadStats::Add(st->get_hits);
      if (touch) ThreadStats::Add(st->touch_hits);
      if (!AppendValueByReference(out, files, key, ref, with_cas)) {
        AppendValue(out, key, ref.header, ref.value, with_cas);
      }
      ref.segment.reset();
    } else if (s.IsUnavailable()) {
      // Not a miss: the key's partition cannot answer. The reply is the error alone (the
      // values found so far are taken back), as memcached answers a get that fails.
      out->resize(reply_start);
      while (files != nullptr && !files->empty() && files->back().at >= reply_start) {
        files->pop_back();
      }
      return ServerError(s, out, st);
    } else {
      ThreadStats::Add(st->get_misses);
      if (touch) ThreadStats::Add(st->touch_misses);
      if (s.IsCorruption()) ThreadStats::Add(st->corrupt_reads);
    }
  }
  Line(out, "END");
}

void MemcacheCommands::Storage(const Request& req, std::string* out, ThreadStats* st,
                               DirtyVolumes* dirty) {
  ThreadStats::Add(st->cmd_set);
  Volume* v = store_->VolumeFor(req.key);
  if (req.too_large) {
    // memcached drops the old object too, so a reader never sees a stale value.
    (void)v->Delete(req.key);
    if (!req.noreply) Line(out, "SERVER_ERROR object too large for cache");
    return;
  }
  uint32_t now = Now();
  uint32_t expiry = ExpiryFromMemcached(req.exptime, now);
  Status s;
  if (req.command == Command::kSet) {
    WriteOp op;
    op.key = req.key;
    op.value = req.data;
    op.flags = req.flags;
    op.expiry = expiry;
    s = v->WriteNoWait(std::span<WriteOp>(&op, 1));
  } else {
    std::string joined;
    s = v->Update(
        req.key,
        [&](const ReadResult* cur, UpdateDecision* d) {
          d->action = UpdateDecision::Action::kPut;
          d->value = req.data;
          d->flags = req.flags;
          d->expiry = expiry;
          switch (req.command) {
            case Command::kAdd:
              if (cur != nullptr) d->action = UpdateDecision::Action::kAbort;
              d->status = Status::Exists();
              break;
            case Command::kReplace:
              if (cur == nullptr) d->action = UpdateDecision::Action::kAbort;
              d->status = Status::NotFound();
              break;
            case Command::kCas:
              if (cur == nullptr) {
                d->action = UpdateDecision::Action::kAbort;
                d->status = Status::NotFound();
              } else if (cur->header().version != req.cas) {
                d->action = UpdateDecision::Action::kAbort;
                d->status = Status::Exists();
              }
              break;
            default:  // append, prepend: keep flags, expiry, cookie and content type
              if (cur == nullptr) {
                d->action = UpdateDecision::Action::kAbort;
                d->status = Status::NotFound();
                break;
              }
              if (cur->value().size() + req.data.size() > settings_->max_item_size) {
                d->action = UpdateDecision::Action::kAbort;
                d->status = Status::InvalidArgument("object too large for cache");
                break;
              }
              joined = req.command == Command::kAppend
                           ? std::string(cur->value()) + std::string(req.data)
                           : std::string(req.data) + std::string(cur->value());
              d->value = joined;
              d->content_type = cur->content_type();
              d->flags = cur->header().flags;
              d->expiry = cur->header().expiry;
              d->cookie = cur->header().cookie;
          }
        },
        nullptr, /*wait=*/!Sync());
  }
  if (s.ok()) {
    if (Sync()) dirty->Add(v);
    ThreadStats::Add(st->total_items);
    if (req.command == Command::kCas) ThreadStats::Add(st->cas_hits);
    Reply(req, out, "STORED");
    return;
  }
  if (req.command == Command::kCas) {
    if (s.IsNotFound()) {
      ThreadStats::Add(st->cas_misses);
      return Reply(req, out, "NOT_FOUND");
    }
    if (s.IsExists()) {
      ThreadStats::Add(st->cas_badval);
      return Reply(req, out, "EXISTS");
    }
  } else if (s.IsNotFound() || s.IsExists()) {
    return Reply(req, out, "NOT_STORED");
  }
  if (!req.noreply) ServerError(s, out, st);
}

void MemcacheCommands::Delete(const Request& req, std::string* out, ThreadStats* st,
                              DirtyVolumes* dirty) {
  Volume* v = store_->VolumeFor(req.key);
  WriteOp op;
  op.key = req.key;
  op.tombstone = true;
  Status s = v->WriteNoWait(std::span<WriteOp>(&op, 1));
  if (s.ok()) s = op.status;
  if (s.ok()) {
    if (Sync()) dirty->Add(v);
    ThreadStats::Add(st->delete_hits);
    return Reply(req, out, "DELETED");
  }
  if (s.IsNotFound()) {
    ThreadStats::Add(st->delete_misses);
    return Reply(req, out, "NOT_FOUND");
  }
  if (!req.noreply) ServerError(s, out, st);
}

void MemcacheCommands::Arithmetic(const Request& req, std::string* out, ThreadStats* st,
                                  DirtyVolumes* dirty) {
  bool incr = req.command == Command::kIncr;
  Volume* v = store_->VolumeFor(req.key);
  uint64_t result = 0;
  char digits[24];
  Status s = v->Update(
      req.key,
      [&](const ReadResult* cur, UpdateDecision* d) {
        uint64_t value;
        if (cur == nullptr) {
          d->status = Status::NotFound();
        } else if (!ParseCounter(cur->value(), &value)) {
          d->status = Status::InvalidArgument("non-numeric");
        } else {
          result = incr ? value + req.delta : (value < req.delta ? 0 : value - req.delta);
          auto r = std::to_chars(digits, digits + sizeof(digits), result);
          d->action = UpdateDecision::Action::kPut;
          d->value = std::string_view(digits, static_cast<size_t>(r.ptr - digits));
          d->content_type = cur->content_type();
          d->flags = cur->header().flags;
          d->expiry = cur->header().expiry;
          d->cookie = cur->header().cookie;
        }
      },
      nullptr, /*wait=*/!Sync());
  auto& hits = incr ? st->incr_hits : st->decr_hits;
  auto& misses = incr ? st->incr_misses : st->decr_misses;
  if (s.ok()) {
    if (Sync()) dirty->Add(v);
    ThreadStats::Add(hits);
    if (req.noreply) return;
    AppendU64(out, result);
    out->append("\r\n");
    return;
  }
  if (s.IsNotFound()) {
    ThreadStats::Add(misses);
    return Reply(req, out, "NOT_FOUND");
  }
  if (s.IsInvalidArgument()) {
    ThreadStats::Add(st->client_errors);
    return Reply(req, out, "CLIENT_ERROR cannot increment or decrement non-numeric value");
  }
  if (!req.noreply) ServerError(s, out, st);
}

Status MemcacheCommands::SetExpiry(Volume* v, std::string_view key, uint32_t expiry,
                                   DirtyVolumes* dirty) {
  Status s = v->Touch(key, expiry, /*wait=*/!Sync());
  if (s.ok() && Sync()) dirty->Add(v);
  return s;
}

void MemcacheCommands::Touch(const Request& req, std::string* out, ThreadStats* st,
                             DirtyVolumes* dirty) {
  ThreadStats::Add(st->cmd_touch);
  uint32_t expiry = ExpiryFromMemcached(req.exptime, Now());
  Volume* v = store_->VolumeFor(req.key);
  Status s = SetExpiry(v, req.key, expiry, dirty);
  if (s.ok()) {
    ThreadStats::Add(st->touch_hits);
    return Reply(req, out, "TOUCHED");
  }
  if (s.IsNotFound()) {
    ThreadStats::Add(st->touch_misses);
    return Reply(req, out, "NOT_FOUND");
  }
  if (!req.noreply) ServerError(s, out, st);
}

void MemcacheCommands::FlushAll(const Request& req, std::string* out, ThreadStats* st) {
  if (settings_->disable_flush_all) {
    return Line(out, "CLIENT_ERROR flush_all not allowed");
  }
  ThreadStats::Add(st->cmd_flush);
  uint32_t now = Now();
  uint32_t when = 0;
  if (req.has_number && req.number > 0) when = ExpiryFromMemcached(req.number, now);
  Status s = store_->FlushAll(when);
  if (!s.ok()) {
    if (!req.noreply) ServerError(s, out, st);
    return;
  }
  Reply(req, out, "OK");
}

}  // namespace bale
