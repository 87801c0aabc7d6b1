#include "proto/memcache_parser.h"

#include <cstring>
#include <limits>

namespace bale::proto {
namespace {

constexpr std::string_view kError = "ERROR";
constexpr std::string_view kBadFormat = "CLIENT_ERROR bad command line format";
constexpr std::string_view kBadChunk = "CLIENT_ERROR bad data chunk";
constexpr std::string_view kBadExptime = "CLIENT_ERROR invalid exptime argument";
constexpr std::string_view kBadDelta = "CLIENT_ERROR invalid numeric delta argument";
constexpr std::string_view kBadDelete =
    "CLIENT_ERROR bad command line format.  Usage: delete <key> [noreply]";
constexpr std::string_view kShutdownDisabled = "ERROR: shutdown not enabled";
constexpr std::string_view kMetaTooLong = "CLIENT_ERROR options flags too long";
constexpr std::string_view kMgTooLong = "CLIENT_ERROR options flags are too long";
// memcached's MAX_TOKENS is 24 including the terminal token: at most 23 real ones.
constexpr size_t kMaxTokens = 23;
// mg/ms/md/ma refuse a line of more than this many tokens (memcached: ntokens >
// MFLAG_MAX_OPT_LENGTH, where ntokens counts the terminal token).
constexpr size_t kMaxMetaTokens = 19;

// Numbers are read the way memcached 1.6.18's safe_strto* read them on a 64-bit host:
// strto*(str, &end, 10) (leading whitespace, an optional sign, decimal digits, ERANGE
// beyond 64 bits), then the character after the digits must be whitespace or the end of
// the token; the 64-bit result is then truncated to the destination width.
bool IsSpace(char c) { return c == ' ' || (c >= '\t' && c <= '\r'); }

// strtoull/strtol's scan: the magnitude and sign; false when there are no digits, the
// magnitude overflows 64 bits, or the digits are followed by a non-space.
bool Scan(std::string_view s, uint64_t* magnitude, bool* negative) {
  size_t i = 0;
  while (i < s.size() && IsSpace(s[i])) i++;
  *negative = false;
  if (i < s.size() && (s[i] == '+' || s[i] == '-')) *negative = s[i++] == '-';
  size_t digits = i;
  uint64_t v = 0;
  bool overflow = false;
  for (; i < s.size() && s[i] >= '0' && s[i] <= '9'; i++) {
    uint64_t d = static_cast<uint64_t>(s[i] - '0');
    if (v > (std::numeric_limits<uint64_t>::max() - d) / 10) overflow = true;
    v = v * 10 + d;
  }
  if (i == digits || overflow) return false;
  if (i < s.size() && !IsSpace(s[i])) return false;
  *magnitude = v;
  return true;
}

// safe_strtoull: strtoull negates modulo 2^64 under a '-', and safe_strtoull refuses a
// '-' that made the result negative as a signed number ("-1" fails, "-0" is 0).
bool ParseU64(std::string_view s, uint64_t* out) {
  uint64_t magnitude;
  bool negative;
  if (!Scan(s, &magnitude, &negative)) return false;
  uint64_t v = negative ? uint64_t{0} - magnitude : magnitude;
  if (negative && static_cast<int64_t>(v) < 0) return false;
  *out = v;
  return true;
}

// safe_strtoul: as safe_strtoull (unsigned long is 64 bits), then truncated to 32 bits
// (flags 4294967297 are stored as 1).
bool ParseU32(std::string_view s, uint32_t* out) {
  uint64_t v;
  if (!ParseU64(s, &v)) return false;
  *out = static_cast<uint32_t>(v);
  return true;
}

// safe_strtol: strtol's range (ERANGE outside int64), then truncated to 32 bits
// (exptime 4294967296 is 0).
bool ParseI32(std::string_view s, int32_t* out) {
  uint64_t magnitude;
  bool negative;
  if (!Scan(s, &magnitude, &negative)) return false;
  uint64_t limit = uint64_t{std::numeric_limits<int64_t>::max()} + (negative ? 1 : 0);
  if (magnitude > limit) return false;
  uint64_t v = negative ? uint64_t{0} - magnitude : magnitude;
  *out = static_cast<int32_t>(static_cast<uint32_t>(v));
  return true;
}

// The same, into one of Request's wider fields.
bool ParseI32(std::string_view s, int64_t* out) {
  int32_t v;
  if (!ParseI32(s, &v)) return false;
  *out = v;
  return true;
}

// A data length: safe_strtol, then memcached's `vlen < 0 || vlen > INT_MAX - 2` check.
bool ParseLength(std::string_view s, uint32_t* out) {
  int32_t v;
  if (!ParseI32(s, &v) || v < 0 || v > std::numeric_limits<int32_t>::max() - 2) return false;
  *out = static_cast<uint32_t>(v);
  return true;
}

struct Tokens {
  // Left uninitialized (a union member is not constructed): only tok[0, n) is read,
  // and zeroing 23 views per request showed in profiles.
  Tokens() {}
  union {
    std::string_view tok[kMaxTokens];
  };
  size_t n = 0;
  std::string_view rest;  // what follows the tokens read so far
};

void Tokenize(std::string_view line, Tokens* t, size_t max) {
  t->n = 0;
  t->rest = line;
  std::string_view tok;
  while (t->n < max && NextToken(&t->rest, &tok)) t->tok[t->n++] = tok;
}

ParseResult Error(std::string_view msg, size_t consumed, bool noreply = false) {
  ParseResult r;
  r.status = ParseStatus::kError;
  r.error = msg;
  r.consumed = consumed;
  r.noreply = noreply;
  return r;
}

ParseResult Closed() {
  ParseResult r;
  r.status = ParseStatus::kClose;
  return r;
}

ParseResult Ok(size_t consumed) {
  ParseResult r;
  r.status = ParseStatus::kRequest;
  r.consumed = consumed;
  return r;
}

// memcached's set_noreply_maybe: the last token of the line decides.
bool IsNoreply(const Tokens& t) { return t.n > 1 && t.tok[t.n - 1] == "noreply"; }

// set/add/replace/append/prepend/cas: the line, then <bytes> of data and "\r\n".
ParseResult ParseStorage(std::string_view input, size_t line_len, const Tokens& t,
                         const ParserLimits& limits, Request* req) {
  bool is_cas = req->command == Command::kCas;
  size_t want = is_cas ? 6 : 5;
  if (t.n != want && t.n != want + 1) return Error(kError, line_len);
  req->noreply = IsNoreply(t);
  req->key = t.tok[1];
  if (req->key.size() > kMaxKeyLength || !ParseU32(t.tok[2], &req->flags) ||
      !ParseI32(t.tok[3], &req->exptime) || !ParseLength(t.tok[4], &req->bytes) ||
      (is_cas && !ParseU64(t.tok[5], &req->cas))) {
    return Error(kBadFormat, line_len, req->noreply);
  }
  if (req->bytes > limits.max_item_size) {
    req->too_large = true;
    ParseResult r = Ok(line_len);
    r.swallow = uint64_t{req->bytes} + 2;
    return r;
  }
  size_t total = line_len + req->bytes + 2;
  if (input.size() < total) return ParseResult{};
  if (input[total - 2] != '\r' || input[total - 1] != '\n') {
    return Error(kBadChunk, total, req->noreply);
  }
  req->data = input.substr(line_len, req->bytes);
  return Ok(total);
}

ParseResult ParseRetrieval(size_t line_len, const Tokens& t, Request* req) {
  bool touch = req->command == Command::kGat || req->command == Command::kGats;
  if (t.n < 2) return Error(kError, line_len);
  if (touch && !ParseI32(t.tok[1], &req->exptime)) return Error(kBadExptime, line_len);
  // The key list runs from the first key to the end of the line; `gat <exptime>` alone
  // has none (memcached answers END).
  size_t first_key = touch ? 2 : 1;
  const char* end = t.rest.data() + t.rest.size();
  const char* begin = t.n > first_key ? t.tok[first_key].data() : end;
  req->keys = std::string_view(begin, static_cast<size_t>(end - begin));
  std::string_view keys = req->keys, key;
  while (NextToken(&keys, &key)) {
    if (key.size() > kMaxKeyLength) return Error(kBadFormat, line_len);
  }
  return Ok(line_len);
}

ParseResult ParseMeta(std::string_view input, size_t line_len, const Tokens& t,
                      const ParserLimits& limits, Request* req) {
  if (req->command == Command::kMetaNoop) return Ok(line_len);
  if (t.n < 2) {
    return Error(req->command == Command::kMetaDebug ? kBadFormat : kError, line_len);
  }
  req->key = t.tok[1];
  if (req->key.size() > kMaxKeyLength) return Error(kBadFormat, line_len);
  size_t flags_from = 2;
  if (req->command == Command::kMetaSet) {
    // memcached checks these before the length, so the data block is not swallowed.
    if (t.n < 3) return Error(kBadFormat, line_len);
    if (t.n > kMaxMetaTokens) return Error(kMetaTooLong, line_len);
    if (!ParseLength(t.tok[2], &req->bytes)) return Error(kBadFormat, line_len);
    flags_from = 3;
  } else if (req->command != Command::kMetaDebug && t.n > kMaxMetaTokens) {
    return Error(req->command == Command::kMetaGet ? kMgTooLong : kMetaTooLong, line_len);
  }
  if (t.n > flags_from) {
    const char* end = t.rest.data() + t.rest.size();
    req->args = std::string_view(t.tok[flags_from].data(),
                                 static_cast<size_t>(end - t.tok[flags_from].data()));
  }
  if (req->command != Command::kMetaSet) return Ok(line_len);
  if (req->bytes > limits.max_item_size) {
    req->too_large = true;
    ParseResult r = Ok(line_len);
    r.swallow = uint64_t{req->bytes} + 2;
    return r;
  }
  size_t total = line_len + req->bytes + 2;
  if (input.size() < total) return ParseResult{};
  if (input[total - 2] != '\r' || input[total - 1] != '\n') return Error(kBadChunk, total);
  req->data = input.substr(line_len, req->bytes);
  return Ok(total);
}

struct Name {
  std::string_view name;
  Command command;
};

constexpr Name kCommands[] = {
    {"get", Command::kGet},
    {"gets", Command::kGets},
    {"gat", Command::kGat},
    {"gats", Command::kGats},
    {"bget", Command::kGet},  // memcached 1.6.18 still takes the old name
    {"set", Command::kSet},
    {"add", Command::kAdd},
    {"replace", Command::kReplace},
    {"append", Command::kAppend},
    {"prepend", Command::kPrepend},
    {"cas", Command::kCas},
    {"delete", Command::kDelete},
    {"incr", Command::kIncr},
    {"decr", Command::kDecr},
    {"touch", Command::kTouch},
    {"flush_all", Command::kFlushAll},
    {"stats", Command::kStats},
    {"version", Command::kVersion},
    {"verbosity", Command::kVerbosity},
    {"quit", Command::kQuit},
    {"shutdown", Command::kShutdown},
    {"cache_memlimit", Command::kCacheMemlimit},
    {"slabs", Command::kSlabs},
    {"mg", Command::kMetaGet},
    {"ms", Command::kMetaSet},
    {"md", Command::kMetaDelete},
    {"ma", Command::kMetaArithmetic},
    {"mn", Command::kMetaNoop},
    {"me", Command::kMetaDebug},
};

bool Lookup(std::string_view name, Command* out) {
  for (const Name& n : kCommands) {
    if (n.name == name) {
      *out = n.command;
      return true;
    }
  }
  return false;
}

bool StartsWithGet(std::string_view input) {
  size_t i = 0;
  while (i < input.size() && i < 100 && input[i] == ' ') i++;
  std::string_view s = input.substr(i);
  return s.substr(0, 4) == "get " || s.substr(0, 5) == "gets ";
}

// Whether memcached 1.6.18's process_command_ascii dispatches a command name somewhere
// (possibly to an ERROR) rather than falling through to its HTTP check: names under two
// bytes, two-byte m* names, the a/c/d/g/i/s/t groups, and a few commands bale lacks.
bool MemcachedClaims(std::string_view name) {
  if (name.size() < 2 || (name[0] == 'm' && name.size() == 2)) return true;
  if (std::string_view("acdgist").find(name[0]) != std::string_view::npos) return true;
  for (std::string_view other : {"lru_crawler", "watch", "lru", "extstore", "refresh_certs"}) {
    if (name == other) return true;
  }
  return false;
}

}  // namespace

bool NextToken(std::string_view* rest, std::string_view* token) {
  const char* p = rest->data();
  const char* end = p + rest->size();
  while (p < end && *p == ' ') p++;
  if (p == end) {
    *rest = std::string_view(end, 0);  // empty, but still pointing at the end of the line
    return false;
  }
  // Keys run to 250 bytes: memchr finds the end many bytes at a time.
  const char* e = static_cast<const char*>(std::memchr(p, ' ', static_cast<size_t>(end - p)));
  if (e == nullptr) e = end;
  *token = std::string_view(p, static_cast<size_t>(e - p));
  *rest = std::string_view(e, static_cast<size_t>(end - e));
  return true;
}

ParseResult ParseRequest(std::string_view input, const ParserLimits& limits, Request* req) {
  if (input.empty()) return ParseResult{};  // memchr may not be given a null pointer
  const void* nl_ptr = std::memchr(input.data(), '\n', input.size());
  if (nl_ptr == nullptr) {
    size_t cap = StartsWithGet(input) ? limits.max_get_line : limits.max_line;
    if (input.size() > cap) return Closed();
    return ParseResult{};
  }
  size_t nl = static_cast<size_t>(static_cast<const char*>(nl_ptr) - input.data());
  size_t line_len = nl + 1;
  if (nl > (StartsWithGet(input) ? limits.max_get_line : limits.max_line)) {
    return Closed();
  }
  std::string_view line = input.substr(0, nl);
  if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
  // memcached tokenizes the line as a C string: a NUL byte ends it.
  if (const void* nul = std::memchr(line.data(), '\0', line.size())) {
    line = line.substr(0, static_cast<size_t>(static_cast<const char*>(nul) - line.data()));
  }

  *req = Request{};
  bool retrieval =
      StartsWithGet(line) || line.substr(0, 4) == "gat " || line.substr(0, 5) == "gats ";
  Tokens t;
  Tokenize(line, &t, retrieval ? 3 : kMaxTokens);
  if (t.n == 0) return Error(kError, line_len);
  std::string_view last = t.tok[t.n - 1];
  if (!Lookup(t.tok[0], &req->command)) {
    // Only a line memcached's dispatch does not claim is checked for HTTP.
    if (!MemcachedClaims(t.tok[0]) && last.substr(0, 5) == "HTTP/") return Closed();
    return Error(kError, line_len);
  }

  switch (req->command) {
    case Command::kGet:
    case Command::kGets:
    case Command::kGat:
    case Command::kGats:
      return ParseRetrieval(line_len, t, req);
    case Command::kSet:
    case Command::kAdd:
    case Command::kReplace:
    case Command::kAppend:
    case Command::kPrepend:
    case Command::kCas:
      return ParseStorage(input, line_len, t, limits, req);
    case Command::kDelete: {
      if (t.n < 2 || t.n > 4) return Error(kError, line_len);
      req->key = t.tok[1];
      req->noreply = last == "noreply" && t.n > 2;
      // memcached checks the legacy hold argument before the key length.
      size_t extra = t.n - 2 - (req->noreply ? 1 : 0);
      if (extra > 1 || (extra == 1 && t.tok[2] != "0")) {
        return Error(kBadDelete, line_len, req->noreply);
      }
      if (req->key.size() > kMaxKeyLength) return Error(kBadFormat, line_len, req->noreply);
      return Ok(line_len);
    }
    case Command::kIncr:
    case Command::kDecr:
      if (t.n != 3 && t.n != 4) return Error(kError, line_len);
      req->key = t.tok[1];
      req->noreply = IsNoreply(t);
      if (req->key.size() > kMaxKeyLength) return Error(kBadFormat, line_len, req->noreply);
      if (!ParseU64(t.tok[2], &req->delta)) return Error(kBadDelta, line_len, req->noreply);
      return Ok(line_len);
    case Command::kTouch:
      if (t.n != 3 && t.n != 4) return Error(kError, line_len);
      req->key = t.tok[1];
      req->noreply = IsNoreply(t);
      if (req->key.size() > kMaxKeyLength) return Error(kBadFormat, line_len, req->noreply);
      if (!ParseI32(t.tok[2], &req->exptime)) return Error(kBadExptime, line_len, req->noreply);
      return Ok(line_len);
    case Command::kFlushAll:
      if (t.n > 3) return Error(kError, line_len);
      req->noreply = last == "noreply" && t.n > 1;
      if (t.n > (req->noreply ? 2u : 1u)) {
        if (!ParseI32(t.tok[1], &req->number)) {
          return Error(kBadExptime, line_len, req->noreply);
        }
        req->has_number = true;
      }
      return Ok(line_len);
    case Command::kVerbosity:
    case Command::kCacheMemlimit: {
      if (t.n != 2 && t.n != 3) return Error(kError, line_len);
      req->noreply = IsNoreply(t);
      uint32_t n;
      if (!ParseU32(t.tok[1], &n)) {
        // memcached: verbosity says bad format, cache_memlimit a bare ERROR.
        bool verbosity = req->command == Command::kVerbosity;
        return Error(verbosity ? kBadFormat : kError, line_len, req->noreply);
      }
      req->number = n;
      return Ok(line_len);
    }
    case Command::kStats:
    case Command::kSlabs:
      if (t.n > 1) {
        const char* end = line.data() + line.size();
        req->args = std::string_view(t.tok[1].data(), static_cast<size_t>(end - t.tok[1].data()));
      }
      return Ok(line_len);
    case Command::kShutdown:
      return Error(kShutdownDisabled, line_len);
    case Command::kVersion:
    case Command::kQuit:
      return Ok(line_len);
    case Command::kMetaGet:
    case Command::kMetaSet:
    case Command::kMetaDelete:
    case Command::kMetaArithmetic:
    case Command::kMetaNoop:
    case Command::kMetaDebug:
      return ParseMeta(input, line_len, t, limits, req);
  }
  return Error(kError, line_len);
}

}  // namespace bale::proto
