// HttpRoutes: bale's HTTP face (docs/http.md) over the same ObjectStore the memcached
// commands use (frontend/object_store.h; never a Store, Volume or needle): objects by key
// (/o/{key}), public URLs guarded by cookies
// (/{partition}/{key}/{cookie}), server-named uploads (POST /o), batch uploads
// (POST /batch), /metrics and /status.
//
// Contract: Handle appends one complete HTTP/1.1 response for one parsed request to
// *out and never throws; it returns kClose when the connection must close after the
// response. Store failures become 500 (507 for a full disk, 503 for a key of an
// unavailable partition) with a JSON reason; a damaged object reads as missing. Writes
// follow the memcached commands' rule: they go through scratch->session, and when the
// store's durability_sync() is true the event loop Commits the session before sending
// the round's replies (group commit).
#pragma once

#include <cstdint>
#include <ctime>
#include <functional>
#include <string>
#include <string_view>
#include <vector>

#include "frontend/face_settings.h"
#include "frontend/object_store.h"
#include "frontend/server_stats.h"
#include "net/file_send.h"
#include "proto/http_request.h"

namespace bale {

struct HttpSettings {
  uint64_t max_body_bytes = 64 << 20;
  // Request bodies held in memory at once, all connections together (503 beyond).
  uint64_t body_budget_bytes = 256 << 20;
  uint32_t timeout_s = 30;
  bool public_only = false;     // serve only public URLs, /metrics and /status
  bool admin_from_any = false;  // /admin/... from any address, not only loopback
  uint16_t port = 8080;         // as bound, for /status
};

// A random 64-bit number for a server-chosen object id.
uint64_t NewObjectId();

inline constexpr size_t kMaxBatchParts = 10000;  // objects in one POST /batch

// What one event-loop thread lends the routes: counters, its object-store session
// (read buffer, writes to commit), and buffers reused across requests.
struct HttpScratch {
  ThreadStats* stats = nullptr;
  ObjectSession* session = nullptr;
  ObjectView view;
  bool peer_loopback = true;  // the request's connection comes from 127.0.0.0/8
  // Where large bodies go (the connection's queue); null: bodies are always copied.
  std::vector<FileSend>* files = nullptr;
  std::string key;
  std::string text;
  time_t date_second = 0;
  char date[32] = {};
  size_t date_len = 0;
};

class HttpRoutes {
 public:
  HttpRoutes(ObjectStore* store, const HttpSettings* http, const MemcacheSettings* settings,
             StatsSource* stats_source)
      : store_(store), http_(http), settings_(settings), stats_source_(stats_source) {}

  Outcome Handle(const proto::HttpRequest& req, std::string* out, HttpScratch* scratch);

  // The response to a request that could not be parsed, took too long, or whose body
  // the memory budget cannot hold (400, 408, 413, 431, 503 with Retry-After); the
  // connection closes after it.
  static void AppendError(int status, std::string* out, HttpScratch* scratch);

  // Where server-chosen object ids (POST /o, POST /batch) come from; NewObjectId unless
  // a test sets another.
  void set_id_source(std::function<uint64_t()> source) { id_source_ = std::move(source); }

 private:
  struct Reply;  // a response under construction (http_routes.cc)

  void Dispatch(const proto::HttpRequest& req, Reply* r);
  void ObjectRead(const proto::HttpRequest& req, std::string_view key, bool is_public,
                  uint64_t cookie, Reply* r);
  void SendObject(const proto::HttpRequest& req, const ObjectView& obj, bool is_public, Reply* r);
  void ObjectPut(const proto::HttpRequest& req, std::string_view key, Reply* r);
  void ObjectPost(const proto::HttpRequest& req, Reply* r);
  void ObjectDelete(std::string_view key, Reply* r);
  void Batch(const proto::HttpRequest& req, Reply* r);  // http_batch.cc
  void Metrics(Reply* r);                               // http_metrics.cc
  void StatusJson(Reply* r);                            // http_metrics.cc
  void AdminCompact(Reply* r);                          // http_metrics.cc

  // Reads the write options a request carries (X-Bale-Flags, X-Bale-Expires,
  // Content-Type); false (with a 400 in *r) if one is malformed.
  bool WriteOptions(const proto::HttpRequest& req, Mutation* m, Reply* r) const;
  // The JSON description of a stored object ({"key", "size", "etag", "cookie", "url",
  // "partition", "version"}), appended to *out.
  void ObjectJson(std::string_view key, uint64_t size, uint64_t version, uint64_t cookie,
                  std::string* out) const;
  // "/{partition}/{key}/{cookie}" for a key.
  void PublicUrl(std::string_view key, uint64_t cookie, std::string* out) const;
  uint32_t Now() const;
  std::string NewId() const { return std::to_string(id_source_ ? id_source_() : NewObjectId()); }

  ObjectStore* store_;
  const HttpSettings* http_;
  const MemcacheSettings* settings_;
  StatsSource* stats_source_;
  std::function<uint64_t()> id_source_;
};

// True if `key` obeys memcached's key rules: 1..250 bytes, no spaces or control bytes.
bool IsValidKey(std::string_view key);

}  // namespace bale
