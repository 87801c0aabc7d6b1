// Server: the network side of `bale serve`, the memcached port and the HTTP port.
//
// One event loop per thread (epoll, level-triggered), each with its own listening
// sockets on the shared ports (SO_REUSEPORT spreads connections). A connection belongs
// to the thread that accepted it, so its buffers are touched without locks. Each
// readable connection is parsed as far as its input goes (pipelining), every reply
// appended to one output buffer, and the buffer written with one send when the round
// of events ends. Where the kernel allows io_uring (io_uring=true), a round's receives
// go out in one call and its sends in another (io_batch.h). In kSync durability the
// volumes written during the round are synced together before any of its writers hear
// back (group commit across connections and across both protocols).
//
// Limits: a connection whose unsent output passes max_output_bytes stops being read
// until the client catches up (a client that never reads cannot grow memory without
// bound); connections past max_connections are refused; idle connections are closed
// after idle_timeout_s (0 = never); an HTTP request not complete within
// http_timeout_s of its first byte is answered 408. Stop() stops accepting, answers
// what was already received, flushes, and closes every connection. HTTP request bodies
// held by all loops together stay within http_settings.body_budget_bytes (one larger
// body is admitted alone): past it a request is answered 503 with Retry-After (the
// parser's body_budget, proto/http_request.h).
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "base/memory_budget.h"
#include "frontend/http_routes.h"
#include "frontend/memcache_commands.h"
#include "proto/http_request.h"
#include "proto/memcache_parser.h"

namespace bale::net {

struct ServerConfig {
  std::string listen_addr = "127.0.0.1";
  uint16_t port = 11211;  // 0 = ephemeral (tests)
  bool http_enabled = true;
  uint16_t http_port = 8080;  // 0 = ephemeral (tests)
  int threads = 2;
  uint32_t max_connections = 1024;  // both protocols together
  uint32_t idle_timeout_s = 0;
  size_t max_output_bytes = 4 << 20;
  bool io_uring = true;  // batch each round's socket I/O (net/io_batch.h) where the kernel allows
};

class EventLoop;

class Server final : public StatsSource {
 public:
  Server(ObjectStore* objects, const ServerConfig& config, const MemcacheSettings& settings,
         const HttpSettings& http_settings);
  ~Server() override;

  Status Start();
  uint16_t port() const { return port_; }
  uint16_t http_port() const { return http_port_; }
  // After Start: whether the loops batch their socket I/O through io_uring, and if
  // they were asked to but cannot, why.
  bool io_uring() const { return settings_.io_uring; }
  const std::string& io_uring_refused() const { return io_uring_refused_; }
  // Graceful: stop accepting, finish received requests, flush replies, close.
  void Stop();

  // StatsSource
  void Sum(ThreadStats* total) const override;
  void Reset() override;
  uint64_t uptime_s() const override;
  uint64_t http_body_bytes() const override { return http_body_budget_.used(); }

 private:
  friend class EventLoop;
  // The loop that gets the next accepted connection (round-robin).
  EventLoop* NextLoop() {
    return loops_[next_loop_.fetch_add(1, std::memory_order_relaxed) % loops_.size()].get();
  }
  ObjectStore* objects_;
  ServerConfig config_;
  MemcacheSettings settings_;
  HttpSettings http_settings_;
  MemcacheCommands commands_;
  HttpRoutes routes_;
  proto::ParserLimits limits_;
  uint16_t port_ = 0;
  uint16_t http_port_ = 0;
  std::atomic<uint32_t> connections_{0};
  std::atomic<bool> stopping_{false};
  std::atomic<uint32_t> next_loop_{0};
  // Drawn from by every loop's HTTP bodies; declared before loops_, so it outlives
  // their connections.
  MemoryBudget http_body_budget_;
  std::vector<std::unique_ptr<EventLoop>> loops_;
  std::vector<std::thread> threads_;
  std::chrono::steady_clock::time_point started_;
  std::string io_uring_refused_;
};

}  // namespace bale::net
