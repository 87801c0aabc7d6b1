#include "net/io_batch.h"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <string>
#include <thread>
#include <utility>
#include <vector>

namespace bale::net {
namespace {

// A connected, non-blocking stream socket pair, closed at the end of the test.
struct Pair {
  Pair() { EXPECT_EQ(::socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0, fd), 0); }
  ~Pair() {
    for (int f : fd) {
      if (f >= 0) ::close(f);
    }
  }
  int fd[2] = {-1, -1};
};

// Skips a test where the kernel refuses io_uring; the loop then uses plain calls,
// which the integration suite covers with --io-uring off.
#define OPEN_OR_SKIP(batch, n)                                           \
  do {                                                                   \
    Status s_ = (batch).Open(n);                                         \
    if (s_.ok()) s_ = (batch).Enable();                                  \
    if (!s_.ok()) GTEST_SKIP() << "io_uring refused: " << s_.ToString(); \
  } while (0)

std::vector<std::pair<uint64_t, int>> RunAll(IoBatch* b) {
  std::vector<std::pair<uint64_t, int>> got;
  b->Run([&](uint64_t tag, int result) { got.emplace_back(tag, result); });
  return got;
}

TEST(IoBatchTest, SendsAndReceivesOnManySocketsInOneRun) {
  IoBatch b;
  OPEN_OR_SKIP(b, 64);
  std::vector<Pair> pairs(10);
  std::vector<std::string> msgs;
  for (size_t i = 0; i < pairs.size(); i++) msgs.push_back("reply " + std::to_string(i));
  for (size_t i = 0; i < pairs.size(); i++) {
    ASSERT_TRUE(b.QueueSend(pairs[i].fd[0], msgs[i].data(), msgs[i].size(), 100 + i));
  }
  EXPECT_EQ(b.queued(), 10u);
  auto sent = RunAll(&b);
  ASSERT_EQ(sent.size(), 10u);
  for (size_t i = 0; i < sent.size(); i++) {
    EXPECT_EQ(sent[i].first, 100 + i);  // in the order queued
    EXPECT_EQ(sent[i].second, static_cast<int>(msgs[i].size()));
  }
  EXPECT_EQ(b.queued(), 0u);

  std::vector<std::string> bufs(pairs.size(), std::string(64, '\0'));
  for (size_t i = 0; i < pairs.size(); i++) {
    ASSERT_TRUE(b.QueueRecv(pairs[i].fd[1], bufs[i].data(), bufs[i].size(), i));
  }
  auto received = RunAll(&b);
  ASSERT_EQ(received.size(), 10u);
  for (size_t i = 0; i < received.size(); i++) {
    ASSERT_EQ(received[i].second, static_cast<int>(msgs[i].size()));
    EXPECT_EQ(bufs[i].substr(0, msgs[i].size()), msgs[i]);
  }
}

TEST(IoBatchTest, ReceiveOnAnEmptySocketSaysAgainInsteadOfWaiting) {
  IoBatch b;
  OPEN_OR_SKIP(b, 8);
  Pair p;
  char buf[16];
  ASSERT_TRUE(b.QueueRecv(p.fd[1], buf, sizeof(buf), 7));
  auto got = RunAll(&b);  // must return at once: nothing stays in flight
  ASSERT_EQ(got.size(), 1u);
  EXPECT_EQ(got[0].second, -EAGAIN);
  EXPECT_TRUE(b.ok());
}

TEST(IoBatchTest, SendToAFullSocketSaysAgainAfterMovingWhatFits) {
  IoBatch b;
  OPEN_OR_SKIP(b, 8);
  Pair p;
  std::string big(1 << 20, 'x');  // more than the socket buffers hold
  ASSERT_TRUE(b.QueueSend(p.fd[0], big.data(), big.size(), 1));
  auto first = RunAll(&b);
  ASSERT_EQ(first.size(), 1u);
  ASSERT_GT(first[0].second, 0);
  ASSERT_LT(first[0].second, static_cast<int>(big.size()));
  ASSERT_TRUE(b.QueueSend(p.fd[0], big.data(), big.size(), 2));
  auto second = RunAll(&b);
  ASSERT_EQ(second.size(), 1u);
  EXPECT_EQ(second[0].second, -EAGAIN);
}

TEST(IoBatchTest, PeerClosedAndBadDescriptorsAreReportedPerOperation) {
  IoBatch b;
  OPEN_OR_SKIP(b, 8);
  Pair closed_peer, broken_pipe, fine;
  ::close(closed_peer.fd[0]);
  closed_peer.fd[0] = -1;
  ::close(broken_pipe.fd[1]);
  broken_pipe.fd[1] = -1;
  char buf[16];
  ASSERT_TRUE(b.QueueRecv(closed_peer.fd[1], buf, sizeof(buf), 0));
  ASSERT_TRUE(b.QueueSend(broken_pipe.fd[0], "x", 1, 1));  // no SIGPIPE: MSG_NOSIGNAL
  ASSERT_TRUE(b.QueueSend(-1, "x", 1, 2));
  ASSERT_TRUE(b.QueueSend(fine.fd[0], "ok", 2, 3));
  auto got = RunAll(&b);
  ASSERT_EQ(got.size(), 4u);
  EXPECT_EQ(got[0].second, 0);  // end of stream
  EXPECT_EQ(got[1].second, -EPIPE);
  EXPECT_EQ(got[2].second, -EBADF);
  EXPECT_EQ(got[3].second, 2);  // one failure does not stop the others
  EXPECT_TRUE(b.ok());
}

TEST(IoBatchTest, RefusesMoreThanItsCapacityUntilRun) {
  IoBatch b;
  OPEN_OR_SKIP(b, 4);
  Pair p;
  for (uint64_t i = 0; i < b.capacity(); i++) ASSERT_TRUE(b.QueueSend(p.fd[0], "a", 1, i));
  EXPECT_FALSE(b.QueueSend(p.fd[0], "a", 1, 99));
  EXPECT_EQ(RunAll(&b).size(), b.capacity());
  EXPECT_TRUE(b.QueueSend(p.fd[0], "a", 1, 5));
  EXPECT_EQ(RunAll(&b).size(), 1u);
  char buf[16];
  EXPECT_EQ(::read(p.fd[1], buf, sizeof(buf)), static_cast<ssize_t>(b.capacity() + 1));
}

TEST(IoBatchTest, AnotherThreadOpensTheOwnerEnables) {
  IoBatch b;
  Status opened;
  std::thread([&] { opened = b.Open(8); }).join();  // as the server does at start
  if (!opened.ok()) GTEST_SKIP() << "io_uring refused: " << opened.ToString();
  ASSERT_TRUE(b.Enable().ok());
  Pair p;
  ASSERT_TRUE(b.QueueSend(p.fd[0], "hi", 2, 0));
  auto got = RunAll(&b);
  ASSERT_EQ(got.size(), 1u);
  EXPECT_EQ(got[0].second, 2);
}

TEST(IoBatchTest, AClosedBatchQueuesNothing) {
  IoBatch b;
  EXPECT_FALSE(b.ok());
  EXPECT_FALSE(b.QueueSend(0, "a", 1, 0));
  int runs = 0;
  b.Run([&](uint64_t, int) { runs++; });
  EXPECT_EQ(runs, 0);
}

}  // namespace
}  // namespace bale::net
