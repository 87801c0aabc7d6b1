#include "loadgen/wire.h"

#include "base/decimal.h"

namespace bale::loadgen {

namespace {

constexpr size_t kMaxLine = 4096;          // a reply line with no end by then is kBad
constexpr size_t kMaxHttpHead = 65536;     // an HTTP head too
constexpr uint64_t kMaxBody = 1ULL << 40;  // a length past this is kBad, not a wait
constexpr size_t kBinaryHeader = 24;

Reply Incomplete(size_t needed = 0) {
  Reply r;
  r.needed = needed;
  return r;
}

Reply Done(ReplyKind kind, size_t consumed) {
  Reply r;
  r.kind = kind;
  r.consumed = consumed;
  return r;
}

Reply Bad() { return Done(ReplyKind::kBad, 0); }

std::string_view NextToken(std::string_view* rest) {
  const size_t start = rest->find_first_not_of(' ');
  if (start == std::string_view::npos) return *rest = {};
  const size_t end = rest->find(' ', start);
  std::string_view token = rest->substr(start, end - start);
  *rest = end == std::string_view::npos ? std::string_view() : rest->substr(end);
  return token;
}

// ---- memcached text and meta ----

// SERVER_ERROR, CLIENT_ERROR and ERROR answer any command; kIncomplete if not one.
ReplyKind ErrorLineKind(std::string_view line) {
  if (line.starts_with("SERVER_ERROR")) return ReplyKind::kServerError;
  if (line == "ERROR" || line.starts_with("CLIENT_ERROR")) return ReplyKind::kClientError;
  return ReplyKind::kIncomplete;
}

bool IsWord(std::string_view line, std::string_view word) {
  return line == word || (line.starts_with(word) && line[word.size()] == ' ');
}

ReplyKind StoreLineKind(Protocol p, std::string_view line) {
  if (p == Protocol::kText) {
    if (line == "STORED") return ReplyKind::kStored;
    if (line == "NOT_STORED" || line == "EXISTS" || line == "NOT_FOUND") {
      return ReplyKind::kServerError;
    }
    return ReplyKind::kBad;
  }
  if (IsWord(line, "HD")) return ReplyKind::kStored;
  if (IsWord(line, "NS") || IsWord(line, "EX") || IsWord(line, "NF")) {
    return ReplyKind::kServerError;
  }
  return ReplyKind::kBad;
}

// A hit's data block: `size` bytes at `at`, "\r\n", then `trailer`.
Reply DataBlock(std::string_view in, size_t at, std::string_view size, std::string_view trailer) {
  uint64_t n = 0;
  if (!ParseDecimal(size, &n) || n > kMaxBody) return Bad();
  const size_t end = at + n;
  const size_t need = end + 2 + trailer.size();
  if (in.size() < need) return Incomplete(need);
  if (in.substr(end, 2) != "\r\n" || in.substr(end + 2, trailer.size()) != trailer) return Bad();
  Reply r = Done(ReplyKind::kHit, need);
  r.value = in.substr(at, n);
  return r;
}

// `VALUE <key> <flags> <bytes> [<cas>]`, data, `END`; or `END` alone.
Reply ParseTextGet(std::string_view in, std::string_view line) {
  if (line == "END") return Done(ReplyKind::kMiss, line.size() + 2);
  if (!line.starts_with("VALUE ")) return Bad();
  std::string_view rest = line.substr(6);
  const std::string_view key = NextToken(&rest);
  uint32_t flags = 0;
  if (key.empty() || !ParseDecimal(NextToken(&rest), &flags)) return Bad();
  Reply r = DataBlock(in, line.size() + 2, NextToken(&rest), "END\r\n");
  r.key = key;
  return r;
}

// `VA <bytes> [flags]` and data; or `EN`.
Reply ParseMetaGet(std::string_view in, std::string_view line) {
  if (line == "EN") return Done(ReplyKind::kMiss, line.size() + 2);
  if (!IsWord(line, "VA")) return Bad();
  std::string_view rest = line.substr(2);
  return DataBlock(in, line.size() + 2, NextToken(&rest), "");
}

Reply ParseMemcache(Protocol p, Op op, std::string_view in) {
  const size_t eol = in.find("\r\n");
  if (eol == std::string_view::npos) return in.size() > kMaxLine ? Bad() : Incomplete();
  const std::string_view line = in.substr(0, eol);
  if (ReplyKind k = ErrorLineKind(line); k != ReplyKind::kIncomplete) return Done(k, eol + 2);
  if (op == Op::kSet) {
    const ReplyKind k = StoreLineKind(p, line);
    return k == ReplyKind::kBad ? Bad() : Done(k, eol + 2);
  }
  return p == Protocol::kText ? ParseTextGet(in, line) : ParseMetaGet(in, line);
}

// ---- memcached binary ----

uint32_t BigEndian(std::string_view in, size_t at, int bytes) {
  uint32_t v = 0;
  for (int i = 0; i < bytes; ++i) v = (v << 8) | static_cast<unsigned char>(in[at + i]);
  return v;
}

void AppendBigEndian(std::string* out, uint64_t v, int bytes) {
  for (int i = bytes - 1; i >= 0; --i) out->push_back(static_cast<char>(v >> (8 * i)));
}

ReplyKind BinaryKind(Op op, uint32_t status) {
  if (status == 0x0000) return op == Op::kGet ? ReplyKind::kHit : ReplyKind::kStored;
  if (status == 0x0001 && op == Op::kGet) return ReplyKind::kMiss;
  switch (status) {
    case 0x0003:  // too large
    case 0x0004:  // invalid arguments
    case 0x0006:  // non-numeric
    case 0x0020:  // authentication error
    case 0x0021:  // authentication continue
    case 0x0081:  // unknown command
      return ReplyKind::kClientError;
    default:
      return ReplyKind::kServerError;
  }
}

Reply ParseBinary(Op op, std::string_view in) {
  if (in.size() < kBinaryHeader) return Incomplete(kBinaryHeader);
  const uint32_t want_opcode = op == Op::kGet ? 0x00 : 0x01;
  if (BigEndian(in, 0, 1) != 0x81 || BigEndian(in, 1, 1) != want_opcode) return Bad();
  const uint32_t key_length = BigEndian(in, 2, 2);
  const uint32_t extras_length = BigEndian(in, 4, 1);
  const uint32_t body = BigEndian(in, 8, 4);
  if (key_length + extras_length > body) return Bad();
  const size_t need = kBinaryHeader + body;
  if (in.size() < need) return Incomplete(need);
  Reply r = Done(BinaryKind(op, BigEndian(in, 6, 2)), need);
  r.opaque = BigEndian(in, 12, 4);
  if (r.kind == ReplyKind::kHit) {
    const size_t skip = key_length + extras_length;
    r.value = in.substr(kBinaryHeader + skip, body - skip);
  }
  return r;
}

void AppendBinaryRequest(Op op, std::string_view key, std::string_view value, uint32_t opaque,
                         std::string* out) {
  const uint32_t extras = op == Op::kSet ? 8 : 0;
  const uint64_t body = extras + key.size() + (op == Op::kSet ? value.size() : 0);
  out->push_back(static_cast<char>(0x80));
  out->push_back(static_cast<char>(op == Op::kGet ? 0x00 : 0x01));
  AppendBigEndian(out, key.size(), 2);
  AppendBigEndian(out, extras, 1);
  AppendBigEndian(out, 0, 3);  // data type, vbucket
  AppendBigEndian(out, body, 4);
  AppendBigEndian(out, opaque, 4);
  AppendBigEndian(out, 0, 8);                      // CAS
  if (op == Op::kSet) AppendBigEndian(out, 0, 8);  // flags, expiration
  out->append(key);
  if (op == Op::kSet) out->append(value);
}

// ---- HTTP ----

bool EqualsNoCase(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  for (size_t i = 0; i < a.size(); ++i) {
    if ((a[i] | 0x20) != (b[i] | 0x20)) return false;
  }
  return true;
}

bool ContainsNoCase(std::string_view haystack, std::string_view needle) {
  for (size_t i = 0; i + needle.size() <= haystack.size(); ++i) {
    if (EqualsNoCase(haystack.substr(i, needle.size()), needle)) return true;
  }
  return false;
}

std::string_view Trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
  return s;
}

struct HttpHead {
  uint32_t status = 0;
  bool has_length = false;
  uint64_t length = 0;
  bool chunked = false;
  bool close = false;
};

bool ParseHttpField(std::string_view line, HttpHead* h) {
  const size_t colon = line.find(':');
  if (colon == std::string_view::npos) return false;
  const std::string_view name = line.substr(0, colon);
  const std::string_view value = Trim(line.substr(colon + 1));
  if (EqualsNoCase(name, "Content-Length")) {
    h->has_length = true;
    return ParseDecimal(value, &h->length) && h->length <= kMaxBody;
  }
  if (EqualsNoCase(name, "Transfer-Encoding")) h->chunked = !EqualsNoCase(value, "identity");
  if (EqualsNoCase(name, "Connection")) {
    if (ContainsNoCase(value, "close")) h->close = true;
    if (ContainsNoCase(value, "keep-alive")) h->close = false;
  }
  return true;
}

// The head without its final empty line: a status line and fields, each ending "\r\n".
bool ParseHttpHead(std::string_view head, HttpHead* h) {
  size_t eol = head.find("\r\n");
  const std::string_view status_line = head.substr(0, eol);
  const bool http10 = status_line.starts_with("HTTP/1.0 ");
  if (!http10 && !status_line.starts_with("HTTP/1.1 ")) return false;
  if (status_line.size() < 12 || !ParseDecimal(status_line.substr(9, 3), &h->status)) return false;
  h->close = http10;
  for (size_t at = eol + 2; at < head.size(); at = eol + 2) {
    eol = head.find("\r\n", at);
    if (!ParseHttpField(head.substr(at, eol - at), h)) return false;
  }
  return true;
}

ReplyKind HttpKind(Op op, uint32_t status) {
  if (status / 100 == 2) return op == Op::kGet ? ReplyKind::kHit : ReplyKind::kStored;
  if (status == 404 && op == Op::kGet) return ReplyKind::kMiss;
  if (status / 100 == 4) return ReplyKind::kClientError;
  if (status / 100 == 5) return ReplyKind::kServerError;
  return ReplyKind::kBad;
}

Reply ParseHttp(Op op, std::string_view in) {
  const size_t head_end = in.find("\r\n\r\n");
  if (head_end == std::string_view::npos) return in.size() > kMaxHttpHead ? Bad() : Incomplete();
  HttpHead h;
  if (!ParseHttpHead(in.substr(0, head_end + 2), &h)) return Bad();
  const bool bodiless = h.status / 100 == 1 || h.status == 204 || h.status == 304;
  if (h.chunked || (!bodiless && !h.has_length)) return Bad();  // bale always sends a length
  const size_t at = head_end + 4;
  const size_t need = at + (bodiless ? 0 : h.length);
  if (in.size() < need) return Incomplete(need);
  Reply r = Done(HttpKind(op, h.status), need);
  if (r.kind == ReplyKind::kBad) return r;
  if (r.kind == ReplyKind::kHit) r.value = in.substr(at, need - at);
  r.close = h.close;
  return r;
}

void AppendPercentEncoded(std::string_view s, std::string* out) {
  static constexpr char kHex[] = "0123456789ABCDEF";
  for (char c : s) {
    const auto u = static_cast<unsigned char>(c);
    if ((u >= 'A' && u <= 'Z') || (u >= 'a' && u <= 'z') || (u >= '0' && u <= '9') || c == '-' ||
        c == '.' || c == '_' || c == '~') {
      out->push_back(c);
    } else {
      out->push_back('%');
      out->push_back(kHex[u >> 4]);
      out->push_back(kHex[u & 15]);
    }
  }
}

void AppendHttpRequest(Op op, std::string_view key, std::string_view value, std::string_view host,
                       std::string* out) {
  out->append(op == Op::kGet ? "GET /o/" : "PUT /o/");
  AppendPercentEncoded(key, out);
  out->append(" HTTP/1.1\r\nHost: ");
  out->append(host);
  if (op == Op::kGet) {
    out->append("\r\n\r\n");
    return;
  }
  out->append("\r\nContent-Length: ");
  AppendDecimal(out, value.size());
  out->append("\r\n\r\n");
  out->append(value);
}

// ---- Redis (RESP2) ----

// A set's `+OK`; a get's `$<n>` and n bytes, or `$-1`; `-<error>` to either.
Reply ParseRedis(Op op, std::string_view in) {
  const size_t eol = in.find("\r\n");
  if (eol == std::string_view::npos) return in.size() > kMaxLine ? Bad() : Incomplete();
  const std::string_view line = in.substr(0, eol);
  if (line.starts_with('-')) return Done(ReplyKind::kServerError, eol + 2);
  if (op == Op::kSet) return line == "+OK" ? Done(ReplyKind::kStored, eol + 2) : Bad();
  if (line == "$-1") return Done(ReplyKind::kMiss, eol + 2);
  if (!line.starts_with('$')) return Bad();
  return DataBlock(in, eol + 2, line.substr(1), "");
}

void AppendBulkString(std::string_view s, std::string* out) {
  out->push_back('$');
  AppendDecimal(out, s.size());
  out->append("\r\n");
  out->append(s);
  out->append("\r\n");
}

void AppendRedisRequest(Op op, std::string_view key, std::string_view value, std::string* out) {
  out->append(op == Op::kGet ? "*2\r\n$3\r\nGET\r\n" : "*3\r\n$3\r\nSET\r\n");
  AppendBulkString(key, out);
  if (op == Op::kSet) AppendBulkString(value, out);
}

}  // namespace

