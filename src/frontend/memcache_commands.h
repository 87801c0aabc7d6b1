// MemcacheCommands: executes parsed memcached requests (classic and meta) against an
// ObjectStore (frontend/object_store.h) and writes memcached's replies. Shared by every
// front end that speaks memcached. May call: the ObjectStore interface, proto/, base/,
// net/file_send.h; never a Store, Volume or needle (scripts/check_layers).
//
// Contract: Execute appends the complete reply for one request to *out (nothing for
// noreply or a quiet meta hit; given a GetPart, that part of a multi-get's) and never
// throws. Store errors become
// "SERVER_ERROR <reason>"; a damaged object reads as a miss (counted in corrupt_reads),
// never as wrong bytes; a key of a partition that is unavailable is not a miss: the
// request answers "SERVER_ERROR partition N unavailable: <why>" (a multi-get that names
// one answers that alone, or, answered in parts, ends with it: GetPart). Writes go through
// `session`: when the store's durability_sync() is true the caller must Commit the session (one
// fdatasync per written volume for a whole batch of requests) before sending the replies. Classic
// and meta commands map their requests to the same Mutations: each mutation has one implementation,
// the store's.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "frontend/face_settings.h"
#include "frontend/object_store.h"
#include "frontend/server_stats.h"
#include "net/file_send.h"
#include "net/service.h"
#include "proto/memcache_request.h"

namespace bale {

// A multi-get (get, gets, gat, gats) answered a part at a time, so that its reply is
// never built whole (memcache_face.h resumes it as the client reads): Execute answers
// the keys of req.keys from `from` on, at most max_keys of them, and stops after the key
// that brings the part's reply to max_bytes (values sent by reference not counted).
// `next` says where the following part starts; `done` that no key is left: then the
// reply ends with END, unless `last` is false (more keys follow req.keys elsewhere).
// A key whose partition is unavailable ends the reply: the part's values are taken back
// and the error line takes their place (`failed`); the keys after it are not answered.
// Earlier parts, already sent, stand.
struct GetPart {
  size_t from = 0;
  size_t max_keys = SIZE_MAX;
  size_t max_bytes = SIZE_MAX;
  bool last = true;
  // Out.
  size_t next = 0;
  size_t keys = 0;  // answered
  bool done = false;
  bool failed = false;
};
// A part's bounds when a face answers a multi-get as its client reads.
inline constexpr size_t kMultiGetPartKeys = 64;
inline constexpr size_t kMultiGetPartBytes = 256 << 10;
// Where a part's values are not known when it runs (a round's speculative run, frontend/
// object_store.h), the first part of a multi-get of more than kMultiGetPartKeys keys
// takes this many, and each later part as many as the one before says fit
// kMultiGetPartBytes.
inline constexpr size_t kMultiGetFirstPartKeys = 4;

class MemcacheCommands {
 public:
  MemcacheCommands(ObjectStore* store, const MemcacheSettings* settings, StatsSource* stats_source)
      : store_(store), settings_(settings), stats_source_(stats_source) {}

  // `files`, when given, takes the values of kSendfileBytes or more that get, gets, gat
  // and gats return (FileSend at their place in *out) instead of copies. Null: values
  // are copied into *out. `part`, for get, gets, gat and gats: only that part of the
  // multi-get is answered (GetPart); null: all of it.
  Outcome Execute(const proto::Request& req, std::string* out, ThreadStats* stats,
                  ObjectSession* session, std::vector<FileSend>* files = nullptr,
                  GetPart* part = nullptr);

  static constexpr std::string_view kVersion = kServerVersion;

 private:
  void Retrieve(const proto::Request& req, std::string* out, ThreadStats* st, ObjectSession* se,
                std::vector<FileSend>* files, GetPart* part);
  void Storage(const proto::Request& req, std::string* out, ThreadStats* st, ObjectSession* se);
  void Delete(const proto::Request& req, std::string* out, ThreadStats* st, ObjectSession* se);
  void Arithmetic(const proto::Request& req, std::string* out, ThreadStats* st, ObjectSession* se);
  void Touch(const proto::Request& req, std::string* out, ThreadStats* st, ObjectSession* se);
  void FlushAll(const proto::Request& req, std::string* out, ThreadStats* st, ObjectSession* se);
  // stats and slabs (stats_command.cc).
  void Stats(const proto::Request& req, std::string* out);
  void GeneralStats(std::string* out);
  void SettingsStats(std::string* out);
  void ConnStats(std::string* out);
  void ItemStats(const ThreadStats& t, const ObjectStats& ss, std::string* out);
  void SlabStats(const ThreadStats& t, const ObjectStats& ss, std::string* out);
  void Slabs(const proto::Request& req, std::string* out);
  static constexpr long kSlabClasses = 64;   // memcached's MAX_NUMBER_OF_SLAB_CLASSES
  static constexpr long kLargestClass = 39;  // memcached 1.6.18's with -I 1m, -f 1.25
  // Meta commands (meta_commands.cc).
  void MetaGet(const proto::Request& req, std::string* out, ThreadStats* st, ObjectSession* se);
  void MetaSet(const proto::Request& req, std::string* out, ThreadStats* st, ObjectSession* se);
  void MetaDelete(const proto::Request& req, std::string* out, ThreadStats* st, ObjectSession* se);
  void MetaArithmetic(const proto::Request& req, std::string* out, ThreadStats* st,
                      ObjectSession* se);
  void MetaDebug(const proto::Request& req, std::string* out, ObjectSession* se);

  uint32_t Now() const;
  // Appends "SERVER_ERROR <reason>" for a store failure.
  static void ServerError(const Status& s, std::string* out, ThreadStats* st);
  // The same for a mutation that failed in the store (kNoSpace, kUnavailable, kError).
  static void ServerError(const MutationResult& r, std::string* out, ThreadStats* st) {
    ServerError(r.error, out, st);
  }

  ObjectStore* store_;
  const MemcacheSettings* settings_;
  StatsSource* stats_source_;
};

}  // namespace bale
