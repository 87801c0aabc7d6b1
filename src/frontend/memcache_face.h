// MemcacheService: the memcached face as a net::Service: one MemcacheHandler per
// connection parses requests in place and answers them, as far as the input goes. The
// protocol is chosen per connection by its first byte, as memcached does: 0x80 (the
// binary request magic) means the binary protocol (proto/memcache_binary.h, answered by
// BinaryCommands), anything else the text and meta protocols (proto/memcache_parser.h,
// answered by MemcacheCommands).
//
// Contract: calls proto's parsers, MemcacheCommands, BinaryCommands and net's
// service.h/conn.h; knows nothing of sockets. Per request: no allocation, one Execute
// call (a multi-get: one a part); requests parsed from one read are timed together
// (memcached_latency). In kSync durability a write's reply is held for the loop's group
// commit (face_loop.h), in either protocol. Over a session that batches rounds (a
// router's, object_store.h) a request that calls the store runs twice: speculatively
// when read, recording its calls, and for real at the round's end, answered from the
// round's replies; its reply, and every later one of its connection in that round, is
// held until then.
//
// Memory: a text multi-get (get, gets, gat, gats) is answered a part at a time
// (GetPart: kMultiGetPartKeys keys, or kMultiGetPartBytes of copied reply), each part
// once the connection's output has room (net::Conn::OutputFull), so that a connection
// holds at most max_output_bytes of unsent reply plus one part, whatever the get names;
// its request stays at the front of the input until its last part (OpenGet). Batching
// rounds, a round runs at most one part of it (one call a key), sized by the values the
// part before returned (kMultiGetFirstPartKeys); the next part waits until the replies
// are sent. The meta and binary protocols name one key a request.
#pragma once

#include <memory>
#include <string_view>

#include "frontend/binary_commands.h"
#include "frontend/face_loop.h"
#include "frontend/memcache_commands.h"
#include "net/service.h"
#include "proto/memcache_parser.h"

namespace bale {

// A text multi-get answered a part at a time: what its request is, as offsets into the
// input that begins with it, and where its next part starts.
struct OpenGet {
  proto::Command command = proto::Command::kGet;
  int64_t exptime = 0;
  size_t consumed = 0;  // the request's bytes; 0: no multi-get is open
  size_t keys_at = 0;   // its key list, within them
  size_t keys_size = 0;
  size_t next = 0;  // the next part's first key, in the key list
  // A replayed part ended the reply with an error: the rest goes unanswered.
  bool failed = false;
  // The keys the next part takes (sized by the handler where the values are not known
  // when a part runs: kMultiGetFirstPartKeys).
  size_t part_keys = kMultiGetPartKeys;
  bool open() const { return consumed > 0; }
};

class MemcacheService final : public net::Service {
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

  // One request parsed from the front of the input and answered into *out; or, with
  // `get`, kPart: a part of the multi-get there answered, nothing consumed, the rest
  // for the next runs (*get says where they go on).
  struct Step {
    enum Kind { kIncomplete, kDone, kPart, kCloseNow, kCloseAfterReplies } kind = kIncomplete;
    size_t consumed = 0;
    uint64_t swallow = 0;   // bytes of an oversized value after `consumed` to discard
    bool executed = false;  // a request (or a part) was executed (not a parse error)
    Outcome outcome = Outcome::kContinue;
  };
  Step Run(bool binary, std::string_view input, std::string* out, ThreadStats* stats,
           ObjectSession* session, std::vector<FileSend>* files, FaceLoop& fl,
           OpenGet* get = nullptr) const;
  // Runs `d`'s requests again, for real. The one at `open_part_at` in d.bytes (npos:
  // none) is a part of a multi-get that goes on in a later round: answered without END;
  // *part says how (an error instead ends the reply).
  struct ReplayedPart {
    size_t keys = 0;
    size_t bytes = 0;  // of its reply
    bool failed = false;
  };
  void Replay(const DeferredRequests& d, std::string* out, FaceLoop& fl, size_t open_part_at,
              ReplayedPart* part) const;
  // Appends a request for the keys [from, to) of `req`'s key list, as a line
  // ParseRequest takes (no longer than req's own), to *out.
  static void AppendPart(const proto::Request& req, size_t from, size_t to, std::string* out);

 private:
  friend class MemcacheHandler;
  Step RunText(std::string_view input, std::string* out, ThreadStats* stats, ObjectSession* session,
               std::vector<FileSend>* files, FaceLoop& fl, OpenGet* get) const;
  Step RunBinary(std::string_view input, std::string* out, ThreadStats* stats,
                 ObjectSession* session, std::vector<FileSend>* files) const;
  MemcacheCommands* commands_;
  BinaryCommands binary_;
  FaceLoops* loops_;
  proto::ParserLimits limits_;
};

}  // namespace bale
