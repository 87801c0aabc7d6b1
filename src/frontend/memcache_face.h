// MemcacheService: the memcached text/meta face as a net::Service: one MemcacheHandler
// per connection parses requests in place (proto/memcache_parser.h) and answers them
// with MemcacheCommands, as far as the input goes.
//
// Contract: calls proto's parser, MemcacheCommands and net's service.h/conn.h; knows
// nothing of sockets. Per request: no allocation, one Execute call; requests parsed
// from one read are timed together (memcached_latency). In kSync durability a write's
// reply is held for the loop's group commit (face_loop.h).
#pragma once

#include <memory>
#include <string_view>

#include "frontend/face_loop.h"
#include "frontend/memcache_commands.h"
#include "net/service.h"
#include "proto/memcache_parser.h"

namespace bale {

class MemcacheService final : public net::Service {
 public:
  MemcacheService(MemcacheCommands* commands, const MemcacheSettings* settings, FaceLoops* loops)
      : commands_(commands), loops_(loops) {
    limits_.max_item_size = settings->max_item_size;
  }

  void AttachLoop(net::Loop& loop) override { loops_->Attach(loop); }
  std::unique_ptr<net::Handler> NewHandler(net::Loop& loop, net::Conn& conn) override;
  std::string_view TooManyConnections() const override {
    return "SERVER_ERROR Too many open connections\r\n";
  }

 private:
  friend class MemcacheHandler;
  MemcacheCommands* commands_;
  FaceLoops* loops_;
  proto::ParserLimits limits_;
};

}  // namespace bale
