// EventLoop: one thread's epoll loop and the connections it owns (server.h). A
// connection's Handler is made by the Service of the listener that accepted it; reading,
// writing, backpressure, held replies, round hooks, timeouts and closing are the loop's,
// parsing and answering the Handler's.
//
// Contract: knows no protocol and no store (no include of proto/, frontend/, store/,
// format/). Calls Handlers and Services only through service.h.
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <ctime>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <unordered_map>
#include <utility>
#include <vector>

#include "net/conn.h"
#include "net/io_batch.h"
#include "net/service.h"

namespace bale::net {

class Server;

class EventLoop final : public Loop {
 public:
  // listen_fds: one per listener (-1: none on this loop), in the server's order.
  EventLoop(Server* server, int index, std::vector<int> listen_fds);
  ~EventLoop() override;
  // Also opens the loop's io_uring ring, when the server asks for one: see ring_status.
  [[nodiscard]] Status Init();
  // Why the ring could not be opened (OK if it was, or was not asked for).
  const Status& ring_status() const { return ring_status_; }
  void CloseRing() { io_.Close(); }  // before Run: plain system calls
  void Run();
  void Wake();  // from another thread: look at the server's stopping flag and the inbox
  // From another loop: take over an accepted connection (connections are dealt out
  // round-robin, as memcached's dispatcher does, rather than as the kernel hashes them).
  void Adopt(int fd, size_t listener);
  const NetCounters& counters(size_t listener) const { return counters_[listener]; }
  NetCounters& counters(size_t listener) { return counters_[listener]; }
  // Loop thread only: appends the loop's open connections (Server::Connections).
  void ListConnections(std::vector<ConnInfo>* out) const;
  // Whether the calling thread is this loop's.
  bool on_loop_thread() const;

  // Loop
  int index() const override { return index_; }
  void Post(std::function<void()> fn) override;
  std::string* Slot(const Ticket& ticket) override;
  void Release(const Ticket& ticket) override;
  void Fail(const Ticket& ticket) override;
  void AddRoundHook(RoundHook* hook) override { hooks_.push_back(hook); }

 private:
  friend class Conn;
  static constexpr size_t kReadChunk = 64 << 10;  // the loop's read buffer
  void Accept(size_t listener);
  void AddConnection(int fd, size_t listener);
  void TakeInbox();
  // Reads until the socket is drained (or kMaxReadPerEvent); `total`: read so far.
  void OnReadable(Conn* c, size_t total = 0);
  void ReadBatch();
  bool TakeRead(Conn* c, ssize_t r, const char* data, size_t cap, size_t* total);
  // Hands the handler what the connection has buffered, or, when `fresh` is given, the
  // bytes just read (nothing buffered): they are parsed in place, without a copy.
  void Process(Conn* c, std::string_view fresh = {});
  void AddToRound(Conn* c);
  void Flush(Conn* c);
  // Sends the front of the head piece's files, at most *budget bytes (taken off it);
  // false if the socket is full, the budget spent before the file's end, or it closed.
  bool SendFile(Conn* c, size_t* budget);
  void UpdateInterest(Conn* c);
  // TLS connections (event_loop_tls.cc): the handshake then records, instead of read(2).
  void OnTlsReadable(Conn* c, size_t total);
  // One write of c's output (send(2), or a TLS record): bytes written, or -errno
  // (-EAGAIN: when the socket is writable again).
  ssize_t Send(Conn* c, const char* data, size_t n);
  // One piece of a file for a TLS connection (read, then encrypted): as Send.
  ssize_t SendFileTls(Conn* c, const FileSend& f);
  // Reports the failed TLS handshake to the listener's service, then closes.
  void FailTls(Conn* c, const std::string& why);
  // Tick: a TLS handshake not finished in time fails.
  bool TlsOverdue(Conn* c);
  // Connections whose TLS session holds decrypted input the socket no longer signals.
  void ListTlsPending(Conn* c);
  void ReadTlsPending();
  void Close(Conn* c);
  void StartLinger(Conn* c);
  void Discard(Conn* c);
  Conn* Find(const Ticket& ticket);
  void Tick(time_t now);
  void Drain();
  void FinishRound();
  // Sends the round's replies through the IoBatch; Flush then finishes each connection.
  void SendRound(const std::vector<Conn*>& round);
  void RunSends();
  void ReapClosed();

  Server* server_;
  int index_;
  std::vector<int> listen_fds_;
  std::unique_ptr<NetCounters[]> counters_;  // by listener
  int epoll_fd_ = -1;
  int wake_fd_ = -1;
  std::mutex inbox_mu_;
  std::vector<std::pair<int, size_t>> inbox_;   // guarded by inbox_mu_
  std::vector<std::function<void()>> posted_;   // guarded by inbox_mu_
  std::vector<std::function<void()>> running_;  // TakeInbox's copy (capacity reused)
  bool listening_ = false;
  uint64_t next_conn_id_ = 0;
  std::unordered_map<int, std::unique_ptr<Conn>> conns_;
  std::vector<RoundHook*> hooks_;
  std::vector<Conn*> round_;     // connections with new output this round
  std::vector<Conn*> flushing_;  // FinishRound's copy of round_ (capacity reused)
  std::vector<int> closed_;      // closed this round, erased at its end
  std::unique_ptr<char[]> read_buf_;
  std::vector<Conn*> readable_;         // this batch's connections to read through io_
  std::vector<Conn*> tls_pending_;      // TLS connections with input inside OpenSSL
  std::unique_ptr<char[]> recv_slots_;  // one slot per readable_ connection (with io_)
  time_t last_tick_ = 0;
  IoBatch io_;  // open when the kernel allows io_uring and it is not turned off
  Status ring_status_;
};

}  // namespace bale::net
