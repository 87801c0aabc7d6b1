// HeldRound: replies held until the end of an event-loop round, for a group commit.
//
// A service whose writes become durable once per round (one fdatasync for the whole
// round) holds each connection's first reply of the round that needs it (Conn::Hold:
// it and every later reply of that connection wait); at the round's end, after its
// commit, Settle releases them all, or fails them (their connections close unanswered)
// when the commit failed. Used by the faces (frontend/face_loop.h) and the store node's
// service (store/store_service.h).
//
// Contract: loop thread only; protocol-free (it knows nothing of what is committed).
#pragma once

#include <cstddef>
#include <cstdint>
#include <vector>

#include "net/conn.h"
#include "net/service.h"

namespace bale::net {

class HeldRound {
 public:
  // Holds the reply that began at conn.out()[from] unless this connection already
  // holds one this round; `conn_round` is the connection's record of that round.
  void Hold(Conn& conn, size_t from, uint64_t* conn_round) {
    if (*conn_round == round_) return;
    *conn_round = round_;
    held_.push_back(conn.Hold(from));
  }
  bool empty() const { return held_.empty(); }
  // Hands the round's holds to the caller (who releases or fails them later, on this
  // loop's thread) and starts the next round.
  std::vector<Ticket> Take() {
    std::vector<Ticket> taken;
    taken.swap(held_);
    round_++;
    return taken;
  }
  // Releases (committed) or fails every hold of the round, and starts the next round.
  void Settle(Loop& loop, bool committed) {
    for (const Ticket& t : held_) committed ? loop.Release(t) : loop.Fail(t);
    held_.clear();
    round_++;
  }

 private:
  std::vector<Ticket> held_;
  uint64_t round_ = 1;
};

}  // namespace bale::net
