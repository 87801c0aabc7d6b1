// IoBatch: runs many socket sends and receives with one io_uring_enter(2).
//
// An event loop that answers a round of ready connections would otherwise make one
// recv(2) and one send(2) per connection; each system call costs about 170 ns of
// entry and exit on this machine before any work is done, and a wake-up of the peer
// between two sends lets the scheduler preempt the loop mid-round. IoBatch queues the
// round's operations and issues them together.
//
// Contract:
// - Every operation is non-blocking (MSG_DONTWAIT): it completes during Run, with the
//   bytes moved or -errno (-EAGAIN when the socket has nothing to read or no room).
//   Nothing stays in flight after Run returns, so buffers need only outlive Run.
// - Open fails where the kernel refuses io_uring (an old kernel, a seccomp filter);
//   the caller then uses plain system calls. If the ring fails later, the batch closes
//   for good; an operation that never ran reports -EAGAIN (nothing moved) and one whose
//   outcome is unknown reports -EIO (the caller must give up on that socket).
// - One thread owns an IoBatch: the ring is single-issuer. Open may run on another
//   thread (the server's, at start, so that a refusal is known before it reports);
//   the owner then calls Enable before queueing anything.
#pragma once

#include <liburing.h>

#include <cstddef>
#include <cstdint>
#include <vector>

#include "base/status.h"

namespace bale::net {

class IoBatch {
 public:
  IoBatch() = default;
  ~IoBatch();
  IoBatch(const IoBatch&) = delete;
  IoBatch& operator=(const IoBatch&) = delete;

  // Opens a ring for up to `entries` operations per Run, disabled until Enable.
  [[nodiscard]] Status Open(unsigned entries);
  // On the owning thread: makes it the ring's only submitter. On failure the batch
  // closes (the caller goes on with plain system calls).
  [[nodiscard]] Status Enable();
  bool ok() const { return open_; }
  unsigned capacity() const { return capacity_; }
  unsigned queued() const { return static_cast<unsigned>(tags_.size()); }
  // Closes the ring (nothing may be queued): plain system calls from here on.
  void Close();

  // Queue one operation; `tag` comes back with its result. False when the batch is full
  // (Run it first) or closed.
  bool QueueRecv(int fd, char* buf, size_t len, uint64_t tag);
  bool QueueSend(int fd, const char* buf, size_t len, uint64_t tag);

  // Issues everything queued and waits for it; then calls done(tag, result) for each
  // operation in the order queued. result: bytes moved (0: the peer closed, for a
  // receive) or -errno.
  template <class Done>
  void Run(Done&& done) {
    if (tags_.empty()) return;
    Complete();
    for (size_t i = 0; i < tags_.size(); i++) done(tags_[i], results_[i]);
    tags_.clear();
  }

 private:
  io_uring_sqe* NextSqe(uint64_t tag);
  void Complete();  // fills results_ for every queued operation

  io_uring ring_{};
  bool open_ = false;
  unsigned capacity_ = 0;
  std::vector<uint64_t> tags_;  // by queue position
  std::vector<int> results_;
};

}  // namespace bale::net
