// The event loop with a toy line protocol over real loopback sockets: pipelining, held
// replies (released out of order, failed, completed from another thread), round hooks,
// backpressure, ticks and a graceful stop. Also checks that net includes no protocol.
#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <map>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "net/conn.h"
#include "net/server.h"
#include "net/service.h"

namespace bale::net {
namespace {

using namespace std::chrono_literals;

struct LineService;

// The round hook of one loop: releases every "sync" hold of the round at its end.
struct SyncHook : RoundHook {
  std::vector<Ticket> held;
  std::atomic<int> rounds{0};
  void OnRoundEnd(Loop& loop) override {
    for (const Ticket& t : held) loop.Release(t);
    if (!held.empty()) rounds++;
    held.clear();
  }
};

// One request a line; "x" answers "x". Commands: "hold N" (a held reply), "release N",
// "fail N", "late N" (a reply completed and released by another thread through Post),
// "sync" (held until the round hook), "big N" (N bytes).
class LineHandler : public Handler {
 public:
  LineHandler(LineService* s, Loop* loop) : service_(s), loop_(loop) {}
  size_t OnInput(std::string_view input, Conn& conn) override;
  void OnTick(time_t, Conn&) override;

 private:
  void Command(std::string_view line, Conn& conn);
  LineService* service_;
  Loop* loop_;
  std::map<int, Ticket> tickets_;
};

struct LineService : Service {
  std::vector<std::unique_ptr<SyncHook>> hooks;
  std::atomic<int> lines{0};
  std::atomic<int> ticks{0};
  std::vector<std::thread> threads;
  std::mutex mu;

