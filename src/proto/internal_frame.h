// InternalFrame: bale's internal protocol between routers and store nodes (issue #13), a
// pure encoder/decoder (no I/O). Binary, framed, pipelined and multiplexed by request id
// over persistent TCP connections; every frame carries the sender's map epoch.
//
// A frame is a 40-byte header, then `extras` (a fixed struct per op), the key, the body.
// Every integer is little-endian.
//
//   offset size field
//   0      1    magic      0xB1: bale internal protocol, version 1 (memcached binary is
//                          0x80/0x81, its text protocol ASCII: a node tells them apart, and
//                          a version-2 node tells version-1 peers by this byte)
//   1      1    op         FrameOp
//   2      1    flags      bit 0: reply; others 0
//   3      1    status     WireStatus (replies; 0 in requests)
//   4      4    partition  the key's partition (kNoPartition: none, e.g. FLUSH_ALL)
//   8      8    request id chosen by the sender, echoed by the reply
//   16     8    epoch      request: the router's map epoch; reply: the node's
//   24     2    key length       at most kMaxFrameKey
//   26     2    extras length    the op's fixed struct (see below)
//   28     4    reserved         0 (room for a header checksum or auth)
//   32     8    body length      header + extras + key + body <= FrameLimits::max_frame
//   40          extras, key, body
//
//   op          request (extras / key / body)                reply
//   HELLO  0x01 Hello (min, max version, features) / - /     Hello (chosen version);
//               the cluster handshake (proto/handshake.h)     kUnsupportedVersion if none
//   GET    0x02 GetExtras (LookupOptions) / key / -          kOk: MetaExtras / key /
//                                                             content type + value;
//                                                             kNotFound, kCorruption, ...
//   MUTATE 0x03 MutateExtras (every Mutation field) / key /  MetaExtras (MutationResult) /
//               content type + value                         - / content type: none, error text
//   FLUSH_ALL 0x04 FlushExtras (when) / - / -                as MUTATE
//   PUT_ATOMIC 0x05 - / - / u32 count, then per item         as MUTATE, body: per item
//               PutItemHead, key, content type, value         u64 cookie, u64 version, u8 taken
//   STATS  0x06 - / - / -                                    body: "name value\n" lines
//   ERROR  0x7F (reply only)                                 status, body: message; epoch:
//                                                             the node's (kWrongEpoch)
//
// MetaExtras (56 bytes): u8 mutation status, u8 meta bits (stale, won, token_sent,
// fetched), u16 content type length, u32 flags, u32 expiry, u32 mtime, u32 idle_s,
// u32 reserved, u64 version, u64 cookie, u64 size, u64 number. A reply's body is its
// content type (that many bytes) then the value (GET) or the error text (MUTATE).
//
// Contract: DecodeFrame never reads past its input and never allocates: it answers
// kNeedMore, a frame (views into the input), or kBad with the WireStatus to answer
// (kBadFrame, kTooLarge: a length past the limits is refused from the header alone,
// kUnsupportedVersion). The typed decoders check the extras' sizes and the body's
// inner lengths. Encoders append to a std::string; large values can be left out of
// the frame (the *Head encoders) and sent after it from elsewhere (sendfile, writev).
// Layering: proto/ includes frontend/object_store.h, header-only plain types (Mutation,
// LookupOptions, ObjectMeta...), so that the frames carry them field for field; it
// links nothing of the faces.
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "frontend/object_store.h"

namespace bale::proto {

inline constexpr uint8_t kFrameMagic = 0xB1;  // version 1
inline constexpr uint8_t kFrameVersion = 1;
inline constexpr size_t kFrameHeaderSize = 40;
inline constexpr size_t kMaxFrameKey = 250;
inline constexpr uint32_t kNoPartition = 0xFFFFFFFF;
inline constexpr uint8_t kFlagReply = 1;

enum class FrameOp : uint8_t {
  kHello = 0x01,
  kGet = 0x02,
  kMutate = 0x03,
  kFlushAll = 0x04,
  kPutAtomic = 0x05,
  kStats = 0x06,
  kError = 0x7F,
};

enum class WireStatus : uint8_t {
  kOk = 0,
  kNotFound = 1,     // GET: missing, expired, flushed, wrong cookie
  kCorruption = 2,   // GET: a damaged record (a face answers a miss)
  kUnavailable = 3,  // the partition cannot answer here (message says why)
  kError = 4,        // another store error (message)
  kWrongEpoch = 5,   // the frame's epoch is not the node's: the reply's epoch is the node's
  kNotHeld = 6,      // the node does not hold the partition
  kBadFrame = 7,     // a malformed frame: the connection closes after the reply
  kTooLarge = 8,     // a frame past the limits: the connection closes
  kUnsupportedVersion = 9,
  kBadRequest = 10,  // a well-formed frame the node refuses (key in another partition)
};
std::string_view WireStatusName(WireStatus s);

struct FrameLimits {
  uint64_t max_frame = (64ull << 20) + (64 << 10);  // header + extras + key + body
};

struct FrameHeader {
  FrameOp op = FrameOp::kHello;
  uint8_t flags = 0;
  WireStatus status = WireStatus::kOk;
  uint32_t partition = kNoPartition;
  uint64_t request_id = 0;
  uint64_t epoch = 0;
  bool reply() const { return (flags & kFlagReply) != 0; }
};

// A decoded frame: views into the decoder's input.
struct Frame {
  FrameHeader header;
  std::string_view extras, key, body;
  size_t size = 0;  // bytes of the whole frame
};

enum class DecodeStatus : uint8_t { kNeedMore, kFrame, kBad };
struct DecodeResult {
  DecodeStatus status = DecodeStatus::kNeedMore;
  WireStatus error = WireStatus::kOk;  // kBad: what to answer
  std::string_view message;            // kBad: why (static text)
};

// The frame at the front of `input` into *frame (views into input).
DecodeResult DecodeFrame(std::string_view input, const FrameLimits& limits, Frame* frame);

// Writes a header for a frame of these lengths (request ids may be patched later).
void AppendHeader(std::string* out, const FrameHeader& h, size_t key_len, size_t extras_len,
                  uint64_t body_len);
// Rewrites the request id of the encoded frame starting at frame[0].
void SetRequestId(char* frame, uint64_t id);

// ---- Requests ----
struct Hello {
  uint8_t min_version = kFrameVersion;
  uint8_t max_version = kFrameVersion;
  uint32_t features = 0;  // proto/handshake.h's kHelloAuth bits
};
// `body`: the cluster handshake's nonce and proofs (proto/handshake.h), else empty.
void AppendHello(std::string* out, uint64_t id, const Hello& hello, bool reply,
                 std::string_view body = {});
[[nodiscard]] bool DecodeHello(const Frame& f, Hello* hello);

// A GET's lookup options as values (LookupOptions points at them: options()).
struct GetRequest {
  std::string_view key;
  bool has_cookie = false, has_touch = false, meta = false, has_recache = false;
  bool has_vivify = false, no_bump = false;
  uint64_t cookie = 0;
  uint32_t touch_expiry = 0, recache_before = 0, vivify_expiry = 0;
  uint64_t vivify_version = 0;

