// The cluster handshake (proto/handshake.h) on a real store node: a net::Server on
// 127.0.0.1 whose StoreService has a secret (handshake timeout and failure delay of 1 s),
// the router's StoreConnection as the honest client and raw sockets as the others.
// A peer with the secret is served; a peer without one, with another one, replaying a
// recorded proof, sending a frame before the handshake, or saying nothing are refused,
// counted, logged with their address and closed without an answer after the delay,
// while an authenticated connection keeps being served. The client refuses a node that
// proves another secret, or none.
#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstring>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "proto/handshake.h"
#include "raw_peer.h"
#include "router/store_client.h"
#include "store/store_service.h"
#include "store_calls.h"
#include "store_node.h"
#include "test_util.h"

namespace bale {
namespace {

using Clock = std::chrono::steady_clock;
using router::RunCall;
using router::StoreCall;
using router::StoreConnection;
using testing::RawPeer;

constexpr uint64_t kEpoch = 3;
constexpr char kSecret[] = "a cluster secret";
constexpr int kTimeoutMs = 3000;
// The node closes a refused connection 1 s after, on a tick: within 1..2 s, plus slack
// for a loaded machine.
constexpr int64_t kDelayMs = 1000;
constexpr int64_t kLatestMs = 6000;

int64_t MsSince(Clock::time_point t) {
  return std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now() - t).count();
}

// The frame's views point into `bytes`: a temporary would leave them dangling.
proto::Frame Decode(std::string&& bytes) = delete;
proto::Frame Decode(const std::string& bytes) {
  proto::Frame f;
  EXPECT_EQ(proto::DecodeFrame(bytes, {}, &f).status, proto::DecodeStatus::kFrame);
  return f;
}

class StoreAuthTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ClusterMap map;
    ASSERT_TRUE(ClusterMap::Holding(4, {0, 1, 2, 3}, kEpoch, &map).ok());
    StoreAuth auth;
    auth.secret = kSecret;
    auth.handshake_timeout_ms = 1000;
    auth.failure_delay_ms = static_cast<int>(kDelayMs);
    auth.log = [this](const std::string& line) {
      std::lock_guard<std::mutex> l(mu_);
      log_.push_back(line);
    };
    node_ = std::make_unique<testing::StoreNode>(tmp_.Sub("node"), map, Durability::kNone,
                                                 Env::Default(), auth);
    good_ = std::make_unique<StoreConnection>("127.0.0.1", node_->port(), proto::FrameLimits(),
                                              kSecret);
    ASSERT_EQ(Set("k", "v"), MutationStatus::kOk);
  }
  void TearDown() override {
    good_.reset();
    node_.reset();
  }

  MutationStatus Set(std::string_view key, std::string_view value) {
    MutationStatus st =
        testing::CallSet(good_.get(), *node_->objects, kEpoch, key, value, kTimeoutMs);
    EXPECT_NE(st, MutationStatus::kUnavailable);
    return st;
  }
  // The value of `key` over `conn` (the authenticated connection by default).
  Status Get(std::string_view key, std::string* value, StoreConnection* conn = nullptr) {
    return testing::CallGet(conn != nullptr ? conn : good_.get(), *node_->objects, kEpoch, key,
                            value, kTimeoutMs);
  }
  // Still served on the authenticated connection.
  void ExpectServed() {
    std::string value;
    Status s = Get("k", &value);
    EXPECT_TRUE(s.ok()) << s.ToString();
    EXPECT_EQ(value, "v");
  }
  std::string GetFrame(std::string_view key) {
    std::string frame;
    proto::AppendGet(&frame, 1, kEpoch, node_->objects->PartitionOf(key),
                     proto::GetRequest::From(key, LookupOptions()));
    return frame;
  }
  uint64_t failures() const { return node_->service->counters().auth_failures.load(); }
  uint64_t oks() const { return node_->service->counters().auth_ok.load(); }
  std::string LastLog() {
    std::lock_guard<std::mutex> l(mu_);
    return log_.empty() ? std::string() : log_.back();
  }
  // A peer refused since `since`: closed silently after the delay, counted, logged.
  void ExpectRefused(RawPeer& peer, Clock::time_point since, uint64_t failures_before,
                     std::string_view why) {
    ExpectServed();  // meanwhile
    int64_t ms = 0;
    EXPECT_TRUE(peer.ClosedSilently(since, &ms, kLatestMs));
    EXPECT_GE(ms, kDelayMs - 100);
    EXPECT_LT(ms, kLatestMs);
    EXPECT_EQ(failures(), failures_before + 1);
    std::string line = LastLog();
    EXPECT_NE(line.find("refused tcp:127.0.0.1:"), std::string::npos) << line;
    EXPECT_NE(line.find(why), std::string::npos) << line;
    EXPECT_EQ(line.find(kSecret), std::string::npos) << line;
    ExpectServed();
  }

  testing::TempDir tmp_;
  std::unique_ptr<testing::StoreNode> node_;
  std::unique_ptr<StoreConnection> good_;
  std::mutex mu_;
  std::vector<std::string> log_;
};

