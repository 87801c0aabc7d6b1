// Request: one memcached text or meta command, as the parser hands it to the commands.
//
// Views (key, keys, data, args) point into the connection's input buffer and are valid
// until the connection consumes the bytes the parser reported.
#pragma once

#include <cstdint>
#include <string_view>

namespace bale::proto {

enum class Command : uint8_t {
  kGet,
  kGets,
  kGat,
  kGats,
  kSet,
  kAdd,
  kReplace,
  kAppend,
  kPrepend,
  kCas,
  kDelete,
  kIncr,
  kDecr,
  kTouch,
  kFlushAll,
  kStats,
  kVersion,
  kVerbosity,
  kQuit,
  kShutdown,
  kCacheMemlimit,
  kSlabs,  // slabs reassign|automove: args holds the rest of the line
  kMetaGet,
  kMetaSet,
  kMetaDelete,
  kMetaArithmetic,
  kMetaNoop,
  kMetaDebug,
};

inline bool IsStorage(Command c) { return c >= Command::kSet && c <= Command::kCas; }
inline bool IsRetrieval(Command c) { return c <= Command::kGats; }  // get gets gat gats

struct Request {
  Command command = Command::kGet;
  std::string_view key;   // single-key commands and meta commands
  std::string_view keys;  // get/gets/gat/gats: the space-separated key list
  std::string_view data;  // storage commands and ms: the data block (without \r\n)
  std::string_view args;  // stats: its argument; meta: the flag tokens
  uint32_t flags = 0;
  int64_t exptime = 0;
  uint64_t cas = 0;
  uint64_t delta = 0;  // incr/decr
  uint32_t bytes = 0;  // declared data length
  int64_t number = 0;  // flush_all delay, verbosity level, cache_memlimit
  bool has_number = false;
  bool noreply = false;
  bool too_large = false;  // a storage command over the item size limit: data swallowed
};

}  // namespace bale::proto
