#include "proto/memcache_binary.h"

namespace bale::proto {
namespace {

// What a request's body must look like (memcached's checks in dispatch_bin_command).
enum class Shape : uint8_t {
  kEmpty,   // noop, version, quit, sasl list mechs: no body at all
  kFlush,   // no key; extras 0 or 4 (expiration), nothing else
  kStore,   // set/add/replace: extras 8 (flags, expiration), a key, a value
  kKey,     // get/getk/delete: a key and nothing else
  kArith,   // incr/decr: extras 20 (delta, initial, expiration), a key, nothing else
  kConcat,  // append/prepend: no extras, a key, a value
  kStat,    // no extras; an optional key (the group)
  kSasl,    // sasl auth/step: no extras, a key (the mechanism), a value
  kTouch,   // touch/gat/gatk: extras 4 (expiration), a key
};

struct OpcodeInfo {
  BinaryOpcode loud;
  bool quiet;
  Shape shape;
};

// False for an opcode memcached 1.6 does not serve (answered "Unknown command").
bool Classify(uint8_t opcode, OpcodeInfo* info) {
  using O = BinaryOpcode;
  auto set = [info](O loud, bool quiet, Shape shape) {
    *info = OpcodeInfo{loud, quiet, shape};
    return true;
  };
  switch (static_cast<O>(opcode)) {
    case O::kGet:
    case O::kGetK:
    case O::kDelete:
      return set(static_cast<O>(opcode), false, Shape::kKey);
    case O::kGetQ:
      return set(O::kGet, true, Shape::kKey);
    case O::kGetKQ:
      return set(O::kGetK, true, Shape::kKey);
    case O::kDeleteQ:
      return set(O::kDelete, true, Shape::kKey);
    case O::kSet:
    case O::kAdd:
    case O::kReplace:
      return set(static_cast<O>(opcode), false, Shape::kStore);
    case O::kSetQ:
    case O::kAddQ:
    case O::kReplaceQ:  // the quiet forms are 0x10 after the loud ones
      return set(static_cast<O>(opcode - 0x10), true, Shape::kStore);
    case O::kIncrement:
    case O::kDecrement:
      return set(static_cast<O>(opcode), false, Shape::kArith);
    case O::kIncrementQ:
    case O::kDecrementQ:
      return set(static_cast<O>(opcode - 0x10), true, Shape::kArith);
    case O::kAppend:
    case O::kPrepend:
      return set(static_cast<O>(opcode), false, Shape::kConcat);
    case O::kAppendQ:
    case O::kPrependQ:
      return set(static_cast<O>(opcode - 0x0b), true, Shape::kConcat);
    case O::kQuit:
    case O::kNoop:
    case O::kVersion:
    case O::kSaslListMechs:
      return set(static_cast<O>(opcode), false, Shape::kEmpty);
    case O::kQuitQ:
      return set(O::kQuit, true, Shape::kEmpty);
    case O::kFlush:
      return set(O::kFlush, false, Shape::kFlush);
    case O::kFlushQ:
      return set(O::kFlush, true, Shape::kFlush);
    case O::kStat:
      return set(O::kStat, false, Shape::kStat);
    case O::kSaslAuth:
    case O::kSaslStep:
      return set(static_cast<O>(opcode), false, Shape::kSasl);
    case O::kTouch:
    case O::kGat:
    case O::kGatK:
      return set(static_cast<O>(opcode), false, Shape::kTouch);
    case O::kGatQ:
      return set(O::kGat, true, Shape::kTouch);
    case O::kGatKQ:
      return set(O::kGatK, true, Shape::kTouch);
    default:  // verbosity included: memcached 1.6 answers it "Unknown command"
      return false;
  }
}

// Whether the header's lengths fit the opcode's shape (else: invalid arguments).
bool Fits(Shape shape, uint8_t ext, uint16_t key, uint32_t body) {
  switch (shape) {
    case Shape::kEmpty:
      return ext == 0 && key == 0 && body == 0;
    case Shape::kFlush:
      return key == 0 && body == ext && (ext == 0 || ext == 4);
    case Shape::kStore:
      return ext == 8 && key != 0 && body >= uint32_t{key} + 8;
    case Shape::kKey:
      return ext == 0 && key != 0 && body == key;
    case Shape::kArith:
      return ext == 20 && key != 0 && body == uint32_t{key} + 20;
    case Shape::kConcat:
    case Shape::kSasl:
      return ext == 0 && key != 0;
    case Shape::kStat:
      return ext == 0;
    case Shape::kTouch:
      return ext == 4 && key != 0;
  }
  return false;
}

bool HasValue(Shape shape) {
  return shape == Shape::kStore || shape == Shape::kConcat || shape == Shape::kSasl;
}

uint16_t Load16(const char* p) {
  auto b = reinterpret_cast<const unsigned char*>(p);
  return static_cast<uint16_t>(b[0] << 8 | b[1]);
}
uint32_t Load32(const char* p) {
  auto b = reinterpret_cast<const unsigned char*>(p);
  return uint32_t{b[0]} << 24 | uint32_t{b[1]} << 16 | uint32_t{b[2]} << 8 | uint32_t{b[3]};
}
uint64_t Load64(const char* p) { return uint64_t{Load32(p)} << 32 | Load32(p + 4); }

void Store16(char* p, uint16_t v) {
  p[0] = static_cast<char>(v >> 8);
  p[1] = static_cast<char>(v);
}
void Store32(char* p, uint32_t v) {
  Store16(p, static_cast<uint16_t>(v >> 16));
  Store16(p + 2, static_cast<uint16_t>(v));
}

BinaryParseResult Error(BinaryStatus status, size_t consumed, uint64_t swallow, bool close) {
  BinaryParseResult r;
  r.status = BinaryParseStatus::kError;
  r.error = status;
  r.consumed = consumed;
  r.swallow = swallow;
  r.close = close;
  return r;
}

void DecodeExtras(Shape shape, BinaryRequest* req) {
  const char* e = req->extras.data();
  switch (shape) {
    case Shape::kStore:
      req->flags = Load32(e);
      req->expiration = Load32(e + 4);
      req->has_expiration = true;
      break;
    case Shape::kArith:
      req->delta = Load64(e);
      req->initial = Load64(e + 8);
      req->expiration = Load32(e + 16);
      req->has_expiration = true;
      break;
    case Shape::kTouch:
    case Shape::kFlush:
      if (req->extras.size() == 4) {
        req->expiration = Load32(e);
        req->has_expiration = true;
      }
      break;
    default:
      break;
  }
}

}  // namespace

std::string_view BinaryStatusMessage(BinaryStatus status) {
  switch (status) {
    case BinaryStatus::kOk:
      return {};
    case BinaryStatus::kKeyNotFound:
      return "Not found";
    case BinaryStatus::kKeyExists:
      return "Data exists for key.";
    case BinaryStatus::kTooLarge:
      return "Too large.";
    case BinaryStatus::kInvalidArguments:
      return "Invalid arguments";
    case BinaryStatus::kNotStored:
      return "Not stored.";
    case BinaryStatus::kNonNumeric:
      return "Non-numeric server-side value for incr or decr";
    case BinaryStatus::kAuthError:
      return "Auth failure.";
    case BinaryStatus::kAuthContinue:
      return {};
    case BinaryStatus::kUnknownCommand:
      return "Unknown command";
    case BinaryStatus::kOutOfMemory:
      return "Out of memory";
  }
  return {};
}

BinaryParseResult ParseBinaryRequest(std::string_view input, const ParserLimits& limits,
                                     BinaryRequest* req) {
  BinaryParseResult r;
  if (input.empty()) return r;
  // memcached reads a whole header before it looks at the magic; closing at once on
  // the first byte answers the same (nothing) sooner.
  if (static_cast<uint8_t>(input[0]) != kBinaryRequestMagic) {
    r.status = BinaryParseStatus::kClose;
    return r;
  }
  if (input.size() < kBinaryHeaderSize) return r;
  const char* h = input.data();
  *req = BinaryRequest();
  req->opcode = static_cast<uint8_t>(h[1]);
  uint16_t key_length = Load16(h + 2);
  uint8_t extras_length = static_cast<uint8_t>(h[4]);
  req->data_type = static_cast<uint8_t>(h[5]);
  req->vbucket = Load16(h + 6);
  uint32_t body_length = Load32(h + 8);
  req->opaque = Load32(h + 12);
  req->cas = Load64(h + 16);

  // Lengths that contradict each other: memcached answers and closes.
  if (uint32_t{key_length} + extras_length > body_length) {
    return Error(BinaryStatus::kUnknownCommand, kBinaryHeaderSize, 0, true);
  }
  if (key_length > kMaxKeyLength) {
    return Error(BinaryStatus::kInvalidArguments, kBinaryHeaderSize, 0, true);
  }
  OpcodeInfo info;
  if (!Classify(req->opcode, &info)) {
    // The body is discarded, so the next request is read where it begins.
    return Error(BinaryStatus::kUnknownCommand, kBinaryHeaderSize, body_length, false);
  }
  if (!Fits(info.shape, extras_length, key_length, body_length)) {
    return Error(BinaryStatus::kInvalidArguments, kBinaryHeaderSize, 0, true);
  }
  req->command = info.loud;
  req->quiet = info.quiet;

  // Header, extras and key; the value too, unless it is too large to hold. Bytes past
  // them that a shape without a value does not account for are the next request's, as
  // in memcached (only stat and touch/gat admit a body longer than extras and key).
  size_t head = kBinaryHeaderSize + extras_length + key_length;
  size_t need = head;
  if (HasValue(info.shape)) {
    req->value_length = body_length - extras_length - key_length;
    req->too_large = req->value_length > limits.max_item_size;
    if (!req->too_large) need += req->value_length;
  }
  if (input.size() < need) return r;
  req->extras = input.substr(kBinaryHeaderSize, extras_length);
  req->key = input.substr(kBinaryHeaderSize + extras_length, key_length);
  if (HasValue(info.shape) && !req->too_large) req->value = input.substr(head, req->value_length);
  DecodeExtras(info.shape, req);
  r.status = BinaryParseStatus::kRequest;
  r.consumed = need;
  if (req->too_large) r.swallow = req->value_length;
  return r;
}

void AppendBinaryHeader(std::string* out, const BinaryResponseHeader& h) {
  char b[kBinaryHeaderSize];
  b[0] = static_cast<char>(kBinaryResponseMagic);
  b[1] = static_cast<char>(h.opcode);
  Store16(b + 2, h.key_length);
  b[4] = static_cast<char>(h.extras_length);
  b[5] = 0;
  Store16(b + 6, static_cast<uint16_t>(h.status));
  Store32(b + 8, h.body_length);
  Store32(b + 12, h.opaque);
  Store32(b + 16, static_cast<uint32_t>(h.cas >> 32));
  Store32(b + 20, static_cast<uint32_t>(h.cas));
  out->append(b, sizeof(b));
}

void AppendBinaryRequest(std::string* out, uint8_t opcode, std::string_view extras,
                         std::string_view key, std::string_view value, uint64_t cas,
                         uint32_t opaque) {
  BinaryResponseHeader h;  // the same layout, with the request magic and no status
  h.opcode = opcode;
  h.opaque = opaque;
  h.cas = cas;
  h.extras_length = static_cast<uint8_t>(extras.size());
  h.key_length = static_cast<uint16_t>(key.size());
  h.body_length = static_cast<uint32_t>(extras.size() + key.size() + value.size());
  size_t at = out->size();
  AppendBinaryHeader(out, h);
  (*out)[at] = static_cast<char>(kBinaryRequestMagic);
  out->append(extras).append(key).append(value);
}

void AppendBinaryError(std::string* out, uint8_t opcode, uint32_t opaque, BinaryStatus status,
                       std::string_view message) {
  if (message.empty()) message = BinaryStatusMessage(status);
  BinaryResponseHeader h;
  h.opcode = opcode;
  h.status = status;
  h.opaque = opaque;
  h.body_length = static_cast<uint32_t>(message.size());
  AppendBinaryHeader(out, h);
  out->append(message);
}

}  // namespace bale::proto