std::string_view ProtocolName(Protocol p) {
  switch (p) {
    case Protocol::kText:
      return "text";
    case Protocol::kMeta:
      return "meta";
    case Protocol::kBinary:
      return "binary";
    case Protocol::kHttp:
      return "http";
    case Protocol::kRedis:
      return "redis";
  }
  return "?";
}

void AppendRequest(Protocol p, Op op, std::string_view key, std::string_view value, uint32_t opaque,
                   std::string_view host, std::string* out) {
  switch (p) {
    case Protocol::kBinary:
      return AppendBinaryRequest(op, key, value, opaque, out);
    case Protocol::kHttp:
      return AppendHttpRequest(op, key, value, host, out);
    case Protocol::kRedis:
      return AppendRedisRequest(op, key, value, out);
    case Protocol::kText:
    case Protocol::kMeta:
      break;
  }
  const bool text = p == Protocol::kText;
  if (op == Op::kGet) {
    out->append(text ? "get " : "mg ");
    out->append(key);
    out->append(text ? "\r\n" : " v\r\n");
    return;
  }
  out->append(text ? "set " : "ms ");
  out->append(key);
  out->append(text ? " 0 0 " : " ");
  AppendDecimal(out, value.size());
  out->append("\r\n");
  out->append(value);
  out->append("\r\n");
}

Reply ParseReply(Protocol p, Op op, std::string_view input) {
  switch (p) {
    case Protocol::kBinary:
      return ParseBinary(op, input);
    case Protocol::kHttp:
      return ParseHttp(op, input);
    case Protocol::kRedis:
      return ParseRedis(op, input);
    case Protocol::kText:
    case Protocol::kMeta:
      break;
  }
  return ParseMemcache(p, op, input);
}

}  // namespace bale::loadgen
