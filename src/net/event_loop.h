// EventLoop: one thread's epoll loop and the connections it owns (memcache_server.h).
#pragma once

#include <cstdint>
#include <ctime>
#include <memory>
#include <string>
#include <unordered_map>
#include <vector>

#include "net/memcache_server.h"

namespace bale::net {

struct Connection {
  int fd = -1;
  std::string in;
  size_t in_start = 0;  // parsed up to here
  std::string out;
  size_t out_sent = 0;
  uint64_t swallow = 0;  // bytes of an oversized value still to discard
  bool close_after_flush = false;
  bool paused = false;  // not reading: too much unsent output
  uint32_t events = 0;  // the epoll interest registered now
  time_t last_active = 0;
};

class EventLoop {
 public:
  EventLoop(MemcacheServer* server, int listen_fd);
  ~EventLoop();
  Status Init();
  void Run();
  void Wake();  // from another thread: look at server->stopping_
  ThreadStats& stats() { return stats_; }
  const ThreadStats& stats() const { return stats_; }

 private:
  void Accept();
  void OnReadable(Connection* c);
  void Process(Connection* c);
  void Flush(Connection* c);
  void UpdateInterest(Connection* c);
  void Close(Connection* c);
  void KickIdle(time_t now);
  void Drain();
  void FinishRound();
  void ReapClosed();

  MemcacheServer* server_;
  int listen_fd_;
  int epoll_fd_ = -1;
  int wake_fd_ = -1;
  bool listening_ = false;
  std::unordered_map<int, std::unique_ptr<Connection>> conns_;
  std::vector<Connection*> round_;  // connections with new output this round
  std::vector<int> closed_;         // closed this round, erased at its end
  std::unique_ptr<char[]> read_buf_;
  DirtyVolumes dirty_;
  ThreadStats stats_;
  proto::Request req_;
  time_t last_idle_check_ = 0;
};

}  // namespace bale::net