  static GetRequest From(std::string_view key, const LookupOptions& o);
  LookupOptions options() const;
};
void AppendGet(std::string* out, uint64_t id, uint64_t epoch, uint32_t partition,
               const GetRequest& get);
[[nodiscard]] bool DecodeGet(const Frame& f, GetRequest* get);

// The whole frame, value included; AppendMutateHead leaves the value out (the caller
// sends m.value right after the head).
void AppendMutate(std::string* out, uint64_t id, uint64_t epoch, uint32_t partition,
                  const Mutation& m);
void AppendMutateHead(std::string* out, uint64_t id, uint64_t epoch, uint32_t partition,
                      const Mutation& m);
[[nodiscard]] bool DecodeMutate(const Frame& f, Mutation* m);

void AppendFlushAll(std::string* out, uint64_t id, uint64_t epoch, uint32_t when);
[[nodiscard]] bool DecodeFlushAll(const Frame& f, uint32_t* when);

// Items of one node's partitions; the reply carries each item's cookie, version, taken.
void AppendPutAtomic(std::string* out, uint64_t id, uint64_t epoch,
                     std::span<const BatchPut> items);
// Items with views into the frame's body.
[[nodiscard]] bool DecodePutAtomic(const Frame& f, std::vector<BatchPut>* items);

void AppendStats(std::string* out, uint64_t id, uint64_t epoch);

// ---- Replies (epoch: the node's) ----
// MUTATE, FLUSH_ALL (and PUT_ATOMIC's status) replies.
void AppendResult(std::string* out, FrameOp op, uint64_t id, uint64_t epoch,
                  const MutationResult& r);
// A MUTATE, FLUSH_ALL or PUT_ATOMIC reply into *r; the error text becomes r->error
// (IOError for kError, NoSpace, Unavailable, InvalidArgument as the status says).
[[nodiscard]] bool DecodeMutationResult(const Frame& f, MutationResult* r);

// A GET hit: the value is in the frame; AppendValueHead leaves it out (the caller sends
// meta.size bytes of value after it, e.g. with sendfile).
void AppendValue(std::string* out, uint64_t id, uint64_t epoch, const ObjectView& v);
void AppendValueHead(std::string* out, uint64_t id, uint64_t epoch, const ObjectView& v);
// A kOk GET reply into *v: meta, key, content type and value are views into the frame.
[[nodiscard]] bool DecodeValue(const Frame& f, ObjectView* v);

// A GET that found nothing (kNotFound, kCorruption, kUnavailable, kError: message).
void AppendGetMiss(std::string* out, uint64_t id, uint64_t epoch, WireStatus status,
                   std::string_view message);

void AppendPutAtomicResult(std::string* out, uint64_t id, uint64_t epoch, const MutationResult& r,
                           std::span<const BatchPut> items);
// The result into *r and the items' cookie, version and taken (items as sent).
[[nodiscard]] bool DecodePutAtomicResult(const Frame& f, MutationResult* r,
                                         std::span<BatchPut> items);

void AppendStatsReply(std::string* out, uint64_t id, uint64_t epoch, const ObjectStats& s);
[[nodiscard]] bool DecodeStatsReply(const Frame& f, ObjectStats* s);

// An ERROR frame (WRONG_EPOCH, NOT_HELD, BAD_FRAME, ...): epoch is the node's.
void AppendError(std::string* out, uint64_t id, uint64_t epoch, WireStatus status,
                 std::string_view message);

// A reply's non-kOk status as a Status (the message from the body where it has one).
Status ReplyStatus(const Frame& f);

}  // namespace bale::proto