  ~LineService() override {
    for (auto& t : threads) t.join();
  }
  void AttachLoop(Loop& loop) override {
    hooks.resize(static_cast<size_t>(loop.index()) + 1);
    hooks[static_cast<size_t>(loop.index())] = std::make_unique<SyncHook>();
    loop.AddRoundHook(hooks[static_cast<size_t>(loop.index())].get());
  }
  std::unique_ptr<Handler> NewHandler(Loop& loop, Conn&) override {
    return std::make_unique<LineHandler>(this, &loop);
  }
  std::string_view TooManyConnections() const override { return "BUSY\n"; }
};

size_t LineHandler::OnInput(std::string_view input, Conn& conn) {
  size_t used = 0;
  while (conn.open() && !conn.closing() && !conn.OutputFull()) {
    size_t eol = input.find('\n', used);
    if (eol == std::string_view::npos) break;
    std::string_view line = input.substr(used, eol - used);
    used = eol + 1;
    service_->lines++;
    Command(line, conn);
  }
  return used;
}

void LineHandler::Command(std::string_view line, Conn& conn) {
  auto arg = [&] { return std::stoi(std::string(line.substr(line.find(' ') + 1))); };
  std::string& out = conn.out();
  size_t at = out.size();
  if (line.rfind("hold ", 0) == 0) {
    out.append("held ").append(std::to_string(arg())).append("\n");
    tickets_[arg()] = conn.Hold(at);
  } else if (line.rfind("release ", 0) == 0) {
    out.append(line).append("\n");
    loop_->Release(tickets_[arg()]);
  } else if (line.rfind("fail ", 0) == 0) {
    loop_->Fail(tickets_[arg()]);
  } else if (line.rfind("late ", 0) == 0) {
    Ticket t = conn.Hold(at);  // nothing written yet: another thread completes it
    Loop* loop = loop_;
    std::string reply = std::string(line) + "\n";
    std::lock_guard<std::mutex> l(service_->mu);
    service_->threads.emplace_back([loop, t, reply] {
      std::this_thread::sleep_for(50ms);
      loop->Post([loop, t, reply] {
        if (std::string* slot = loop->Slot(t)) slot->append(reply);
        loop->Release(t);
      });
    });
  } else if (line == "sync") {
    out.append("synced\n");
    service_->hooks[static_cast<size_t>(loop_->index())]->held.push_back(conn.Hold(at));
  } else if (line.rfind("big ", 0) == 0) {
    out.append(static_cast<size_t>(arg()), 'b').append("\n");
  } else if (line == "quit") {
    conn.CloseAfterReplies(false);
  } else {
    out.append(line).append("\n");
  }
}

void LineHandler::OnTick(time_t, Conn&) { service_->ticks++; }

class Client {
 public:
  explicit Client(uint16_t port, bool expect_connected = true) {
    fd_ = ::socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_port = htons(port);
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    connected_ = ::connect(fd_, reinterpret_cast<sockaddr*>(&a), sizeof(a)) == 0;
    if (expect_connected) EXPECT_TRUE(connected_);
    timeval tv{0, 100 * 1000};
    ::setsockopt(fd_, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
  }
  ~Client() { ::close(fd_); }
  void Send(std::string_view s) {
    ASSERT_EQ(::send(fd_, s.data(), s.size(), MSG_NOSIGNAL), static_cast<ssize_t>(s.size()));
  }
  // Reads until `n` bytes came, the peer closed, or `limit` passed.
  std::string Read(size_t n, std::chrono::milliseconds limit = 5000ms) {
    std::string got;
    auto deadline = std::chrono::steady_clock::now() + limit;
    char buf[65536];
    while (got.size() < n && std::chrono::steady_clock::now() < deadline) {
      ssize_t r = ::recv(fd_, buf, std::min(sizeof(buf), n - got.size()), 0);
      if (r == 0) {
        closed_ = true;
        break;
      }
      if (r > 0) got.append(buf, static_cast<size_t>(r));
    }
    return got;
  }
  bool closed() const { return closed_; }
  bool connected() const { return connected_; }

 private:
  int fd_ = -1;
  bool closed_ = false;
  bool connected_ = false;
};

class EventLoopTest : public ::testing::Test {
 protected:
  void Start(ServerConfig config = {}) {
    config.threads = 2;
    server_ = std::make_unique<Server>(config, std::vector<Listener>{{"127.0.0.1", 0, &service_}});
    ASSERT_TRUE(server_->Start().ok());
  }
  uint16_t port() const { return server_->port(0); }
  LineService service_;
  std::unique_ptr<Server> server_;
};

TEST_F(EventLoopTest, PipelinedRequestsAnsweredInOrder) {
  Start();
  Client c(port());
  std::string req, want;
  for (int i = 0; i < 200; i++) {
    req += "r" + std::to_string(i) + "\n";
  }
  c.Send(req);
  EXPECT_EQ(c.Read(req.size()), req);
  c.Send("quit\n");
  EXPECT_EQ(c.Read(1), "");
  EXPECT_TRUE(c.closed());
}

TEST_F(EventLoopTest, HeldRepliesReleasedOutOfOrderLeaveInRequestOrder) {
  Start();
  Client c(port());
  c.Send("a\nhold 1\nhold 2\nb\nrelease 2\n");
  EXPECT_EQ(c.Read(100, 300ms), "a\n");  // everything from the first hold waits
  c.Send("release 1\n");
  std::string want = "held 1\nheld 2\nb\nrelease 2\nrelease 1\n";
  EXPECT_EQ(c.Read(want.size()), want);
}

TEST_F(EventLoopTest, FailedHoldClosesWithoutSendingWhatFollows) {
  Start();
  Client c(port());
  c.Send("a\nhold 1\nb\nfail 1\nc\n");
  EXPECT_EQ(c.Read(100), "a\n");
  EXPECT_TRUE(c.closed());
}

TEST_F(EventLoopTest, ReplyCompletedFromAnotherThreadThroughPost) {
  Start();
  Client c(port());
  c.Send("a\nlate 7\nb\n");
  std::string want = "a\nlate 7\nb\n";
  EXPECT_EQ(c.Read(want.size()), want);
}

TEST_F(EventLoopTest, RoundHookReleasesTheRoundsHolds) {
  Start();
  Client c(port());
  c.Send("a\nsync\nb\nsync\n");
  std::string want = "a\nsynced\nb\nsynced\n";
  EXPECT_EQ(c.Read(want.size()), want);
  int rounds = 0;
  for (auto& h : service_.hooks) rounds += h->rounds.load();
  EXPECT_GE(rounds, 1);
}

TEST_F(EventLoopTest, FullOutputPausesReadingUntilTheClientReads) {
  ServerConfig config;
  config.max_output_bytes = 64 << 10;
  Start(config);
  Client c(port());
  constexpr size_t kBig = 32 << 20;  // more than loopback's socket buffers hold
  std::string pings;
  for (int i = 0; i < 100; i++) pings += "ping\n";
  c.Send("big " + std::to_string(kBig) + "\n" + pings);
  std::this_thread::sleep_for(300ms);
  EXPECT_EQ(service_.lines.load(), 1);  // paused: the pings wait in the socket
  std::string got = c.Read(kBig + 1 + pings.size(), 20000ms);
  ASSERT_EQ(got.size(), kBig + 1 + pings.size());
  EXPECT_EQ(got.substr(kBig + 1), pings);
  EXPECT_EQ(service_.lines.load(), 101);
}

TEST_F(EventLoopTest, TicksFireAboutOnceASecond) {
  Start();
  Client c(port());
  c.Send("a\n");
  EXPECT_EQ(c.Read(2), "a\n");
  auto deadline = std::chrono::steady_clock::now() + 5s;
  while (service_.ticks.load() < 2 && std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(50ms);
  }
  EXPECT_GE(service_.ticks.load(), 2);
}

TEST_F(EventLoopTest, IdleTimeoutClosesAndCounts) {
  ServerConfig config;
  config.idle_timeout_s = 1;
  Start(config);
  Client c(port());
  EXPECT_EQ(c.Read(1, 4000ms), "");
  EXPECT_TRUE(c.closed());
  EXPECT_EQ(server_->Counts(0).idle_kicks, 1u);
}

TEST_F(EventLoopTest, TooManyConnectionsAreRefusedWithTheServicesReply) {
  ServerConfig config;
  config.max_connections = 1;
  Start(config);
  Client a(port());
  a.Send("a\n");
  EXPECT_EQ(a.Read(2), "a\n");
  Client b(port());
  EXPECT_EQ(b.Read(100), "BUSY\n");
  // The refusing loop's counters are read from this thread: wait for them to show.
  auto deadline = std::chrono::steady_clock::now() + 2s;
  while (server_->Counts(0).rejected_connections == 0 &&
         std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(1ms);
  }
  NetCounts n = server_->Counts(0);
  EXPECT_EQ(n.rejected_connections, 1u);
  EXPECT_EQ(n.curr_connections, 1);
  EXPECT_EQ(n.total_connections, 1u);
  EXPECT_EQ(n.bytes_read, 2u);
}

TEST_F(EventLoopTest, StopAnswersWhatWasReceived) {
  Start();
  Client c(port());
  std::string req;
  for (int i = 0; i < 50; i++) req += "s" + std::to_string(i) + "\n";
  c.Send(req + "hold 1\nx\n");  // a hold never released: Stop's flush is bounded
  auto deadline = std::chrono::steady_clock::now() + 5s;
  while (service_.lines.load() < 52 && std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(10ms);
  }
  server_->Stop();
  EXPECT_EQ(c.Read(req.size() + 100), req);
  EXPECT_TRUE(c.closed());
  Client late(port(), /*expect_connected=*/false);
  EXPECT_FALSE(late.connected());  // nothing listens any more
}

TEST_F(EventLoopTest, ConnectionsListsEveryLoopsConnectionsWithTheirAddresses) {
  Start();
  Client a(port()), b(port()), c(port());
  for (Client* cl : {&a, &b, &c}) {
    cl->Send("x\n");
    EXPECT_EQ(cl->Read(2), "x\n");  // accepted and adopted by its loop
  }
  std::vector<ConnInfo> conns = server_->Connections();
  ASSERT_EQ(conns.size(), 3u);
  std::string listen = "tcp:127.0.0.1:" + std::to_string(port());
  for (size_t i = 0; i < conns.size(); i++) {
    if (i > 0) {
      EXPECT_LT(conns[i - 1].fd, conns[i].fd);
    }
    EXPECT_EQ(conns[i].listener, 0u);
    EXPECT_EQ(conns[i].local, listen);
    EXPECT_EQ(conns[i].peer.substr(0, 14), "tcp:127.0.0.1:");
    EXPECT_NE(conns[i].peer, listen);
    EXPECT_LE(conns[i].last_active, ::time(nullptr));
  }
}

}  // namespace
}  // namespace bale::net
