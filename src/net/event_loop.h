// EventLoop: one thread's epoll loop and the connections it owns, of both protocols
// (server.h). A connection's protocol is fixed by the port that accepted it; reading,
// writing, backpressure, group commit and closing are shared, only Process differs.
#pragma once

#include <cstdint>
#include <ctime>
#include <memory>
#include <mutex>
#include <string>
#include <unordered_map>
#include <vector>

#include "frontend/http_routes.h"
#include "net/io_batch.h"
#include "net/server.h"
#include "proto/http_request.h"

namespace bale::net {

enum class Protocol : uint8_t { kMemcache, kHttp };

struct HttpState {
  explicit HttpState(const proto::HttpLimits& limits) : parser(limits) {}
  proto::HttpRequestParser parser;
  proto::HttpRequest request;
  time_t request_started = 0;  // when the request in progress began (408 after timeout)
};

struct Connection {
  int fd = -1;
  Protocol protocol = Protocol::kMemcache;
  std::unique_ptr<HttpState> http;
  std::string in;
  size_t in_start = 0;  // parsed up to here
  std::string out;
  size_t out_sent = 0;
  std::vector<FileSend> files;  // values sent with sendfile, in place in `out`
  uint64_t swallow = 0;         // bytes of an oversized value still to discard
  bool close_after_flush = false;
  bool peer_closed = false;  // read() said end of stream
  // HTTP close after a reply: our side is shut down and input discarded until the peer
  // closes or linger_until passes, so that a client still sending (a refused upload)
  // reads its reply instead of a reset.
  bool lingering = false;
  time_t linger_until = 0;
  bool paused = false;         // not reading: too much unsent output
  bool in_round = false;       // listed in round_: its replies go out when the round ends
  bool peer_loopback = false;  // the peer's address is in 127.0.0.0/8
  uint32_t events = 0;         // the epoll interest registered now
  time_t last_active = 0;
};

class EventLoop {
 public:
  // listen_fd: the memcached port; http_listen_fd: the HTTP port, or -1.
  EventLoop(Server* server, int listen_fd, int http_listen_fd);
  ~EventLoop();
  // Also opens the loop's io_uring ring, when the server asks for one: see ring_status.
  Status Init();
  // Why the ring could not be opened (OK if it was, or was not asked for).
  const Status& ring_status() const { return ring_status_; }
  void CloseRing() { io_.Close(); }  // before Run: plain system calls
  void Run();
  void Wake();  // from another thread: look at server->stopping_ and the inbox
  // From another loop: take over an accepted connection (connections are dealt out
  // round-robin, as memcached's dispatcher does, rather than as the kernel hashes them).
  void Adopt(int fd, Protocol protocol);
  ThreadStats& stats() { return stats_; }
  const ThreadStats& stats() const { return stats_; }

 private:
  void Accept(int listen_fd, Protocol protocol);
  void AddConnection(int fd, Protocol protocol);
  void TakeInbox();
  // Reads until the socket is drained (or kMaxReadPerEvent); `total`: read so far.
  void OnReadable(Connection* c, size_t total = 0);
  void ReadBatch();
  bool TakeRead(Connection* c, ssize_t r, const char* data, size_t cap, size_t* total);
  // Parses and answers what the connection has buffered, or, when `fresh` is given,
  // the bytes just read (c->in empty): they are parsed in place, without a copy.
  void Process(Connection* c, std::string_view fresh = {});
  size_t ExecuteMemcache(Connection* c, std::string_view input);
  void ProcessHttp(Connection* c);
  bool OutputFull(Connection* c);
  void Flush(Connection* c);
  // Sends the front of c->files, at most *budget bytes (taken off it); false if the
  // socket is full, the budget spent before the file's end, or the connection closed.
  bool SendFile(Connection* c, size_t* budget);
  static bool Unsent(const Connection* c) {
    return c->out_sent < c->out.size() || !c->files.empty();
  }
  void UpdateInterest(Connection* c);
  void Close(Connection* c);
  void StartLinger(Connection* c);
  void Discard(Connection* c);
  void KickIdle(time_t now);
  void Drain();
  void FinishRound();
  // Sends the round's replies through the IoBatch; Flush then finishes each connection.
  void SendRound(const std::vector<Connection*>& round);
  void RunSends();
  void ReapClosed();

  Server* server_;
  int listen_fd_;
  int http_listen_fd_;
  int epoll_fd_ = -1;
  int wake_fd_ = -1;
  std::mutex inbox_mu_;
  std::vector<std::pair<int, Protocol>> inbox_;  // guarded by inbox_mu_
  bool listening_ = false;
  std::unordered_map<int, std::unique_ptr<Connection>> conns_;
  std::vector<Connection*> round_;     // connections with new output this round
  std::vector<Connection*> flushing_;  // FinishRound's copy of round_ (capacity reused)
  std::vector<int> closed_;            // closed this round, erased at its end
  std::unique_ptr<char[]> read_buf_;
  std::vector<Connection*> readable_;       // this batch's connections to read through io_
  std::unique_ptr<char[]> recv_slots_;      // one slot per readable_ connection (with io_)
  std::unique_ptr<ObjectSession> session_;  // reads and writes awaiting the round's Commit
  ThreadStats stats_;
  proto::Request req_;
  proto::HttpLimits http_limits_;
  HttpScratch http_scratch_;
  time_t last_idle_check_ = 0;
  IoBatch io_;  // open when the kernel allows io_uring and it is not turned off
  Status ring_status_;
};

}  // namespace bale::net