TEST_F(StoreAuthTest, PeerWithTheSecretIsServed) {
  ExpectServed();
  EXPECT_EQ(oks(), 1u);
  EXPECT_EQ(failures(), 0u);
  // A second connection authenticates on its own; both are served.
  StoreConnection other("127.0.0.1", node_->port(), proto::FrameLimits(), kSecret);
  std::string value;
  ASSERT_TRUE(Get("k", &value, &other).ok());
  EXPECT_EQ(value, "v");
  EXPECT_EQ(oks(), 2u);
  ExpectServed();
  EXPECT_EQ(oks(), 2u);  // once per connection
}

TEST_F(StoreAuthTest, PeerWithoutSecretIsRefused) {
  StoreConnection plain("127.0.0.1", node_->port());
  auto t0 = Clock::now();
  std::string value;
  Status s = Get("k", &value, &plain);
  EXPECT_FALSE(s.ok());  // no answer: closed after the delay, or timed out
  EXPECT_GE(MsSince(t0), kDelayMs - 100);
  EXPECT_EQ(failures(), 1u);
  EXPECT_NE(LastLog().find("before the cluster handshake"), std::string::npos) << LastLog();
  ExpectServed();
}

TEST_F(StoreAuthTest, FrameBeforeTheHandshakeIsRefused) {
  for (bool stats : {false, true}) {
    RawPeer peer(node_->port());
    std::string frame;
    if (stats) {
      proto::AppendStats(&frame, 1, kEpoch);
    } else {
      frame = GetFrame("k");
    }
    uint64_t before = failures();
    auto t0 = Clock::now();
    peer.Send(frame);
    ExpectRefused(peer, t0, before, "a frame before the cluster handshake");
  }
  // A plain HELLO (a peer without a secret), and garbage.
  RawPeer hello(node_->port());
  std::string plain;
  proto::AppendHello(&plain, 0, proto::Hello{}, false);
  auto t0 = Clock::now();
  hello.Send(plain);
  ExpectRefused(hello, t0, 2, "without the cluster handshake");
  RawPeer garbage(node_->port());
  t0 = Clock::now();
  garbage.Send("get k\r\n");
  ExpectRefused(garbage, t0, 3, "a bad frame before the cluster handshake");
}

TEST_F(StoreAuthTest, ProofOfAnotherSecretIsRefused) {
  // A peer that ignores the node's proof and proves another secret.
  RawPeer peer(node_->port());
  proto::Nonce mine;
  ASSERT_TRUE(proto::NewNonce(&mine).ok());
  std::string hello;
  proto::ClientHandshake("another secret", mine).Start(&hello);
  peer.Send(hello);
  std::string challenge_bytes = peer.ReadFrame(kTimeoutMs);  // the frame's views point into it
  proto::Frame challenge = Decode(challenge_bytes);
  ASSERT_EQ(challenge.body.size(), proto::kNonceSize + proto::kMacSize);
  proto::Nonce theirs;
  std::memcpy(theirs.data(), challenge.body.data(), proto::kNonceSize);
  proto::Mac forged = proto::ClientProof("another secret", theirs, mine);
  std::string proof;
  proto::AppendHello(&proof, 0, proto::Hello{1, 1, proto::kHelloAuth | proto::kHelloAuthProof},
                     false, std::string_view(reinterpret_cast<char*>(forged.data()), 32));
  auto t0 = Clock::now();
  peer.Send(proof + GetFrame("k"));  // pipelined: the GET must not be answered
  ExpectRefused(peer, t0, 0, "proof does not verify");
}

