// StoreConnection, RunCalls: the router's side of the internal protocol
// (proto/internal_frame.h): persistent TCP connections to store nodes, requests
// pipelined on them and their replies matched by request id.
//
// Usage (one event-loop thread of a router):
//   StoreConnection conn("10.0.0.7", 7001);          // connects on first use
//   std::vector<StoreCall> calls(n);
//   proto::AppendGet(&calls[i].request, 0, epoch, partition, get);  // id 0: set by Run
//   calls[i].conn = &conn;
//   RunCalls(calls, /*timeout_ms=*/1000);
//   for (StoreCall& c : calls) c.status ... c.reply (proto::Frame) ...
//
// Contract:
// - A StoreConnection belongs to one thread. It connects lazily (Connect), and after an
//   error or a timeout it is closed, so the next call reconnects.
// - RunCalls is blocking with a deadline: it writes every call's frame (each
//   connection's frames in one writev), then polls all the connections until every reply
//   arrived or the deadline passed. A connection that fails or times out fails only its
//   own calls: status Unavailable "store 127.0.0.1:7001 did not answer within 1000 ms",
//   "store ...: connection refused", ...; the others' calls are answered.
// - A call's status is OK when the node answered; the reply may still be an error
//   frame (WRONG_EPOCH, NOT_HELD: see proto::ReplyStatus). The reply's views point into
//   its connection's read buffer and stay valid until that connection's next RunCalls.
// - Request ids: RunCalls numbers each call's frame itself (proto::SetRequestId).
// - A call's `tail` is sent right after its frame without being copied (a large value
//   encoded with AppendMutateHead); it must stay valid during RunCalls.
// - With a cluster secret, Connect runs the cluster handshake (proto/handshake.h)
//   before any frame is sent, within the same deadline: a node that does not prove the
//   secret (another secret, none, no answer) fails the calls with Unavailable "store
//   H:P failed the cluster handshake: why" and the connection is closed.
// - With a TlsContext (net/tls.h, client side), Connect runs a TLS handshake first (the
//   node's certificate checked against the CA, ours presented when it asks), within the
//   same deadline; a failure is Unavailable "store H:P failed the TLS handshake: why".
//   Frames then travel as TLS records (a batch's frames gathered into records of up to
//   16 KiB), and the cluster handshake, when there is a secret, runs inside TLS.
#pragma once

#include <sys/types.h>

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "base/status.h"
#include "net/tls.h"
#include "proto/internal_frame.h"

namespace bale::router {

class StoreConnection {
 public:
  // `secret`: the cluster's (empty: no handshake); `tls`: a client-side context (null:
  // plain TCP).
  StoreConnection(std::string host, uint16_t port, proto::FrameLimits limits = {},
                  std::string secret = {}, std::shared_ptr<const net::TlsContext> tls = nullptr);
  ~StoreConnection();
  StoreConnection(const StoreConnection&) = delete;
  StoreConnection& operator=(const StoreConnection&) = delete;

  // Connects if not connected (TCP_NODELAY, non-blocking), then runs the handshake when
  // there is a secret; Unavailable on failure.
  [[nodiscard]] Status Connect(int timeout_ms);
  void Close();
  bool connected() const { return fd_ >= 0; }
  const std::string& name() const { return name_; }  // "host:port"
  // Moves the read buffer, which views of the last replies point into, to *keep (when
  // it holds any), so that the next RunCalls cannot overwrite those replies.
  void KeepBuffer(std::vector<std::string>* keep) {
    if (in_.empty()) return;
    keep->emplace_back().swap(in_);
  }

 private:
  friend class CallBatch;
  using Deadline = std::chrono::steady_clock::time_point;
  // The TLS handshake, then the cluster handshake, on the new connection fd_.
  Status StartTls(Deadline deadline);
  Status Handshake(Deadline deadline);
  // One write or read on the connection (plain or TLS): bytes moved (0: the peer closed,
  // for Recv) or -errno; after -EAGAIN, wait_for_ says which poll event to wait for.
  ssize_t Send(const char* data, size_t n);
  ssize_t Recv(char* buf, size_t cap);
  // Blocking with the deadline (the handshakes): all of `data`; a whole frame into `in`
  // (its size, or 0 with *why).
  bool WriteAll(std::string_view data, Deadline deadline, std::string* why);
  size_t ReadFrame(std::string* in, const proto::FrameLimits& limits, Deadline deadline,
                   proto::Frame* f, std::string* why);

  std::string host_;
  uint16_t port_;
  std::string name_;
  proto::FrameLimits limits_;
  std::string secret_;
  std::shared_ptr<const net::TlsContext> tls_;
  std::unique_ptr<net::TlsSession> session_;  // while connected with tls_
  short wait_for_ = 0;                        // POLLIN or POLLOUT, after an -EAGAIN
  std::string gather_;                        // a batch's frames gathered for one TLS write
  int fd_ = -1;
  uint64_t next_id_ = 1;
  std::string in_;  // replies of the last batch (views into it are handed out)
};

struct StoreCall {
  // In: the connection and the request frame (any request id), plus an optional tail.
  StoreConnection* conn = nullptr;
  std::string request;
  std::string_view tail;
  // Out.
  Status status;  // OK: `reply` is the node's answer
  // The node closed (or reset) the connection without answering: a node stopping
  // gracefully answers what it read first, so the request was not carried out and may
  // be sent again on a new connection.
  bool peer_closed = false;
  proto::Frame reply;  // views into conn's buffer, valid until its next RunCalls
};

// Runs every call (see the contract above); returns OK, or the first call's error when
// every call failed.
Status RunCalls(std::span<StoreCall> calls, int timeout_ms);

// One call on one connection.
inline Status RunCall(StoreCall& call, int timeout_ms) {
  return RunCalls(std::span<StoreCall>(&call, 1), timeout_ms);
}

}  // namespace bale::router
