// Connection: one socket of the load generator to a server, its unsent output, its
// unparsed input, and the requests it has in flight, oldest first.
//
// Contract: a Connection owns its socket (closed by Close and the destructor) and is
// used by one thread. Sockets are non-blocking, with TCP_NODELAY; Flush sends what the
// socket takes, Read appends what has arrived. Replies come back in request order, so
// the oldest Pending is the one the next reply answers. Resolve turns HOST:PORT into an
// Endpoint once, before any thread starts.
#pragma once

#include <sys/socket.h>

#include <cstdint>
#include <deque>
#include <string>
#include <string_view>

#include "base/status.h"
#include "loadgen/load_config.h"
#include "loadgen/wire.h"

namespace bale::loadgen {

struct Endpoint {
  sockaddr_storage addr{};
  socklen_t addr_len = 0;
  std::string host;  // HOST:PORT, as HTTP's Host header names it
};

[[nodiscard]] Status Resolve(const ServerAddress& server, Endpoint* out);

// A request in flight.
struct Pending {
  Op op = Op::kGet;
  bool measured = false;     // scheduled inside the measured window
  uint32_t opaque = 0;       // binary: what the reply must echo
  uint64_t key = 0;          // the key's index
  int64_t scheduled_ns = 0;  // latency counts from here
  int64_t sent_ns = 0;       // the timeout counts from here
};

class Connection {
 public:
  enum class State { kDown, kConnecting, kUp };
  enum class ReadResult { kData, kNothing, kClosed };

  explicit Connection(const Endpoint* endpoint) : endpoint_(endpoint) {}
  ~Connection() { Close(); }
  Connection(const Connection&) = delete;
  Connection& operator=(const Connection&) = delete;

  // Connects and waits at most timeout_s (before a run: a server that is not there
  // fails the run at once).
  [[nodiscard]] Status ConnectNow(double timeout_s);
  // Starts connecting without waiting (kConnecting); false when that failed at once.
  [[nodiscard]] bool StartConnect();
  // After the socket turned writable while kConnecting: true (kUp) if it connected.
  [[nodiscard]] bool FinishConnect();
  void Close();

  // Sends what the socket takes; false when the socket failed.
  [[nodiscard]] bool Flush();
  [[nodiscard]] ReadResult Read();
  std::string_view input() const {
    return std::string_view(in_).substr(in_pos_, in_len_ - in_pos_);
  }
  void Consume(size_t n);

  int fd() const { return fd_; }
  State state() const { return state_; }
  const Endpoint& endpoint() const { return *endpoint_; }
  std::string* out() { return &out_; }
  bool HasUnsent() const { return out_pos_ < out_.size(); }

  std::deque<Pending> pending;
  size_t needed = 0;            // parse again only once input() holds this many bytes
  uint32_t next_opaque = 0;     // binary requests' opaque
  uint32_t epoll_events = 0;    // what the worker's epoll watches now
  uint64_t schedule_index = 0;  // open loop: the next request's number in the schedule
  int64_t retry_at_ns = 0;      // kDown: when to connect again
  uint64_t prefill_next = 0;    // prefill: the next key this connection sets

 private:
  const Endpoint* endpoint_;
  int fd_ = -1;
  State state_ = State::kDown;
  std::string out_;
  size_t out_pos_ = 0;
  std::string in_;
  size_t in_pos_ = 0;
  size_t in_len_ = 0;
};

}  // namespace bale::loadgen