TEST_F(StoreAuthTest, ReplayedProofIsRefused) {
  // Record an honest handshake on one connection...
  std::string hello, proof;
  {
    RawPeer peer(node_->port());
    proto::Nonce nonce;
    ASSERT_TRUE(proto::NewNonce(&nonce).ok());
    proto::ClientHandshake client(kSecret, nonce);
    client.Start(&hello);
    peer.Send(hello);
    std::string_view why;
    std::string challenge = peer.ReadFrame(kTimeoutMs);  // the frame's views point into it
    ASSERT_EQ(client.OnFrame(Decode(challenge), &proof, &why), proto::HandshakeResult::kContinue)
        << why;
    peer.Send(proof);
    std::string accepted = peer.ReadFrame(kTimeoutMs);
    std::string none;
    ASSERT_EQ(client.OnFrame(Decode(accepted), &none, &why), proto::HandshakeResult::kDone);
    EXPECT_EQ(oks(), 2u);
  }
  // ...and replay it on another: the node's nonce is new, so the proof does not verify.
  RawPeer replay(node_->port());
  replay.Send(hello);
  EXPECT_FALSE(replay.ReadFrame(kTimeoutMs).empty());  // a fresh challenge
  auto t0 = Clock::now();
  replay.Send(proof + GetFrame("k"));
  ExpectRefused(replay, t0, 0, "proof does not verify");
  EXPECT_EQ(oks(), 2u);
}

TEST_F(StoreAuthTest, SlowHandshakeIsClosed) {
  // Nothing at all, then a HELLO without the proof: both closed after the 1 s timeout.
  auto t0 = Clock::now();
  RawPeer silent(node_->port());
  RawPeer halfway(node_->port());
  std::string hello;
  proto::Nonce nonce;
  ASSERT_TRUE(proto::NewNonce(&nonce).ok());
  proto::ClientHandshake(kSecret, nonce).Start(&hello);
  halfway.Send(hello);
  EXPECT_FALSE(halfway.ReadFrame(kTimeoutMs).empty());
  ExpectServed();
  int64_t ms = 0;
  EXPECT_TRUE(silent.ClosedSilently(t0, &ms, kLatestMs));
  EXPECT_GE(ms, 900);
  EXPECT_LT(ms, kLatestMs);
  EXPECT_TRUE(halfway.ClosedSilently(t0, &ms, kLatestMs));
  EXPECT_LT(ms, kLatestMs);
  EXPECT_EQ(failures(), 2u);
  EXPECT_NE(LastLog().find("no cluster handshake within 1000 ms"), std::string::npos) << LastLog();
  ExpectServed();
}

TEST_F(StoreAuthTest, ClientRefusesANodeWithAnotherSecret) {
  StoreConnection wrong("127.0.0.1", node_->port(), proto::FrameLimits(), "another secret");
  std::string value;
  Status s = Get("k", &value, &wrong);
  EXPECT_TRUE(s.IsUnavailable()) << s.ToString();
  EXPECT_NE(s.message().find("store 127.0.0.1:" + std::to_string(node_->port()) +
                             " failed the cluster handshake"),
            std::string::npos)
      << s.ToString();
  EXPECT_NE(s.message().find("does not verify"), std::string::npos) << s.ToString();
  EXPECT_FALSE(wrong.connected());
  ExpectServed();
}

TEST(StoreAuthInsecureTest, ClientWithSecretRefusesANodeWithout) {
  testing::TempDir tmp;
  ClusterMap map;
  ASSERT_TRUE(ClusterMap::Holding(4, {0, 1, 2, 3}, kEpoch, &map).ok());
  testing::StoreNode node(tmp.Sub("node"), map);  // no secret
  StoreConnection conn("127.0.0.1", node.port(), proto::FrameLimits(), kSecret);
  Status s = conn.Connect(kTimeoutMs);
  EXPECT_TRUE(s.IsUnavailable()) << s.ToString();
  EXPECT_NE(s.message().find("failed the cluster handshake"), std::string::npos) << s.ToString();
  EXPECT_NE(s.message().find("does not authenticate"), std::string::npos) << s.ToString();
  // A client without a secret is served as before.
  StoreConnection plain("127.0.0.1", node.port());
  StoreCall call;
  call.conn = &plain;
  proto::AppendStats(&call.request, 0, kEpoch);
  ASSERT_TRUE(RunCall(call, kTimeoutMs).ok());
  ObjectStats stats;
  EXPECT_TRUE(proto::DecodeStatsReply(call.reply, &stats));
}

}  // namespace
}  // namespace bale
