// Server: event-loop threads serving a list of listeners (address, port, Service).
//
// One event loop per thread (epoll, level-triggered), each with its own listening
// sockets on the shared ports (SO_REUSEPORT); accepted connections are dealt to the
// loops round-robin. A connection belongs to one loop, so its buffers are touched
// without locks. Each readable connection's input goes to its Handler (service.h) as
// far as it goes (pipelining), every reply appended to the connection's output, and the
// round's output sent when the round of events ends, after the round hooks ran (a group
// commit holds replies until it is done: conn.h). Where the kernel allows io_uring
// (io_uring=true), a round's receives go out in one call and its sends in another
// (io_batch.h).
//
// Limits: a connection whose unsent output passes max_output_bytes stops being read
// until the client catches up; connections past max_connections (all listeners
// together) are sent the Service's refusal and closed; idle connections are closed after
// idle_timeout_s (0 = never). A listener with TLS reads and writes through a TlsSession
// (no io_uring batching, no sendfile: file pieces are read and encrypted). Stop() stops accepting,
// answers what was already received, flushes (2 s at most), and closes every connection.
//
// Contract: knows no protocol and no store; Services outlive the Server.
#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "base/status.h"
#include "net/service.h"
#include "net/tls.h"

namespace bale::net {

struct ServerConfig {
  int threads = 2;
  uint32_t max_connections = 1024;  // all listeners together
  uint32_t idle_timeout_s = 0;
  size_t max_output_bytes = 4 << 20;
  bool io_uring = true;  // batch each round's socket I/O (net/io_batch.h) where the kernel allows
};

struct Listener {
  Listener() = default;
  Listener(std::string a, uint16_t p, Service* s, std::shared_ptr<const TlsContext> t = nullptr,
           int tls_timeout_ms = 5000)
      : addr(std::move(a)),
        port(p),
        service(s),
        tls(std::move(t)),
        tls_handshake_timeout_ms(tls_timeout_ms) {}
  std::string addr = "127.0.0.1";
  uint16_t port = 0;  // 0 = ephemeral
  Service* service = nullptr;
  // TLS (net/tls.h, a server-side context): every connection must complete a TLS
  // handshake within tls_handshake_timeout_ms before its handler sees a byte; one that
  // fails or times out is reported to Service::OnTlsFailure and closed at once.
  std::shared_ptr<const TlsContext> tls;
  int tls_handshake_timeout_ms = 5000;
};

class EventLoop;

class Server {
 public:
  Server(const ServerConfig& config, std::vector<Listener> listeners);
  ~Server();
  Server(const Server&) = delete;
  Server& operator=(const Server&) = delete;

  // Binds every listener, then calls `bound` (ports and io_uring known, no loop running
  // yet: the place to publish them without a race), then runs the loops.
  [[nodiscard]] Status Start(const std::function<void()>& bound = {});
  // Graceful: stop accepting, finish received requests, flush replies, close.
  void Stop();

  // After Start: the port listener i is bound to.
  uint16_t port(size_t listener) const { return listeners_[listener].port; }
  // After Start: whether the loops batch their socket I/O through io_uring, and if
  // they were asked to but cannot, why.
  bool io_uring() const { return io_uring_on_; }
  const std::string& io_uring_refused() const { return io_uring_refused_; }
  const ServerConfig& config() const { return config_; }
  size_t listeners() const { return listeners_.size(); }
  Service* service(size_t listener) const { return listeners_[listener].service; }

  // Listener i's counters summed over the loops. ResetCounts zeroes its rejected
  // connections and idle kicks, and with `bytes` its byte counts (total and current
  // connections are kept).
  NetCounts Counts(size_t listener) const;
  void ResetCounts(size_t listener, bool bytes);
  // Every loop's open connections, by fd, from any thread (a loop lists its own on its
  // thread; the caller's loop, if any, at once). A loop that has not answered within
  // `timeout_ms` is left out.
  std::vector<ConnInfo> Connections(int timeout_ms = 500) const;

 private:
  friend class EventLoop;
  // The loop that gets the next accepted connection (round-robin).
  EventLoop* NextLoop();
  bool stopping() const { return stopping_.load(std::memory_order_acquire); }

  ServerConfig config_;
  std::vector<Listener> listeners_;
  bool io_uring_on_ = false;
  std::atomic<uint32_t> connections_{0};
  std::atomic<bool> stopping_{false};
  std::atomic<uint32_t> next_loop_{0};
  std::vector<std::unique_ptr<EventLoop>> loops_;
  std::vector<std::thread> threads_;
  std::string io_uring_refused_;
};

}  // namespace bale::net
