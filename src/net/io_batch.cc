#include "net/io_batch.h"

#include <sys/socket.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cerrno>

namespace bale::net {

IoBatch::~IoBatch() { Close(); }

Status IoBatch::Open(unsigned entries) {
  Close();
  // Single issuer with deferred task work: completions are reaped only by this thread,
  // while it waits, which is all a loop needs and saves the kernel's cross-thread work.
  // Disabled at first: the thread that enables it becomes its submitter.
  unsigned flags = IORING_SETUP_SINGLE_ISSUER | IORING_SETUP_DEFER_TASKRUN;
  int r = io_uring_queue_init(entries, &ring_, flags | IORING_SETUP_R_DISABLED);
  if (r == -EINVAL) {  // a kernel before 6.1: no single-issuer mode
    r = io_uring_queue_init(entries, &ring_, IORING_SETUP_R_DISABLED);
  }
  if (r < 0) return Status::FromErrno("io_uring_queue_init", -r);
  open_ = true;
  capacity_ = entries;
  tags_.reserve(entries);
  results_.resize(entries);
  return Status::OK();
}

Status IoBatch::Enable() {
  if (!open_) return Status::IOError("io_uring ring not open");
  // Debian's liburing 2.3 declares io_uring_enable_rings but does not export it.
  if (::syscall(__NR_io_uring_register, ring_.ring_fd, IORING_REGISTER_ENABLE_RINGS, nullptr, 0) !=
      0) {
    int err = errno;
    Close();
    return Status::FromErrno("io_uring_register(ENABLE_RINGS)", err);
  }
  return Status::OK();
}

void IoBatch::Close() {
  if (open_) io_uring_queue_exit(&ring_);
  open_ = false;
}

io_uring_sqe* IoBatch::NextSqe(uint64_t tag) {
  if (!open_ || tags_.size() >= capacity_) return nullptr;
  io_uring_sqe* sqe = io_uring_get_sqe(&ring_);
  if (sqe == nullptr) return nullptr;
  io_uring_sqe_set_data64(sqe, tags_.size());  // the position; the tag stays here
  tags_.push_back(tag);
  return sqe;
}

bool IoBatch::QueueRecv(int fd, char* buf, size_t len, uint64_t tag) {
  io_uring_sqe* sqe = NextSqe(tag);
  if (sqe == nullptr) return false;
  io_uring_prep_recv(sqe, fd, buf, len, MSG_DONTWAIT);
  return true;
}

bool IoBatch::QueueSend(int fd, const char* buf, size_t len, uint64_t tag) {
  io_uring_sqe* sqe = NextSqe(tag);
  if (sqe == nullptr) return false;
  io_uring_prep_send(sqe, fd, buf, len, MSG_DONTWAIT | MSG_NOSIGNAL);
  return true;
}

void IoBatch::Complete() {
  auto want = static_cast<unsigned>(tags_.size());
  // The kernel consumes queued operations in order; those it never took did not run.
  unsigned submitted = 0;
  for (int tries = 0; submitted < want && tries < 100; tries++) {
    int r = io_uring_submit(&ring_);
    if (r > 0) submitted += static_cast<unsigned>(r);
    if (r < 0 && r != -EINTR && r != -EAGAIN) break;
  }
  for (unsigned i = 0; i < want; i++) results_[i] = i < submitted ? -EIO : -EAGAIN;
  bool failed = submitted < want;
  for (unsigned done = 0; done < submitted;) {
    io_uring_cqe* cqe;
    int w = io_uring_wait_cqe(&ring_, &cqe);
    if (w == -EINTR) continue;
    if (w < 0) {  // unknown outcomes stay -EIO: the caller must drop those sockets
      failed = true;
      break;
    }
    results_[cqe->user_data] = cqe->res;
    io_uring_cqe_seen(&ring_, cqe);
    done++;
  }
  // A ring that failed is not used again: plain system calls from here on.
  if (failed) Close();
}

}  // namespace bale::net
