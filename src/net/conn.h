// Conn: one client connection as its Handler sees it (service.h), owned by its event loop.
//
// Output is a queue of pieces. Replies are appended to out() (and large values to
// files(), FileSend at their place in out()); without holds there is one piece and
// appending costs what appending to a string does. Hold(from) holds the reply that
// began at out()[from]: it, and everything appended after it, wait until the loop
// releases the ticket (Loop::Release), while replies before it may leave. A held slot
// can be completed after later replies were appended: Loop::Slot(ticket) is its piece.
//
// Contract: loop thread only. The handler may append to out()/files(), ask to close,
// hold replies; it may not touch the socket. out() may change after Hold: take it again.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <ctime>
#include <deque>
#include <limits>
#include <memory>
#include <string>
#include <vector>

#include "net/file_send.h"
#include "net/service.h"
#include "net/tls.h"

namespace bale::net {

class EventLoop;

class Conn {
 public:
  static constexpr size_t kNotHeld = std::numeric_limits<size_t>::max();
  static constexpr size_t kMaxFileSends = 1024;
  Conn() = default;
  Conn(const Conn&) = delete;
  Conn& operator=(const Conn&) = delete;

  std::string& out() { return tail_->bytes; }
  std::vector<FileSend>& files() { return tail_->files; }

  bool open() const { return fd_ >= 0; }
  bool peer_loopback() const { return peer_loopback_; }
  // The peer's address as net/socket.h's SocketAddress gives it ("tcp:1.2.3.4:5"), asked
  // of the socket at each call, or for a TLS connection kept from its accept (for a log
  // line; empty once closed).
  std::string PeerAddress() const;
  bool peer_closed() const { return peer_closed_; }  // read() said end of stream
  bool closing() const { return close_after_flush_; }
  time_t last_active() const { return last_active_; }
  size_t listener() const { return listener_; }
  // Whether the connection is TLS (its listener has a TlsContext: net/tls.h); the
  // handler only ever sees the decrypted stream, after the TLS handshake.
  bool tls() const { return tls_ != nullptr; }
  Loop& loop();

  // Close once every reply queued is sent. Nothing more is read into the handler. With
  // `linger`, our side is then shut down and input discarded until the peer closes or
  // 2 s pass, so a client still sending reads its reply instead of a reset.
  void CloseAfterReplies(bool linger) {
    close_after_flush_ = true;
    linger_ = linger;
  }
  // Closes now; nothing queued is sent.
  void Close();
  // Closes now as idle (counted in idle_kicks).
  void KickIdle();

  // True when unsent output passes max_output_bytes: the handler stops consuming and
  // the loop stops reading until the client has read its replies.
  bool OutputFull() {
    if (rest_.empty() && head_.bytes.size() - head_.sent <= max_output_bytes_ &&
        head_.files.size() < kMaxFileSends) {
      return false;
    }
    return OutputFullSlow();
  }
  // Hands no more input to the handler until every reply queued now is sent, as when
  // the output is full: for a handler that has taken on as much as it will for now.
  void PauseInput() { paused_ = true; }
  bool input_paused() const { return paused_; }
  bool has_unsent() const {
    return head_.sent < head_.bytes.size() || !head_.files.empty() || !rest_.empty();
  }

  // Holds the reply that begins at out()[from] and everything after it (see above).
  Ticket Hold(size_t from);

 private:
  friend class EventLoop;
  struct Piece {
    std::string bytes;
    size_t sent = 0;
    std::vector<FileSend> files;  // `at` within bytes
    size_t held_from = kNotHeld;  // bytes (and files) from here wait for seq's release
    uint64_t seq = 0;
    bool held() const { return held_from != kNotHeld; }
  };
  bool OutputFullSlow();
  Piece* FindHeld(uint64_t seq);

  EventLoop* loop_ = nullptr;
  int fd_ = -1;
  uint64_t id_ = 0;
  size_t listener_ = 0;
  NetCounters* counters_ = nullptr;
  std::unique_ptr<Handler> handler_;
  size_t max_output_bytes_ = 0;
  std::string in_;
  size_t in_start_ = 0;  // parsed up to here
  Piece head_;           // being sent
  std::deque<Piece> rest_;
  Piece* tail_ = &head_;  // appended to
  Piece sink_;            // appended to after a failed hold: never sent
  bool failed_ = false;
  uint64_t hold_seq_ = 0;
  bool close_after_flush_ = false;
  bool linger_ = false;
  bool peer_closed_ = false;
  bool lingering_ = false;
  time_t linger_until_ = 0;
  bool paused_ = false;    // not reading: too much unsent output
  bool in_round_ = false;  // listed in the loop's round: its replies go out when it ends
  bool peer_loopback_ = false;
  uint32_t events_ = 0;  // the epoll interest registered now
  time_t last_active_ = 0;
  std::unique_ptr<TlsSession> tls_;  // TLS listeners only
  std::string tls_peer_;             // its peer's address
  bool tls_wants_write_ = false;     // the TLS session reads only once the socket is writable
  bool tls_listed_ = false;          // in the loop's tls_pending_
  std::chrono::steady_clock::time_point accepted_;
};

}  // namespace bale::net
