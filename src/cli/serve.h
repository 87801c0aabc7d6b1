// `bale serve`: every role in one process (today: the store, the memcached face and the
// HTTP face).
#pragma once

#include <signal.h>

#include <CLI/CLI.hpp>
#include <string>

namespace bale::cli {

struct ServeArgs {
  std::string data = "./data";
  std::string listen = "127.0.0.1";
  int port = 11211;
  std::string durability = "interval";
  uint32_t interval_ms = 1000;
  int threads = 0;  // 0 = one per core
  std::string max_item_size = "1m";
  uint32_t max_connections = 1024;
  bool disable_flush_all = false;
  uint32_t partitions = 0;
  std::string segment_size = "1g";
  uint32_t idle_timeout = 0;
  std::string http_port = "8080";  // "0" = off, "any" = ephemeral
  std::string http_max_body = "64m";
  std::string http_body_budget = "256m";
  uint32_t http_timeout = 30;
  bool http_public_only = false;
  std::string io_uring = "on";
  std::string compaction = "on";
  double compaction_dead_ratio = 0.5;
  std::string compaction_min_dead = "256k";
  std::string compaction_rate = "256m";
  std::string admin_from = "loopback";
  std::string disk_reserve = "16m";
};

void AddServeCommand(CLI::App* app, ServeArgs* args);
int RunServe(const ServeArgs& args);

// Shared by every role (serve, store, router, directory):
// "0" = off (false), "any" = ephemeral (port 0), else 1..65535. False with a message on
// stderr ("bale ROLE: FLAG must be ...") if bad.
bool ParsePortFlag(const char* role, const char* flag, const std::string& value, bool* enabled,
                   uint16_t* port);
// SIGINT and SIGTERM: how a role is asked to stop.
sigset_t StopSignals();
// Blocks the stop signals in every thread started after it (they are taken by sigwait,
// never by a worker thread) and ignores SIGPIPE; WaitForStopSignal takes one.
void BlockStopSignals();
int WaitForStopSignal();

}  // namespace bale::cli
