// Service, Handler, Loop: what a protocol plugs into the event loop (event_loop.h), and
// what the loop offers it back.
//
// Contract: net knows no protocol and no store. A listener (server.h) names a Service;
// the Service makes one Handler per accepted connection. Handlers run on the loop's
// thread only, one call at a time: OnInput parses and answers as far as the input goes
// (replies appended to the connection, conn.h) and returns the bytes it used; what it
// leaves is offered again with more input. A Handler must not block (no disk waits that
// could be deferred, no sleeps) and must not keep the input view after returning. The
// loop calls nothing of a Service or Handler but what is declared here.
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <ctime>
#include <functional>
#include <memory>
#include <string>
#include <string_view>

namespace bale::net {

class Conn;
class Loop;

// A reply held back (Conn::Hold): it and everything after it on its connection wait
// until Loop::Release; Loop::Fail closes the connection without sending them. A ticket
// of a connection closed meanwhile is ignored.
struct Ticket {
  int fd = -1;
  uint64_t conn_id = 0;
  uint64_t seq = 0;
};

class Handler {
 public:
  virtual ~Handler() = default;
  // Parses and answers the complete requests at the front of `input`; returns the
  // bytes used. Stops early when conn.OutputFull() (the loop resumes it later).
  virtual size_t OnInput(std::string_view input, Conn& conn) = 0;
  // About once a second, for timeouts (the loop's own idle timeout comes after it).
  virtual void OnTick(time_t now, Conn& conn) {
    (void)now;
    (void)conn;
  }
};

// Run on the loop's thread after a round's input was handled, before its replies are
// sent (e.g. a group commit that then releases the round's holds).
class RoundHook {
 public:
  virtual ~RoundHook() = default;
  virtual void OnRoundEnd(Loop& loop) = 0;
  // Once, when the loop stops, before it handles what is left and sends its last
  // replies: a hook with work in flight on other threads finishes it here.
  virtual void OnLoopStop(Loop& loop) { (void)loop; }
};

// One event loop (a thread) as handlers and services see it.
class Loop {
 public:
  virtual ~Loop() = default;
  // 0..threads-1, stable for the server's life.
  virtual int index() const = 0;
  // Any thread: runs fn on the loop's thread soon (dropped if the loop has stopped).
  virtual void Post(std::function<void()> fn) = 0;
  // Loop thread only. Slot: the bytes of a held reply, to complete it after later
  // replies were appended (null once released, or if its connection closed).
  virtual std::string* Slot(const Ticket& ticket) = 0;
  virtual void Release(const Ticket& ticket) = 0;
  virtual void Fail(const Ticket& ticket) = 0;
  // Before the server starts (Service::AttachLoop); the hook outlives the loop.
  virtual void AddRoundHook(RoundHook* hook) = 0;
};

class Service {
 public:
  virtual ~Service() = default;
  // Once per loop, on the starting thread, before any connection: per-loop state.
  virtual void AttachLoop(Loop& loop) { (void)loop; }
  // For each accepted connection, on its loop's thread.
  virtual std::unique_ptr<Handler> NewHandler(Loop& loop, Conn& conn) = 0;
  // Sent to a connection refused past max_connections, before it is closed.
  virtual std::string_view TooManyConnections() const { return {}; }
  // A connection of a TLS listener (server.h) whose TLS handshake failed or timed out,
  // on its loop's thread, just before the loop closes it (conn.PeerAddress() still
  // answers): to log and count. `why`: OpenSSL's reason or the timeout.
  virtual void OnTlsFailure(Conn& conn, std::string_view why) {
    (void)conn;
    (void)why;
  }
};

// The loop's counters for one listener (a loop's block; Server sums them).
struct NetCounters {
  std::atomic<uint64_t> bytes_read{0};
  std::atomic<uint64_t> bytes_written{0};
  std::atomic<uint64_t> total_connections{0};
  std::atomic<uint64_t> rejected_connections{0};
  std::atomic<uint64_t> idle_kicks{0};
  std::atomic<int64_t> curr_connections{0};

  // Only the owning loop writes: a relaxed load and store is enough.
  static void Add(std::atomic<uint64_t>& c, uint64_t n = 1) {
    c.store(c.load(std::memory_order_relaxed) + n, std::memory_order_relaxed);
  }
};

// One open connection, as Server::Connections lists it (memcached's `stats conns`).
struct ConnInfo {
  int fd = -1;
  size_t listener = 0;
  std::string peer, local;  // net/socket.h's SocketAddress
  time_t last_active = 0;   // unix seconds of its last input
};

// A plain copy of NetCounters (sums, snapshots).
struct NetCounts {
  uint64_t bytes_read = 0;
  uint64_t bytes_written = 0;
  uint64_t total_connections = 0;
  uint64_t rejected_connections = 0;
  uint64_t idle_kicks = 0;
  int64_t curr_connections = 0;
};

}  // namespace bale::net
