// MemcacheCommands: executes parsed memcached requests against the Store and writes
// memcached's replies. Shared by every front end that speaks memcached.
//
// Contract: Execute appends the complete reply for one request to *out (nothing for
// noreply or a quiet meta hit) and never throws. Store errors become
// "SERVER_ERROR <reason>"; a damaged object reads as a miss (counted in corrupt_reads),
// never as wrong bytes; a key of a partition that is unavailable (store/volume.h) is not
// a miss: the request answers "SERVER_ERROR partition N unavailable: <why>" (a multi-get
// that names one answers that alone). In kSync durability the writes are not waited for here: the
// volumes written are added to *dirty, and the caller syncs them (one fdatasync per
// volume for a whole batch of requests) before sending the replies.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "frontend/server_stats.h"
#include "net/file_send.h"
#include "proto/memcache_request.h"
#include "store/store.h"

namespace bale {

using net::FileSend;
// Values from this size go out by sendfile from their segment, not copied into the reply.
inline constexpr size_t kSendfileBytes = 64 << 10;

struct MemcacheSettings {
  uint32_t max_item_size = 1024 * 1024;
  bool disable_flush_all = false;
  uint32_t max_connections = 1024;
  uint16_t port = 11211;
  int threads = 2;
  uint32_t idle_timeout_s = 0;
  std::string data_dir;
  Durability durability = Durability::kInterval;
  bool io_uring = false;  // socket I/O batched through io_uring (net/io_batch.h)
};

// Volumes written by a batch of requests, to sync before replying (kSync).
class DirtyVolumes {
 public:
  void Add(Volume* v) {
    for (Volume* d : list_) {
      if (d == v) return;
    }
    list_.push_back(v);
  }
  bool empty() const { return list_.empty(); }
  // Syncs every volume, in parallel; the first error is returned, the set is cleared
  // either way.
  Status SyncAll(bale::Store* store);

 private:
  std::vector<Volume*> list_;
};

// The server-wide view that `stats` reports.
class StatsSource {
 public:
  virtual ~StatsSource() = default;
  virtual void Sum(ThreadStats* total) const = 0;
  virtual void Reset() = 0;
  virtual uint64_t uptime_s() const = 0;
  // Bytes of HTTP request bodies held now, drawn from --http-body-budget.
  virtual uint64_t http_body_bytes() const = 0;
};

enum class Outcome { kContinue, kClose };

class MemcacheCommands {
 public:
  MemcacheCommands(Store* store, const MemcacheSettings* settings, StatsSource* stats_source)
      : store_(store), settings_(settings), stats_source_(stats_source) {}

  // `files`, when given, takes the values of kSendfileBytes or more that get, gets, gat
  // and gats return (FileSend at their place in *out) instead of copies: a multi-get
  // naming a large object thousands of times then costs memory per mention, not per
  // byte. Null: values are copied into *out.
  Outcome Execute(const proto::Request& req, std::string* out, ThreadStats* stats,
                  DirtyVolumes* dirty, std::vector<FileSend>* files = nullptr);

  static constexpr std::string_view kVersion = "1.6.18-bale-0.1.0";

 private:
  void Retrieve(const proto::Request& req, std::string* out, ThreadStats* st, DirtyVolumes* d,
                std::vector<FileSend>* files);
  void Storage(const proto::Request& req, std::string* out, ThreadStats* st, DirtyVolumes* d);
  void Delete(const proto::Request& req, std::string* out, ThreadStats* st, DirtyVolumes* d);
  void Arithmetic(const proto::Request& req, std::string* out, ThreadStats* st, DirtyVolumes* d);
  void Touch(const proto::Request& req, std::string* out, ThreadStats* st, DirtyVolumes* d);
  void FlushAll(const proto::Request& req, std::string* out, ThreadStats* st);
  void Stats(const proto::Request& req, std::string* out);
  // Meta commands (meta_commands.cc).
  void MetaGet(const proto::Request& req, std::string* out, ThreadStats* st, DirtyVolumes* d);
  void MetaSet(const proto::Request& req, std::string* out, ThreadStats* st, DirtyVolumes* d);
  void MetaDelete(const proto::Request& req, std::string* out, ThreadStats* st, DirtyVolumes* d);
  void MetaArithmetic(const proto::Request& req, std::string* out, ThreadStats* st,
                      DirtyVolumes* d);
  void MetaDebug(const proto::Request& req, std::string* out);

  // Gives the key's object a new expiry with a small touch record, not a copy of its
  // value (touch, gat, mg T); NotFound if none.
  Status SetExpiry(Volume* v, std::string_view key, uint32_t expiry, DirtyVolumes* dirty);
  uint32_t Now() const;
  bool Sync() const { return settings_->durability == Durability::kSync; }
  // Appends "SERVER_ERROR <reason>" for a store failure.
  static void ServerError(const Status& s, std::string* out, ThreadStats* st);

  bale::Store* store_;
  const MemcacheSettings* settings_;
  StatsSource* stats_source_;
};

// Parses a stored value as memcached's incr/decr do: decimal digits, optionally
// followed by spaces (decr leaves none, but memcached may). False if not a number.
bool ParseCounter(std::string_view value, uint64_t* out);

}  // namespace bale
