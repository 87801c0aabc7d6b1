// The memcached binary protocol: a pure parser from bytes to a BinaryRequest, and the
// encoder of response headers. Behaviour follows memcached 1.6.18 (proto_bin.c); the
// protocol is deprecated there but still served, and so here.
//
// Wire format (network byte order): a 24-byte header (magic 0x80, opcode, key length,
// extras length, data type, vbucket, total body length, opaque, CAS), then the body:
// extras, key, value. Responses carry magic 0x81 and a status where the vbucket was.
//
// Contract: ParseBinaryRequest looks at the start of `input` and reports one of
// - kIncomplete: more bytes are needed (nothing consumed);
// - kRequest: *req holds a request; `consumed` bytes belong to it; for a value over
//   the size limit (req->too_large) only the header, extras and key are consumed and
//   `swallow` more bytes (the value) must be discarded as they arrive, never buffered;
// - kError: answer `error` (status and memcached's message, AppendBinaryError) to
//   req->opcode and req->opaque, discard `swallow` more bytes after `consumed`, and
//   close the connection after the reply when `close` is set;
// - kClose: close the connection now, without a reply (a bad magic byte, as memcached).
// A request is decided by its header alone (lengths, opcode) and its own bytes; the
// parser never allocates and never reads past `input`. Includes std and the text
// parser's limits only.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "proto/memcache_parser.h"  // ParserLimits, kMaxKeyLength

namespace bale::proto {

inline constexpr uint8_t kBinaryRequestMagic = 0x80;
inline constexpr uint8_t kBinaryResponseMagic = 0x81;
inline constexpr size_t kBinaryHeaderSize = 24;
// incr/decr's expiration that means "do not create a missing key".
inline constexpr uint32_t kBinaryNoVivify = 0xffffffff;

// The opcodes memcached 1.6 knows. Quiet forms answer nothing on success (a get: on a
// miss); errors are always answered.
enum class BinaryOpcode : uint8_t {
  kGet = 0x00,
  kSet = 0x01,
  kAdd = 0x02,
  kReplace = 0x03,
  kDelete = 0x04,
  kIncrement = 0x05,
  kDecrement = 0x06,
  kQuit = 0x07,
  kFlush = 0x08,
  kGetQ = 0x09,
  kNoop = 0x0a,
  kVersion = 0x0b,
  kGetK = 0x0c,
  kGetKQ = 0x0d,
  kAppend = 0x0e,
  kPrepend = 0x0f,
  kStat = 0x10,
  kSetQ = 0x11,
  kAddQ = 0x12,
  kReplaceQ = 0x13,
  kDeleteQ = 0x14,
  kIncrementQ = 0x15,
  kDecrementQ = 0x16,
  kQuitQ = 0x17,
  kFlushQ = 0x18,
  kAppendQ = 0x19,
  kPrependQ = 0x1a,
  kVerbosity = 0x1b,
  kTouch = 0x1c,
  kGat = 0x1d,
  kGatQ = 0x1e,
  kSaslListMechs = 0x20,
  kSaslAuth = 0x21,
  kSaslStep = 0x22,
  kGatK = 0x23,
  kGatKQ = 0x24,
};

enum class BinaryStatus : uint16_t {
  kOk = 0x0000,
  kKeyNotFound = 0x0001,
  kKeyExists = 0x0002,
  kTooLarge = 0x0003,
  kInvalidArguments = 0x0004,
  kNotStored = 0x0005,
  kNonNumeric = 0x0006,
  kAuthError = 0x0020,
  kAuthContinue = 0x0021,
  kUnknownCommand = 0x0081,
  kOutOfMemory = 0x0082,
};

// memcached's message for an error status ("Not found", "Too large.", ...).
std::string_view BinaryStatusMessage(BinaryStatus status);

// One request. Views point into the input and are valid until the connection consumes
// the bytes the parser reported.
struct BinaryRequest {
  uint8_t opcode = 0;                         // as sent
  BinaryOpcode command = BinaryOpcode::kGet;  // the loud form: kGetQ is kGet with quiet
  bool quiet = false;
  uint8_t data_type = 0;
  uint16_t vbucket = 0;
  uint32_t opaque = 0;  // echoed in the reply
  uint64_t cas = 0;
  std::string_view extras, key, value;
  // Decoded extras: set/add/replace (flags, expiration), incr/decr (delta, initial,
  // expiration), touch/gat/gatk (expiration), flush (expiration when has_expiration).
  uint32_t flags = 0;
  uint32_t expiration = 0;
  bool has_expiration = false;
  uint64_t delta = 0;
  uint64_t initial = 0;
  uint32_t value_length = 0;  // set/add/replace/append/prepend/sasl: the value's bytes
  bool too_large = false;     // value_length > the item size limit: the value is swallowed
};

enum class BinaryParseStatus { kIncomplete, kRequest, kError, kClose };

struct BinaryParseResult {
  BinaryParseStatus status = BinaryParseStatus::kIncomplete;
  size_t consumed = 0;
  uint64_t swallow = 0;
  BinaryStatus error = BinaryStatus::kOk;
  bool close = false;  // kError: close the connection once the error is sent
};

BinaryParseResult ParseBinaryRequest(std::string_view input, const ParserLimits& limits,
                                     BinaryRequest* req);

struct BinaryResponseHeader {
  uint8_t opcode = 0;
  BinaryStatus status = BinaryStatus::kOk;
  uint32_t opaque = 0;
  uint64_t cas = 0;
  uint8_t extras_length = 0;
  uint16_t key_length = 0;
  uint32_t body_length = 0;  // extras + key + value
};

// Appends the 24 header bytes of a response (data type 0, as memcached).
void AppendBinaryHeader(std::string* out, const BinaryResponseHeader& h);

// Appends an error response to (opcode, opaque): status, no CAS, and `message` (by
// default memcached's, BinaryStatusMessage) as its body.
void AppendBinaryError(std::string* out, uint8_t opcode, uint32_t opaque, BinaryStatus status,
                       std::string_view message = {});

// Appends a request, as a client sends it (tests and tools): the header with lengths
// that fit, then extras, key and value.
void AppendBinaryRequest(std::string* out, uint8_t opcode, std::string_view extras,
                         std::string_view key, std::string_view value, uint64_t cas = 0,
                         uint32_t opaque = 0);

// Big-endian integers, as the binary protocol writes them.
inline void AppendBigEndian32(std::string* out, uint32_t v) {
  char b[4] = {static_cast<char>(v >> 24), static_cast<char>(v >> 16), static_cast<char>(v >> 8),
               static_cast<char>(v)};
  out->append(b, 4);
}
inline void AppendBigEndian64(std::string* out, uint64_t v) {
  AppendBigEndian32(out, static_cast<uint32_t>(v >> 32));
  AppendBigEndian32(out, static_cast<uint32_t>(v));
}

}  // namespace bale::proto
