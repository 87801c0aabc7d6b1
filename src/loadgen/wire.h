// The load generator's wire: one request encoder and one reply parser per protocol.
//
// Protocols and what a get and a set are:
//   text    get <k>                        set <k> 0 0 <n> + value
//   meta    mg <k> v                       ms <k> <n> + value
//   binary  GET (0x00), 24-byte header     SET (0x01), flags 0, expiry 0
//   http    GET /o/<k> (HTTP/1.1, kept alive)   PUT /o/<k> with Content-Length
//   redis   RESP2 array GET <k>            RESP2 array SET <k> <value>
//
// Contract: ParseReply is a pure function of its input, which starts at the first byte
// of the reply to a request of kind `op`. It answers kIncomplete until the whole reply
// is there (with `needed`, the size the input must reach before another try is worth
// it, when the reply's length is known), then the reply's kind and the bytes it took;
// a hit's value is a view into the input. kBad is a reply that breaks the protocol or
// does not answer the request: the caller must close the connection, as the stream can
// no longer be framed. Memcached's ERROR and CLIENT_ERROR, binary statuses that blame
// the request and HTTP 4xx (but a get's 404) are client errors; SERVER_ERROR, other
// statuses, a refused store (NOT_STORED, NS, ...), HTTP 5xx and every Redis error
// reply (`-ERR ...`, `-OOM ...`) are server errors. Redis answers a set `+OK` and a
// get a bulk string (`$<n>`, data) or the null bulk string `$-1` (a miss); any other
// Redis reply is kBad.
// Nothing allocates but the encoders' appends.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

namespace bale::loadgen {

enum class Protocol { kText, kMeta, kBinary, kHttp, kRedis };
enum class Op : uint8_t { kGet, kSet };

std::string_view ProtocolName(Protocol p);

// Appends the request. `opaque` is carried by binary requests (the reply echoes it);
// `host` is HTTP's Host header. A get ignores `value`.
void AppendRequest(Protocol p, Op op, std::string_view key, std::string_view value, uint32_t opaque,
                   std::string_view host, std::string* out);

enum class ReplyKind : uint8_t {
  kIncomplete,
  kHit,     // a get found its value
  kMiss,    // a get found nothing
  kStored,  // a set was stored
  kServerError,
  kClientError,
  kBad,
};

struct Reply {
  ReplyKind kind = ReplyKind::kIncomplete;
  size_t consumed = 0;     // complete replies: bytes of the input they took
  size_t needed = 0;       // kIncomplete: the input must reach this size (0: any more)
  std::string_view value;  // kHit
  std::string_view key;    // text kHit: the key its VALUE line names
  uint32_t opaque = 0;     // binary: as the reply carries it
  bool close = false;      // http: the server closes the connection after this reply
};

[[nodiscard]] Reply ParseReply(Protocol p, Op op, std::string_view input);

}  // namespace bale::loadgen
