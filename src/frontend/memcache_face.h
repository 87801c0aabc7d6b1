// MemcacheService: the memcached face as a net::Service: one MemcacheHandler per
// connection parses requests in place and answers them, as far as the input goes. The
// protocol is chosen per connection by its first byte, as memcached does: 0x80 (the
// binary request magic) means the binary protocol (proto/memcache_binary.h, answered by
// BinaryCommands), anything else the text and meta protocols (proto/memcache_parser.h,
// answered by MemcacheCommands).
//
// Contract: calls proto's parsers, MemcacheCommands, BinaryCommands and net's
// service.h/conn.h; knows nothing of sockets. Per request: no allocation, one Execute
// call; requests parsed from one read are timed together (memcached_latency). In kSync
// durability a write's reply is held for the loop's group commit (face_loop.h), in
// either protocol. Over a session that batches rounds (a router's, object_store.h) a
// request that calls the store runs twice: speculatively when read, recording its
// calls, and for real at the round's end, answered from the round's replies; its reply,
// and every later one of its connection in that round, is held until then.
#pragma once

#include <memory>
#include <string_view>

#include "frontend/binary_commands.h"
#include "frontend/face_loop.h"
#include "frontend/memcache_commands.h"
#include "net/service.h"
#include "proto/memcache_parser.h"

namespace bale {

class MemcacheService final : public net::Service, public FaceReplay {
 public:
  MemcacheService(ObjectStore* store, MemcacheCommands* commands, const MemcacheSettings* settings,
                  FaceLoops* loops)
      : commands_(commands), binary_(store, commands, settings), loops_(loops) {
    limits_.max_item_size = settings->max_item_size;
  }

  void AttachLoop(net::Loop& loop) override { loops_->Attach(loop); }
  std::unique_ptr<net::Handler> NewHandler(net::Loop& loop, net::Conn& conn) override;
  std::string_view TooManyConnections() const override {
    return "SERVER_ERROR Too many open connections\r\n";
  }

  // One request parsed from the front of the input and answered into *out.
  struct Step {
    enum Kind { kIncomplete, kDone, kCloseNow, kCloseAfterReplies } kind = kIncomplete;
    size_t consumed = 0;
    uint64_t swallow = 0;   // bytes of an oversized value after `consumed` to discard
    bool executed = false;  // a request was executed (not a parse error)
    Outcome outcome = Outcome::kContinue;
  };
  Step Run(bool binary, std::string_view input, std::string* out, ThreadStats* stats,
           ObjectSession* session, std::vector<FileSend>* files, FaceLoop& fl) const;
  void Replay(const DeferredRequests& d, std::string* out, FaceLoop& fl) const override;

 private:
  friend class MemcacheHandler;
  Step RunText(std::string_view input, std::string* out, ThreadStats* stats, ObjectSession* session,
               std::vector<FileSend>* files, FaceLoop& fl) const;
  Step RunBinary(std::string_view input, std::string* out, ThreadStats* stats,
                 ObjectSession* session, std::vector<FileSend>* files) const;
  MemcacheCommands* commands_;
  BinaryCommands binary_;
  FaceLoops* loops_;
  proto::ParserLimits limits_;
};

}  // namespace bale
