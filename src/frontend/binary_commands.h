// BinaryCommands: executes memcached binary-protocol requests (proto/memcache_binary.h)
// against an ObjectStore and writes memcached's binary replies. May call: the
// ObjectStore interface, proto/, base/, net/file_send.h and MemcacheCommands (for
// `stats`, whose text it turns into key/value packets); never a Store, Volume or needle
// (scripts/check_layers).
//
// Contract: Execute appends the complete reply for one request to *out (nothing for a
// quiet request that succeeded, or a quiet get that missed; errors are always answered)
// and never throws. Each opcode maps to the same Mutation (or Get, FlushAll) as its text
// command, so each mutation has one implementation, the store's; limits (item size,
// --disable-flush-all) and expiry rules (base/expiry.h) are the text protocol's. Store
// failures answer status 0x0082 with the reason as the body; a damaged object reads as
// a miss; a key of an unavailable partition is an error, never a miss. When the store's
// durability_sync() is true the caller holds the reply until the session's Commit, as
// for the text protocol (face_loop.h).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "frontend/memcache_commands.h"
#include "frontend/object_store.h"
#include "frontend/server_stats.h"
#include "net/file_send.h"
#include "proto/memcache_binary.h"

namespace bale {

class BinaryCommands {
 public:
  // `text` answers STAT (its `stats` output, as packets).
  BinaryCommands(ObjectStore* store, MemcacheCommands* text, const MemcacheSettings* settings)
      : store_(store), text_(text), settings_(settings) {}

  // `files`, when given, takes the values of kSendfileBytes or more that get and gat
  // return (FileSend at their place in *out) instead of copies.
  Outcome Execute(const proto::BinaryRequest& req, std::string* out, ThreadStats* stats,
                  ObjectSession* session, std::vector<FileSend>* files = nullptr) const;

 private:
  void Retrieve(const proto::BinaryRequest& req, std::string* out, ThreadStats* st,
                ObjectSession* se, std::vector<FileSend>* files) const;
  void Store(const proto::BinaryRequest& req, std::string* out, ThreadStats* st,
             ObjectSession* se) const;
  void Delete(const proto::BinaryRequest& req, std::string* out, ThreadStats* st,
              ObjectSession* se) const;
  void Arithmetic(const proto::BinaryRequest& req, std::string* out, ThreadStats* st,
                  ObjectSession* se) const;
  void Flush(const proto::BinaryRequest& req, std::string* out, ThreadStats* st,
             ObjectSession* se) const;
  void Stat(const proto::BinaryRequest& req, std::string* out, ThreadStats* st,
            ObjectSession* se) const;

  ObjectStore* store_;
  MemcacheCommands* text_;
  const MemcacheSettings* settings_;
};

}  // namespace bale
