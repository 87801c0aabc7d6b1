// MemcacheCommands: the meta commands mg, ms, md, ma, me (mn is answered in Execute).
// Supported flags are listed per command; any other flag is answered
// "CLIENT_ERROR invalid flag" rather than silently ignored.
#include <cctype>
#include <ctime>

#include "base/decimal.h"
#include "base/expiry.h"
#include "frontend/memcache_commands.h"
#include "proto/memcache_parser.h"

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

void AppendNum(std::string* out, int64_t v) { AppendDecimal(out, v); }

int64_t TtlLeft(uint32_t expiry, uint32_t now) {
  if (expiry == 0) return -1;
  return expiry > now ? int64_t{expiry} - now : 0;
}

// Appends the return flags the request asked for, in request order.
void ReturnFlags(const MetaFlags& f, const Request& req, const ObjectMeta* h, size_t size,
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
             const ObjectMeta* h, size_t size, uint32_t now) {
  out->append(code);
  ReturnFlags(f, req, h, size, now, out);
  out->append("\r\n");
}

}  // namespace

void MemcacheCommands::MetaGet(const Request& req, std::string* out, ThreadStats* st,
                               ObjectSession* session) {
  ThreadStats::Add(st->cmd_meta);
  MetaFlags f;
  std::string decoded;
  std::string_view key;
  if (!Prepare(req, "bcfhklOqstuvT", &f, &decoded, &key, out)) return;
  uint32_t now = Now();
  uint32_t ttl_expiry = 0;
  LookupOptions options;
  if (f.has['T']) {
    int64_t ttl;
    if (!ParseDecimal(f.tok['T'], &ttl)) {
      out->append("CLIENT_ERROR bad token in command line format\r\n");
      return;
    }
    ttl_expiry = ExpiryFromMemcached(ttl, now);
    options.touch_expiry = &ttl_expiry;
  }
  ThreadStats::Add(st->cmd_get);
  if (f.has['T']) ThreadStats::Add(st->cmd_touch);
  thread_local ObjectView obj;
  Status s = store_->Get(session, key, options, &obj);
  if (s.IsUnavailable()) return ServerError(s, out, st);
  if (!s.ok()) {
    ThreadStats::Add(st->get_misses);
    if (s.IsCorruption()) ThreadStats::Add(st->corrupt_reads);
    if (!f.has['q']) out->append("EN\r\n");
    return;
  }
  ThreadStats::Add(st->get_hits);
  size_t size = obj.value.size();
  if (f.has['v']) {
    out->append("VA ");
    AppendNum(out, static_cast<int64_t>(size));
    ReturnFlags(f, req, &obj.meta, size, now, out);
    out->append("\r\n").append(obj.value).append("\r\n");
  } else {
    Status2(out, "HD", f, req, &obj.meta, size, now);
  }
  obj.Release();
}

void MemcacheCommands::MetaSet(const Request& req, std::string* out, ThreadStats* st,
                               ObjectSession* session) {
  ThreadStats::Add(st->cmd_meta);
  ThreadStats::Add(st->cmd_set);
  MetaFlags f;
  std::string decoded;
  std::string_view key;
  if (!Prepare(req, "bcCFkOqTM", &f, &decoded, &key, out)) return;
  Mutation m;
  m.key = key;
  if (req.too_large) {
    m.kind = MutationKind::kDelete;
    bale::Mutate(store_, session, m, [](const MutationResult&) {});
    out->append("SERVER_ERROR object too large for cache\r\n");
    return;
  }
  uint32_t now = Now();
  int64_t ttl = 0;
  if ((f.has['F'] && !ParseDecimal(f.tok['F'], &m.flags)) ||
      (f.has['T'] && !ParseDecimal(f.tok['T'], &ttl)) ||
      (f.has['C'] && !ParseDecimal(f.tok['C'], &m.compare_version))) {
    out->append("CLIENT_ERROR bad token in command line format\r\n");
    return;
  }
  m.has_compare = f.has['C'];
  if (f.has['M']) {
    std::string_view mode = f.tok['M'];
    if (mode.size() != 1 ||
        std::string_view("EAPRSeaprs").find(mode[0]) == std::string_view::npos) {
      out->append("CLIENT_ERROR invalid mode for ms M token\r\n");
      return;
    }
    switch (std::toupper(static_cast<unsigned char>(mode[0]))) {
      case 'E':
        m.kind = MutationKind::kAdd;
        break;
      case 'A':
        m.kind = MutationKind::kAppend;
        break;
      case 'P':
        m.kind = MutationKind::kPrepend;
        break;
      case 'R':
        m.kind = MutationKind::kReplace;
        break;
    }
  }
  m.expiry = ExpiryFromMemcached(ttl, now);
  m.value = req.data;
  m.max_value_size = settings_->max_item_size;
  bale::Mutate(store_, session, m, [&](const MutationResult& r) {
    switch (r.status) {
      case MutationStatus::kOk: {
        ThreadStats::Add(st->total_items);
        if (f.has['q']) return;
        ObjectMeta meta{r.meta.version, 0, m.flags, m.expiry, 0, req.data.size()};
        return Status2(out, "HD", f, req, &meta, req.data.size(), now);
      }
      case MutationStatus::kNotFound:
        return Status2(out, "NF", f, req, nullptr, 0, now);
      case MutationStatus::kExists:
        return Status2(out, "EX", f, req, nullptr, 0, now);
      case MutationStatus::kNotStored:
      case MutationStatus::kTooLarge:
        return Status2(out, "NS", f, req, nullptr, 0, now);
      default:
        ServerError(r, out, st);
    }
  });
}

