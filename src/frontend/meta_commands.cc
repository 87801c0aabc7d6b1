// MemcacheCommands: the meta commands mg, ms, md, ma, me (mn is answered in Execute).
// Every command accepts the flags memcached 1.6.18 accepts (kAccepted: flags without a
// meaning for a command are ignored, as there), plus E (explicit CAS) and md's x, which
// later memcached releases added; any other flag (S included, as in 1.6.18) is answered
// "CLIENT_ERROR invalid flag" (md, ma: "invalid or duplicate flag"). Each command returns
// the flags memcached returns for it (kShown*), then Z, X and W (mg).
#include <cctype>
#include <charconv>
#include <ctime>

#include "base/decimal.h"
#include "base/expiry.h"
#include "frontend/memcache_commands.h"
#include "proto/memcache_parser.h"

namespace bale {

using proto::Request;

namespace {

constexpr size_t kMaxOpaque = 32;
constexpr std::string_view kAccepted = "bcfhklqstuvCDFIJLMNOPRTE";
constexpr std::string_view kAcceptedMd = "bcfhklqstuvCDFIJLMNOPRTEx";
// The flags each command echoes in its reply (memcached 1.6.18).
constexpr std::string_view kShownMg = "Okbcfsthl", kShownMs = "Okbc", kShownMd = "Okb",
                           kShownMa = "Okbct";

struct MetaFlags {
  bool has[128] = {};
  std::string_view tok[128];
  char order[64];
  size_t n = 0;
};

// Parses the flag tokens in `args`; on failure returns the error line. `combined`: md
// and ma's single message for an invalid or a duplicate flag.
std::string_view ParseFlags(std::string_view args, std::string_view allowed, bool combined,
                            MetaFlags* f) {
  std::string_view rest = args, t;
  while (proto::NextToken(&rest, &t)) {
    unsigned char c = static_cast<unsigned char>(t[0]);
    if (c >= 128 || allowed.find(static_cast<char>(c)) == std::string_view::npos) {
      return combined ? "CLIENT_ERROR invalid or duplicate flag" : "CLIENT_ERROR invalid flag";
    }
    if (f->has[c]) {
      return combined ? "CLIENT_ERROR invalid or duplicate flag" : "CLIENT_ERROR duplicate flag";
    }
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

// A TTL token (T, N, R) as memcached 1.6.18 reads it: a decimal that fits 64 bits, taken
// as a 32-bit signed number, so 2^31..2^32-1 are negative (already expired) and 2^32 is
// 0 (never expires).
bool ParseMetaTtl(std::string_view tok, int64_t* ttl) {
  int64_t v;
  if (!ParseDecimal(tok, &v)) return false;
  *ttl = static_cast<int32_t>(static_cast<uint32_t>(static_cast<uint64_t>(v)));
  return true;
}

// Sets *expiry from TTL flag `c` when the request has it; false for a bad token.
bool TtlFlag(const MetaFlags& f, char c, uint32_t now, uint32_t* expiry) {
  if (!f.has[static_cast<unsigned char>(c)]) return true;
  int64_t ttl;
  if (!ParseMetaTtl(f.tok[static_cast<unsigned char>(c)], &ttl)) return false;
  *expiry = ExpiryFromMemcached(ttl, now);
  return true;
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

// Appends the return flags the request asked for that `shown` lists, in request order.
void ReturnFlags(const MetaFlags& f, std::string_view shown, const Request& req,
                 const ObjectMeta* h, size_t size, uint32_t now, std::string* out) {
  for (size_t i = 0; i < f.n; i++) {
    char c = f.order[i];
    if (shown.find(c) == std::string_view::npos) continue;
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
        if (h) out->append(h->fetched ? " h1" : " h0");
        break;
      case 'l':
        if (h) {
          out->append(" l");
          AppendNum(out, h->idle_s);
        }
        break;
      default:
        break;
    }
  }
}

// mg's result flags, after the requested ones (memcached's order).
void ResultFlags(const ObjectMeta& h, std::string* out) {
  if (h.token_sent) out->append(" Z");
  if (h.stale) out->append(" X");
  if (h.won) out->append(" W");
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
bool Prepare(const Request& req, std::string_view allowed, bool combined, MetaFlags* f,
             std::string* decoded, std::string_view* key, std::string* out) {
  if (auto e = ParseFlags(req.args, allowed, combined, f); !e.empty()) {
    out->append(e).append("\r\n");
    return false;
  }
  if (!LookupKey(req, *f, decoded, key)) {  // md, ma: their one message, as 1.6.18
    out->append(combined ? "CLIENT_ERROR invalid or duplicate flag\r\n"
                         : "CLIENT_ERROR error decoding key\r\n");
    return false;
  }
  return true;
}

void Status2(std::string* out, std::string_view code, const MetaFlags& f, std::string_view shown,
             const Request& req, const ObjectMeta* h, size_t size, uint32_t now) {
  out->append(code);
  ReturnFlags(f, shown, req, h, size, now, out);
  out->append("\r\n");
}

void BadToken(std::string* out) {
  out->append("CLIENT_ERROR bad token in command line format\r\n");
}

void InvalidVersion(std::string* out) {
  out->append("CLIENT_ERROR explicit CAS not above the partition's versions\r\n");
}

}  // namespace

void MemcacheCommands::MetaGet(const Request& req, std::string* out, ThreadStats* st,
                               ObjectSession* session) {
  ThreadStats::Add(st->cmd_meta);
  MetaFlags f;
  std::string decoded;
  std::string_view key;
  if (!Prepare(req, kAccepted, false, &f, &decoded, &key, out)) return;
  uint32_t now = Now();
  uint32_t ttl_expiry = 0, vivify_expiry = 0, recache_before = 0;
  LookupOptions options;
  if (!TtlFlag(f, 'T', now, &ttl_expiry) || !TtlFlag(f, 'N', now, &vivify_expiry) ||
      !TtlFlag(f, 'R', now, &recache_before) ||
      (f.has['E'] && !ParseDecimal(f.tok['E'], &options.vivify_version))) {
    return BadToken(out);
  }
  if (f.has['T']) options.touch_expiry = &ttl_expiry;
  if (f.has['N']) options.vivify_expiry = &vivify_expiry;
  if (f.has['R']) options.recache_before = &recache_before;
  options.meta = true;
  options.no_bump = f.has['u'];
  ThreadStats::Add(st->cmd_get);
  if (f.has['T']) ThreadStats::Add(st->cmd_touch);
  thread_local ObjectView obj;
  Status s = store_->Get(session, key, options, &obj);
  if (s.IsUnavailable()) return ServerError(s, out, st);
  if (!s.ok()) {
    ThreadStats::Add(st->get_misses);
    if (s.IsCorruption()) ThreadStats::Add(st->corrupt_reads);
    if (!f.has['q']) Status2(out, "EN", f, kShownMg, req, nullptr, 0, now);
    return;
  }
  ThreadStats::Add(st->get_hits);
  size_t size = obj.value.size();
  if (f.has['v']) {
    out->append("VA ");
    AppendNum(out, static_cast<int64_t>(size));
  } else {
    out->append("HD");
  }
  ReturnFlags(f, kShownMg, req, &obj.meta, size, now, out);
  ResultFlags(obj.meta, out);
  out->append("\r\n");
  if (f.has['v']) out->append(obj.value).append("\r\n");
  obj.Release();
}

// ms's M token into m->kind; false for a bad mode.
static bool MetaSetMode(std::string_view mode, Mutation* m) {
  static constexpr std::string_view kModes = "SEAPR";
  static constexpr MutationKind kKinds[] = {MutationKind::kSet, MutationKind::kAdd,
                                            MutationKind::kAppend, MutationKind::kPrepend,
                                            MutationKind::kReplace};
  if (mode.size() != 1) return false;
  size_t i = kModes.find(static_cast<char>(std::toupper(static_cast<unsigned char>(mode[0]))));
  if (i == std::string_view::npos) return false;
  m->kind = kKinds[i];
  return true;
}

void MemcacheCommands::MetaSet(const Request& req, std::string* out, ThreadStats* st,
                               ObjectSession* session) {
  ThreadStats::Add(st->cmd_meta);
  ThreadStats::Add(st->cmd_set);
  MetaFlags f;
  std::string decoded;
  std::string_view key;
  if (!Prepare(req, kAccepted, false, &f, &decoded, &key, out)) return;
  Mutation m;
  m.key = key;
  if (req.too_large) {
    m.kind = MutationKind::kDelete;
    bale::Mutate(store_, session, m, [](const MutationResult&) {});
    out->append("SERVER_ERROR object too large for cache\r\n");
    return;
  }
  uint32_t now = Now();
  if ((f.has['F'] && !ParseDecimal(f.tok['F'], &m.flags)) || !TtlFlag(f, 'T', now, &m.expiry) ||
      (f.has['C'] && !ParseDecimal(f.tok['C'], &m.compare_version)) ||
      (f.has['E'] && !ParseDecimal(f.tok['E'], &m.explicit_version))) {
    return BadToken(out);
  }
  m.has_compare = f.has['C'];
  m.invalidate = f.has['I'];
  if (f.has['M'] && !MetaSetMode(f.tok['M'], &m)) {
    out->append("CLIENT_ERROR invalid mode for ms M token\r\n");
    return;
  }
  m.value = req.data;
  m.max_value_size = settings_->max_item_size;
  static constexpr ObjectMeta kNone{};  // failures show c0, as memcached's
  bale::Mutate(store_, session, m, [&](const MutationResult& r) {
    switch (r.status) {
      case MutationStatus::kOk: {
        ThreadStats::Add(st->total_items);
        if (f.has['q']) return;
        return Status2(out, "HD", f, kShownMs, req, &r.meta, req.data.size(), now);
      }
      case MutationStatus::kNotFound:
        return Status2(out, "NF", f, kShownMs, req, &kNone, 0, now);
      case MutationStatus::kExists:
        return Status2(out, "EX", f, kShownMs, req, &kNone, 0, now);
      case MutationStatus::kNotStored:
      case MutationStatus::kTooLarge:
        return Status2(out, "NS", f, kShownMs, req, &kNone, 0, now);
      case MutationStatus::kInvalid:
        return InvalidVersion(out);
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
  if (!Prepare(req, kAcceptedMd, true, &f, &decoded, &key, out)) return;
  Mutation m;
  m.kind = MutationKind::kDelete;
  m.key = key;
  uint32_t now = Now();
  if ((f.has['C'] && !ParseDecimal(f.tok['C'], &m.compare_version)) ||
      (f.has['E'] && !ParseDecimal(f.tok['E'], &m.explicit_version)) ||
      !TtlFlag(f, 'T', now, &m.expiry)) {
    return BadToken(out);
  }
  m.has_compare = f.has['C'];
  m.invalidate = f.has['I'];
  m.remove_value = f.has['x'];
  m.set_expiry = f.has['T'] && f.has['I'];  // T only with I, as memcached
  bale::Mutate(store_, session, m, [&](const MutationResult& r) {
    switch (r.status) {
      case MutationStatus::kOk:
        ThreadStats::Add(st->delete_hits);
        if (!f.has['q']) Status2(out, "HD", f, kShownMd, req, nullptr, 0, now);
        return;
      case MutationStatus::kNotFound:
        ThreadStats::Add(st->delete_misses);
        return Status2(out, "NF", f, kShownMd, req, nullptr, 0, now);
      case MutationStatus::kExists:
        return Status2(out, "EX", f, kShownMd, req, nullptr, 0, now);
      case MutationStatus::kInvalid:
        return InvalidVersion(out);
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
  if (!Prepare(req, kAccepted, true, &f, &decoded, &key, out)) return;
  Mutation m;
  m.kind = MutationKind::kIncr;
  m.key = key;
  m.delta = 1;
  if (f.has['D'] && !ParseDecimal(f.tok['D'], &m.delta)) {
    out->append("CLIENT_ERROR invalid numeric delta argument\r\n");
    return;
  }
  if (f.has['J'] && !ParseDecimal(f.tok['J'], &m.initial)) {
    out->append("CLIENT_ERROR invalid numeric initial value\r\n");
    return;
  }
  uint32_t now = Now();
  if (!TtlFlag(f, 'N', now, &m.vivify_expiry) || !TtlFlag(f, 'T', now, &m.expiry) ||
      (f.has['C'] && !ParseDecimal(f.tok['C'], &m.compare_version)) ||
      (f.has['E'] && !ParseDecimal(f.tok['E'], &m.explicit_version))) {
    return BadToken(out);
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
  m.has_compare = f.has['C'];
  m.vivify = f.has['N'];
  m.set_expiry = f.has['T'];
  bool incr = m.kind == MutationKind::kIncr;
  bale::Mutate(store_, session, m, [&](const MutationResult& r) {
    switch (r.status) {
      case MutationStatus::kOk: {
        ThreadStats::Add(incr ? st->incr_hits : st->decr_hits);
        char digits[24];
        auto end = std::to_chars(digits, digits + sizeof(digits), r.number).ptr;
        std::string_view number(digits, static_cast<size_t>(end - digits));
        if (f.has['v']) {
          out->append("VA ");
          AppendNum(out, static_cast<int64_t>(number.size()));
          ReturnFlags(f, kShownMa, req, &r.meta, number.size(), now, out);
          out->append("\r\n").append(number).append("\r\n");
        } else if (!f.has['q']) {
          Status2(out, "HD", f, kShownMa, req, &r.meta, number.size(), now);
        }
        return;
      }
      case MutationStatus::kNotFound:
        ThreadStats::Add(incr ? st->incr_misses : st->decr_misses);
        return Status2(out, "NF", f, kShownMa, req, nullptr, 0, now);
      case MutationStatus::kExists:
        return Status2(out, "EX", f, kShownMa, req, nullptr, 0, now);
      case MutationStatus::kNonNumeric:
        out->append("CLIENT_ERROR cannot increment or decrement non-numeric value\r\n");
        return;
      case MutationStatus::kInvalid:
        return InvalidVersion(out);
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
