// MemcacheCommands: the meta commands mg, ms, md, ma, me (mn is answered in Execute).
// Supported flags are listed per command; any other flag is answered
// "CLIENT_ERROR invalid flag" rather than silently ignored.
#include <charconv>
#include <ctime>

#include "frontend/memcache_commands.h"
#include "proto/memcache_parser.h"
#include "store/expiry.h"

namespace bale {

using proto::Request;

namespace {

constexpr size_t kMaxOpaque = 32;

struct MetaFlags {
  bool has[128] = {};
  std::string_view tok[128];
  char order[64];
  size_t n = 0;
};

// Parses the flag tokens in `args`; on failure returns the error line.
std::string_view ParseFlags(std::string_view args, std::string_view allowed, MetaFlags* f) {
  std::string_view rest = args, t;
  while (proto::NextToken(&rest, &t)) {
    unsigned char c = static_cast<unsigned char>(t[0]);
    if (c >= 128 || allowed.find(static_cast<char>(c)) == std::string_view::npos) {
      return "CLIENT_ERROR invalid flag";
    }
    if (f->has[c]) return "CLIENT_ERROR duplicate flag";
    if (f->n == sizeof(f->order)) return "CLIENT_ERROR options flags are too long";
    f->has[c] = true;
    f->tok[c] = t.substr(1);
    f->order[f->n++] = static_cast<char>(c);
  }
  if (f->has['O'] && f->tok['O'].size() > kMaxOpaque) {
    return "CLIENT_ERROR opaque token too long";
  }
  return {};
}

int DecodeBase64Char(char c) {
  if (c >= 'A' && c <= 'Z') return c - 'A';
  if (c >= 'a' && c <= 'z') return c - 'a' + 26;
  if (c >= '0' && c <= '9') return c - '0' + 52;
  if (c == '+') return 62;
  if (c == '/') return 63;
  return -1;
}

bool DecodeBase64(std::string_view in, std::string* out) {
  out->clear();
  if (in.size() % 4 != 0) return false;
  for (size_t i = 0; i < in.size(); i += 4) {
    int v[4];
    int pad = 0;
    for (int k = 0; k < 4; k++) {
      char c = in[i + k];
      if (c == '=' && i + 4 == in.size() && k >= 2) {
        v[k] = 0;
        pad++;
      } else if (pad > 0 || (v[k] = DecodeBase64Char(c)) < 0) {
        return false;
      }
    }
    uint32_t x = (v[0] << 18) | (v[1] << 12) | (v[2] << 6) | v[3];
    out->push_back(static_cast<char>(x >> 16));
    if (pad < 2) out->push_back(static_cast<char>((x >> 8) & 0xFF));
    if (pad < 1) out->push_back(static_cast<char>(x & 0xFF));
  }
  return !out->empty() && out->size() <= proto::kMaxKeyLength;
}

void AppendNum(std::string* out, int64_t v) {
  char buf[24];
  auto r = std::to_chars(buf, buf + sizeof(buf), v);
  out->append(buf, static_cast<size_t>(r.ptr - buf));
}

int64_t TtlLeft(uint32_t expiry, uint32_t now) {
  if (expiry == 0) return -1;
  return expiry > now ? int64_t{expiry} - now : 0;
}

// Appends the return flags the request asked for, in request order.
void ReturnFlags(const MetaFlags& f, const Request& req, const format::NeedleHeader* h, size_t size,
                 uint32_t now, std::string* out) {
  for (size_t i = 0; i < f.n; i++) {
    char c = f.order[i];
    switch (c) {
      case 'O':
        out->append(" O").append(f.tok['O']);
        break;
      case 'k':
        out->append(" k").append(req.key);
        break;
      case 'b':
        if (f.has['k']) out->append(" b");
        break;
      case 'c':
        if (h) {
          out->append(" c");
          AppendNum(out, static_cast<int64_t>(h->version));
        }
        break;
      case 'f':
        if (h) {
          out->append(" f");
          AppendNum(out, h->flags);
        }
        break;
      case 's':
        if (h) {
          out->append(" s");
          AppendNum(out, static_cast<int64_t>(size));
        }
        break;
      case 't':
        if (h) {
          out->append(" t");
          AppendNum(out, TtlLeft(h->expiry, now));
        }
        break;
      case 'h':
        if (h) out->append(" h0");
        break;
      case 'l':
        if (h) out->append(" l0");
        break;
      default:
        break;
    }
  }
}

bool ParseU32Token(std::string_view t, uint32_t* v) {
  auto r = std::from_chars(t.data(), t.data() + t.size(), *v);
  return !t.empty() && r.ec == std::errc() && r.ptr == t.data() + t.size();
}

bool ParseI64Token(std::string_view t, int64_t* v) {
  auto r = std::from_chars(t.data(), t.data() + t.size(), *v);
  return !t.empty() && r.ec == std::errc() && r.ptr == t.data() + t.size();
}

bool ParseU64Token(std::string_view t, uint64_t* v) {
  auto r = std::from_chars(t.data(), t.data() + t.size(), *v);
  return !t.empty() && r.ec == std::errc() && r.ptr == t.data() + t.size();
}

// Resolves the key (base64 with b) into *storage; false for a bad encoding.
bool LookupKey(const Request& req, const MetaFlags& f, std::string* storage,
               std::string_view* key) {
  if (!f.has['b']) {
    *key = req.key;
    return true;
  }
  if (!DecodeBase64(req.key, storage)) return false;
  *key = *storage;
  return true;
}

// Parses the flags (allowed: the flag letters the command takes) and resolves the key;
// on failure appends memcached's error and returns false.
bool Prepare(const Request& req, std::string_view allowed, MetaFlags* f, std::string* decoded,
             std::string_view* key, std::string* out) {
  if (auto e = ParseFlags(req.args, allowed, f); !e.empty()) {
    out->append(e).append("\r\n");
    return false;
  }
  if (!LookupKey(req, *f, decoded, key)) {
    out->append("CLIENT_ERROR error decoding key\r\n");
    return false;
  }
  return true;
}

void Status2(std::string* out, std::string_view code, const MetaFlags& f, const Request& req,
             const format::NeedleHeader* h, size_t size, uint32_t now) {
  out->append(code);
  ReturnFlags(f, req, h, size, now, out);
  out->append("\r\n");
}

}  // namespace

void MemcacheCommands::MetaGet(const Request& req, std::string* out, ThreadStats* st,
                               DirtyVolumes* dirty) {
  ThreadStats::Add(st->cmd_meta);
  MetaFlags f;
  std::string decoded;
  std::string_view key;
  if (!Prepare(req, "bcfhklOqstuvT", &f, &decoded, &key, out)) return;
  uint32_t now = Now();
  uint32_t ttl_expiry = 0;
  if (f.has['T']) {
    int64_t ttl;
    if (!ParseI64Token(f.tok['T'], &ttl)) {
      out->append("CLIENT_ERROR bad token in command line format\r\n");
      return;
    }
    ttl_expiry = ExpiryFromMemcached(ttl, now);
  }
  ThreadStats::Add(st->cmd_get);
  Volume* v = store_->VolumeFor(key);
  thread_local ReadResult r;
  Status s;
  if (f.has['T']) {
    ThreadStats::Add(st->cmd_touch);
    s = SetExpiry(v, key, ttl_expiry, dirty);
    if (s.ok()) s = v->Get(key, &r);
  } else {
    s = v->Get(key, &r);
  }
  if (s.IsUnavailable()) return ServerError(s, out, st);
  if (!s.ok()) {
    ThreadStats::Add(st->get_misses);
    if (s.IsCorruption()) ThreadStats::Add(st->corrupt_reads);
    if (!f.has['q']) out->append("EN\r\n");
    return;
  }
  ThreadStats::Add(st->get_hits);
  size_t size = r.value().size();
  if (f.has['v']) {
    out->append("VA ");
    AppendNum(out, static_cast<int64_t>(size));
    ReturnFlags(f, req, &r.header(), size, now, out);
    out->append("\r\n").append(r.value()).append("\r\n");
  } else {
    Status2(out, "HD", f, req, &r.header(), size, now);
  }
}

void MemcacheCommands::MetaSet(const Request& req, std::string* out, ThreadStats* st,
                               DirtyVolumes* dirty) {
  ThreadStats::Add(st->cmd_meta);
  ThreadStats::Add(st->cmd_set);
  MetaFlags f;
  std::string decoded;
  std::string_view key;
  if (!Prepare(req, "bcCFkOqTM", &f, &decoded, &key, out)) return;
  Volume* v = store_->VolumeFor(key);
  if (req.too_large) {
    (void)v->Delete(key);
    out->append("SERVER_ERROR object too large for cache\r\n");
    return;
  }
  uint32_t now = Now();
  uint32_t flags = 0;
  int64_t ttl = 0;
  uint64_t cas = 0;
  char mode = 'S';
  if ((f.has['F'] && !ParseU32Token(f.tok['F'], &flags)) ||
      (f.has['T'] && !ParseI64Token(f.tok['T'], &ttl)) ||
      (f.has['C'] && !ParseU64Token(f.tok['C'], &cas))) {
    out->append("CLIENT_ERROR bad token in command line format\r\n");
    return;
  }
  if (f.has['M']) {
    std::string_view m = f.tok['M'];
    if (m.size() != 1 || std::string_view("EAPRSeaprs").find(m[0]) == std::string_view::npos) {
      out->append("CLIENT_ERROR invalid mode for ms M token\r\n");
      return;
    }
    mode = static_cast<char>(std::toupper(static_cast<unsigned char>(m[0])));
  }
  uint32_t expiry = ExpiryFromMemcached(ttl, now);
  std::string joined;
  uint64_t version = 0;
  Status s = v->Update(
      key,
      [&](const ReadResult* cur, UpdateDecision* d) {
        d->flags = flags;
        d->expiry = expiry;
        d->value = req.data;
        if (f.has['C'] && (cur == nullptr || cur->header().version != cas)) {
          d->status = cur == nullptr ? Status::NotFound() : Status::Exists();
          return;
        }
        bool exists = cur != nullptr;
        if ((mode == 'E' && exists) || (mode != 'E' && mode != 'S' && !exists)) {
          d->status = Status::InvalidArgument("not stored");
          return;
        }
        if (mode == 'A' || mode == 'P') {
          joined = mode == 'A' ? std::string(cur->value()) + std::string(req.data)
                               : std::string(req.data) + std::string(cur->value());
          if (joined.size() > settings_->max_item_size) {
            d->status = Status::InvalidArgument("not stored");
            return;
          }
          d->value = joined;
          d->content_type = cur->content_type();
          d->flags = cur->header().flags;
          d->expiry = cur->header().expiry;
          d->cookie = cur->header().cookie;
        }
        d->action = UpdateDecision::Action::kPut;
      },
      &version, !Sync());
  if (s.ok()) {
    if (Sync()) dirty->Add(v);
    ThreadStats::Add(st->total_items);
    if (f.has['q']) return;
    format::NeedleHeader h;
    h.version = version;
    h.flags = flags;
    h.expiry = expiry;
    Status2(out, "HD", f, req, &h, req.data.size(), now);
    return;
  }
  if (s.IsNotFound()) return Status2(out, "NF", f, req, nullptr, 0, now);
  if (s.IsExists()) return Status2(out, "EX", f, req, nullptr, 0, now);
  if (s.IsInvalidArgument()) return Status2(out, "NS", f, req, nullptr, 0, now);
  ServerError(s, out, st);
}

void MemcacheCommands::MetaDelete(const Request& req, std::string* out, ThreadStats* st,
                                  DirtyVolumes* dirty) {
  ThreadStats::Add(st->cmd_meta);
  MetaFlags f;
  std::string decoded;
  std::string_view key;
  if (!Prepare(req, "bCkOq", &f, &decoded, &key, out)) return;
  uint64_t cas = 0;
  if (f.has['C'] && !ParseU64Token(f.tok['C'], &cas)) {
    out->append("CLIENT_ERROR bad token in command line format\r\n");
    return;
  }
  uint32_t now = Now();
  Volume* v = store_->VolumeFor(key);
  Status s = v->Update(
      key,
      [&](const ReadResult* cur, UpdateDecision* d) {
        if (cur == nullptr) {
          d->status = Status::NotFound();
        } else if (f.has['C'] && cur->header().version != cas) {
          d->status = Status::Exists();
        } else {
          d->action = UpdateDecision::Action::kDelete;
        }
      },
      nullptr, !Sync());
  if (s.ok()) {
    if (Sync()) dirty->Add(v);
    ThreadStats::Add(st->delete_hits);
    if (!f.has['q']) Status2(out, "HD", f, req, nullptr, 0, now);
    return;
  }
  if (s.IsNotFound()) {
    ThreadStats::Add(st->delete_misses);
    return Status2(out, "NF", f, req, nullptr, 0, now);
  }
  if (s.IsExists()) return Status2(out, "EX", f, req, nullptr, 0, now);
  ServerError(s, out, st);
}

void MemcacheCommands::MetaArithmetic(const Request& req, std::string* out, ThreadStats* st,
                                      DirtyVolumes* dirty) {
  ThreadStats::Add(st->cmd_meta);
  MetaFlags f;
  std::string decoded;
  std::string_view key;
  if (!Prepare(req, "bCNJDTMOqtcvk", &f, &decoded, &key, out)) return;
  uint64_t delta = 1, initial = 0, cas = 0;
  int64_t vivify_ttl = 0, ttl = 0;
  if (f.has['D'] && !ParseU64Token(f.tok['D'], &delta)) {
    out->append("CLIENT_ERROR invalid numeric delta argument\r\n");
    return;
  }
  if (f.has['J'] && !ParseU64Token(f.tok['J'], &initial)) {
    out->append("CLIENT_ERROR invalid numeric initial value\r\n");
    return;
  }
  if ((f.has['N'] && !ParseI64Token(f.tok['N'], &vivify_ttl)) ||
      (f.has['T'] && !ParseI64Token(f.tok['T'], &ttl)) ||
      (f.has['C'] && !ParseU64Token(f.tok['C'], &cas))) {
    out->append("CLIENT_ERROR bad token in command line format\r\n");
    return;
  }
  bool incr = true;
  if (f.has['M']) {
    std::string_view m = f.tok['M'];
    if (m == "I" || m == "i" || m == "+") {
      incr = true;
    } else if (m == "D" || m == "d" || m == "-") {
      incr = false;
    } else {
      out->append("CLIENT_ERROR invalid mode for ma M token\r\n");
      return;
    }
  }
  uint32_t now = Now();
  Volume* v = store_->VolumeFor(key);
  uint64_t result = 0, version = 0;
  uint32_t expiry = 0, flags = 0;
  char digits[24];
  Status s = v->Update(
      key,
      [&](const ReadResult* cur, UpdateDecision* d) {
        if (cur == nullptr) {
          if (!f.has['N']) {
            d->status = Status::NotFound();
            return;
          }
          result = initial;
          expiry = ExpiryFromMemcached(vivify_ttl, now);
        } else {
          uint64_t value;
          if (f.has['C'] && cur->header().version != cas) {
            d->status = Status::Exists();
            return;
          }
          if (!ParseCounter(cur->value(), &value)) {
            d->status = Status::InvalidArgument("non-numeric");
            return;
          }
          result = incr ? value + delta : (value < delta ? 0 : value - delta);
          expiry = f.has['T'] ? ExpiryFromMemcached(ttl, now) : cur->header().expiry;
          flags = cur->header().flags;
          d->cookie = cur->header().cookie;
          d->content_type = cur->content_type();
        }
        auto r = std::to_chars(digits, digits + sizeof(digits), result);
        d->action = UpdateDecision::Action::kPut;
        d->value = std::string_view(digits, static_cast<size_t>(r.ptr - digits));
        d->flags = flags;
        d->expiry = expiry;
      },
      &version, !Sync());
  if (s.ok()) {
    if (Sync()) dirty->Add(v);
    ThreadStats::Add(incr ? st->incr_hits : st->decr_hits);
    format::NeedleHeader h;
    h.version = version;
    h.flags = flags;
    h.expiry = expiry;
    std::string_view number(digits,
                            std::to_chars(digits, digits + sizeof(digits), result).ptr - digits);
    if (f.has['v']) {
      out->append("VA ");
      AppendNum(out, static_cast<int64_t>(number.size()));
      ReturnFlags(f, req, &h, number.size(), now, out);
      out->append("\r\n").append(number).append("\r\n");
    } else if (!f.has['q']) {
      Status2(out, "HD", f, req, &h, number.size(), now);
    }
    return;
  }
  if (s.IsNotFound()) {
    ThreadStats::Add(incr ? st->incr_misses : st->decr_misses);
    return Status2(out, "NF", f, req, nullptr, 0, now);
  }
  if (s.IsExists()) return Status2(out, "EX", f, req, nullptr, 0, now);
  if (s.IsInvalidArgument()) {
    out->append("CLIENT_ERROR cannot increment or decrement non-numeric value\r\n");
    return;
  }
  ServerError(s, out, st);
}

void MemcacheCommands::MetaDebug(const Request& req, std::string* out) {
  thread_local ReadResult r;
  Status s = store_->VolumeFor(req.key)->Get(req.key, &r);
  if (s.IsUnavailable()) {
    out->append("SERVER_ERROR ").append(s.message()).append("\r\n");
    return;
  }
  if (!s.ok()) {
    out->append("EN\r\n");
    return;
  }
  out->append("ME ").append(req.key).append(" exp=");
  AppendNum(out, TtlLeft(r.header().expiry, Now()));
  out->append(" la=0 cas=");
  AppendNum(out, static_cast<int64_t>(r.header().version));
  out->append(" fetch=no cls=1 size=");
  AppendNum(out, static_cast<int64_t>(r.value().size()));
  out->append("\r\n");
}

}  // namespace bale