void MemcacheCommands::MetaDelete(const Request& req, std::string* out, ThreadStats* st,
                                  ObjectSession* session) {
  ThreadStats::Add(st->cmd_meta);
  MetaFlags f;
  std::string decoded;
  std::string_view key;
  if (!Prepare(req, "bCkOq", &f, &decoded, &key, out)) return;
  Mutation m;
  m.kind = MutationKind::kDelete;
  m.key = key;
  if (f.has['C'] && !ParseDecimal(f.tok['C'], &m.compare_version)) {
    out->append("CLIENT_ERROR bad token in command line format\r\n");
    return;
  }
  m.has_compare = f.has['C'];
  uint32_t now = Now();
  bale::Mutate(store_, session, m, [&](const MutationResult& r) {
    switch (r.status) {
      case MutationStatus::kOk:
        ThreadStats::Add(st->delete_hits);
        if (!f.has['q']) Status2(out, "HD", f, req, nullptr, 0, now);
        return;
      case MutationStatus::kNotFound:
        ThreadStats::Add(st->delete_misses);
        return Status2(out, "NF", f, req, nullptr, 0, now);
      case MutationStatus::kExists:
        return Status2(out, "EX", f, req, nullptr, 0, now);
      default:
        ServerError(r, out, st);
    }
  });
}

void MemcacheCommands::MetaArithmetic(const Request& req, std::string* out, ThreadStats* st,
                                      ObjectSession* session) {
  ThreadStats::Add(st->cmd_meta);
  MetaFlags f;
  std::string decoded;
  std::string_view key;
  if (!Prepare(req, "bCNJDTMOqtcvk", &f, &decoded, &key, out)) return;
  Mutation m;
  m.kind = MutationKind::kIncr;
  m.key = key;
  m.delta = 1;
  int64_t vivify_ttl = 0, ttl = 0;
  if (f.has['D'] && !ParseDecimal(f.tok['D'], &m.delta)) {
    out->append("CLIENT_ERROR invalid numeric delta argument\r\n");
    return;
  }
  if (f.has['J'] && !ParseDecimal(f.tok['J'], &m.initial)) {
    out->append("CLIENT_ERROR invalid numeric initial value\r\n");
    return;
  }
  if ((f.has['N'] && !ParseDecimal(f.tok['N'], &vivify_ttl)) ||
      (f.has['T'] && !ParseDecimal(f.tok['T'], &ttl)) ||
      (f.has['C'] && !ParseDecimal(f.tok['C'], &m.compare_version))) {
    out->append("CLIENT_ERROR bad token in command line format\r\n");
    return;
  }
  if (f.has['M']) {
    std::string_view mode = f.tok['M'];
    if (mode == "D" || mode == "d" || mode == "-") {
      m.kind = MutationKind::kDecr;
    } else if (mode != "I" && mode != "i" && mode != "+") {
      out->append("CLIENT_ERROR invalid mode for ma M token\r\n");
      return;
    }
  }
  uint32_t now = Now();
  m.has_compare = f.has['C'];
  m.vivify = f.has['N'];
  m.vivify_expiry = ExpiryFromMemcached(vivify_ttl, now);
  m.set_expiry = f.has['T'];
  m.expiry = ExpiryFromMemcached(ttl, now);
  bool incr = m.kind == MutationKind::kIncr;
  bale::Mutate(store_, session, m, [&](const MutationResult& r) {
    switch (r.status) {
      case MutationStatus::kOk: {
        ThreadStats::Add(incr ? st->incr_hits : st->decr_hits);
        std::string number;
        AppendDecimal(&number, r.number);
        if (f.has['v']) {
          out->append("VA ");
          AppendNum(out, static_cast<int64_t>(number.size()));
          ReturnFlags(f, req, &r.meta, number.size(), now, out);
          out->append("\r\n").append(number).append("\r\n");
        } else if (!f.has['q']) {
          Status2(out, "HD", f, req, &r.meta, number.size(), now);
        }
        return;
      }
      case MutationStatus::kNotFound:
        ThreadStats::Add(incr ? st->incr_misses : st->decr_misses);
        return Status2(out, "NF", f, req, nullptr, 0, now);
      case MutationStatus::kExists:
        return Status2(out, "EX", f, req, nullptr, 0, now);
      case MutationStatus::kNonNumeric:
        out->append("CLIENT_ERROR cannot increment or decrement non-numeric value\r\n");
        return;
      default:
        ServerError(r, out, st);
    }
  });
}

void MemcacheCommands::MetaDebug(const Request& req, std::string* out, ObjectSession* session) {
  thread_local ObjectView obj;
  Status s = store_->Get(session, req.key, LookupOptions(), &obj);
  if (s.IsUnavailable()) {
    out->append("SERVER_ERROR ").append(s.message()).append("\r\n");
    return;
  }
  if (!s.ok()) {
    out->append("EN\r\n");
    return;
  }
  out->append("ME ").append(req.key).append(" exp=");
  AppendNum(out, TtlLeft(obj.meta.expiry, Now()));
  out->append(" la=0 cas=");
  AppendNum(out, static_cast<int64_t>(obj.meta.version));
  out->append(" fetch=no cls=1 size=");
  AppendNum(out, static_cast<int64_t>(obj.value.size()));
  out->append("\r\n");
  obj.Release();
}

}  // namespace bale
