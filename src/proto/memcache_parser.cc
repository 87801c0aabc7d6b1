#include "proto/memcache_parser.h"

#include <cstring>
#include <limits>

namespace bale::proto {
namespace {

constexpr std::string_view kError = "ERROR";
constexpr std::string_view kBadFormat = "CLIENT_ERROR bad command line format";
constexpr std::string_view kBadChunk = "CLIENT_ERROR bad data chunk";
constexpr std::string_view kTooLarge = "SERVER_ERROR object too large for cache";
constexpr std::string_view kBadExptime = "CLIENT_ERROR invalid exptime argument";
constexpr std::string_view kBadDelta = "CLIENT_ERROR invalid numeric delta argument";
constexpr std::string_view kBadDelete =
    "CLIENT_ERROR bad command line format.  Usage: delete <key> [noreply]";
constexpr std::string_view kShutdownDisabled = "ERROR: shutdown not enabled";
constexpr size_t kMaxTokens = 24;

bool ParseU64(std::string_view s, uint64_t* out) {
  if (s.empty() || s.size() > 20) return false;
  uint64_t v = 0;
  for (char c : s) {
    if (c < '0' || c > '9') return false;
    uint64_t d = static_cast<uint64_t>(c - '0');
    if (v > (std::numeric_limits<uint64_t>::max() - d) / 10) return false;
    v = v * 10 + d;
  }
  *out = v;
  return true;
}

bool ParseU32(std::string_view s, uint32_t* out) {
  uint64_t v;
  if (!ParseU64(s, &v) || v > std::numeric_limits<uint32_t>::max()) return false;
  *out = static_cast<uint32_t>(v);
  return true;
}

bool ParseI64(std::string_view s, int64_t* out) {
  bool neg = !s.empty() && s[0] == '-';
  uint64_t v;
  if (!ParseU64(neg ? s.substr(1) : s, &v)) return false;
  if (v > static_cast<uint64_t>(std::numeric_limits<int64_t>::max())) return false;
  *out = neg ? -static_cast<int64_t>(v) : static_cast<int64_t>(v);
  return true;
}

struct Tokens {
  std::string_view tok[kMaxTokens];
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
  int64_t bytes;
  if (req->key.size() > kMaxKeyLength || !ParseU32(t.tok[2], &req->flags) ||
      !ParseI64(t.tok[3], &req->exptime) || !ParseI64(t.tok[4], &bytes) || bytes < 0 ||
      bytes > std::numeric_limits<int32_t>::max() - 2 ||
      (is_cas && !ParseU64(t.tok[5], &req->cas))) {
    return Error(kBadFormat, line_len, req->noreply);
  }
  req->bytes = static_cast<uint32_t>(bytes);
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
  size_t first_key = touch ? 2 : 1;
  if (t.n <= first_key) return Error(kError, line_len);
  if (touch && !ParseI64(t.tok[1], &req->exptime)) return Error(kBadExptime, line_len);
  // The key list runs from the first key to the end of the line.
  std::string_view rest = t.tok[first_key];
  const char* end = t.rest.data() + t.rest.size();
  req->keys = std::string_view(rest.data(), static_cast<size_t>(end - rest.data()));
  std::string_view keys = req->keys, key;
  while (NextToken(&keys, &key)) {
    if (key.size() > kMaxKeyLength) return Error(kBadFormat, line_len);
  }
  return Ok(line_len);
}

ParseResult ParseMeta(std::string_view input, size_t line_len, const Tokens& t,
                      const ParserLimits& limits, Request* req) {
  if (req->command == Command::kMetaNoop) return Ok(line_len);
  if (t.n < 2) return Error(kError, line_len);
  req->key = t.tok[1];
  if (req->key.size() > kMaxKeyLength) return Error(kBadFormat, line_len);
  size_t flags_from = 2;
  if (req->command == Command::kMetaSet) {
    int64_t bytes;
    if (t.n < 3 || !ParseI64(t.tok[2], &bytes) || bytes < 0 ||
        bytes > std::numeric_limits<int32_t>::max() - 2) {
      return Error(kBadFormat, line_len);
    }
    req->bytes = static_cast<uint32_t>(bytes);
    flags_from = 3;
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

}  // namespace

bool NextToken(std::string_view* rest, std::string_view* token) {
  size_t b = 0;
  while (b < rest->size() && (*rest)[b] == ' ') b++;
  if (b == rest->size()) {
    *rest = rest->substr(b);  // empty, but still pointing at the end of the line
    return false;
  }
  size_t e = b;
  while (e < rest->size() && (*rest)[e] != ' ') e++;
  *token = rest->substr(b, e - b);
  *rest = rest->substr(e);
  return true;
}

ParseResult ParseRequest(std::string_view input, const ParserLimits& limits, Request* req) {
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

  *req = Request{};
  bool retrieval =
      StartsWithGet(line) || line.substr(0, 4) == "gat " || line.substr(0, 5) == "gats ";
  Tokens t;
  Tokenize(line, &t, retrieval ? 3 : kMaxTokens);
  if (t.n == 0) return Error(kError, line_len);
  std::string_view last = t.tok[t.n - 1];
  if (!retrieval && last.substr(0, 5) == "HTTP/") return Closed();
  if (!Lookup(t.tok[0], &req->command)) return Error(kError, line_len);

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
      if (req->key.size() > kMaxKeyLength) return Error(kBadFormat, line_len, req->noreply);
      size_t extra = t.n - 2 - (req->noreply ? 1 : 0);
      if (extra > 1 || (extra == 1 && t.tok[2] != "0")) {
        return Error(kBadDelete, line_len, req->noreply);
      }
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
      if (!ParseI64(t.tok[2], &req->exptime)) return Error(kBadExptime, line_len, req->noreply);
      return Ok(line_len);
    case Command::kFlushAll:
      if (t.n > 3) return Error(kError, line_len);
      req->noreply = last == "noreply" && t.n > 1;
      if (t.n > (req->noreply ? 2u : 1u)) {
        if (!ParseI64(t.tok[1], &req->number)) {
          return Error(kBadExptime, line_len, req->noreply);
        }
        req->has_number = true;
      }
      return Ok(line_len);
    case Command::kVerbosity:
      if (t.n != 2 && t.n != 3) return Error(kError, line_len);
      req->noreply = IsNoreply(t);
      if (!ParseI64(t.tok[1], &req->number)) return Error(kBadFormat, line_len, req->noreply);
      return Ok(line_len);
    case Command::kCacheMemlimit:
      if (t.n != 2 && t.n != 3) return Error(kError, line_len);
      req->noreply = IsNoreply(t);
      if (!ParseI64(t.tok[1], &req->number)) return Error(kBadFormat, line_len, req->noreply);
      return Ok(line_len);
    case Command::kStats:
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
