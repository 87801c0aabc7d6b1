// TLS on the internal link (net/tls.h, issue #14) on a real store node: a net::Server on
// 127.0.0.1 whose listener has a server-side TlsContext asking for client certificates
// (CA "ca", made by scripts/make_certs) and whose StoreService has a cluster secret; the
// router's StoreConnection with a client-side context as the honest client.
// The honest client is served (small values and large ones, which a plain link sends
// by sendfile and a TLS link reads and encrypts); a client with a certificate from
// another CA, with none, trusting another CA, speaking plain TCP, or stalling its
// handshake (silent, or half a ClientHello) is refused, counted and logged, while the
// honest connection keeps being served. Bad files are refused with clear errors.
#include <gtest/gtest.h>

#include <chrono>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "net/tls.h"
#include "raw_peer.h"
#include "router/store_client.h"
#include "store/store_service.h"
#include "store_calls.h"
#include "store_node.h"
#include "test_certs.h"
#include "test_util.h"

namespace bale {
namespace {

using Clock = std::chrono::steady_clock;
using net::TlsContext;
using router::RunCall;
using router::StoreCall;
using router::StoreConnection;
using testing::RawPeer;

constexpr uint64_t kEpoch = 3;
constexpr char kSecret[] = "a cluster secret";
constexpr int kTimeoutMs = 3000;
constexpr int kTlsTimeoutMs = 1000;  // the node's TLS handshake deadline here
constexpr int kLatestMs = 6000;      // a bound for anything the node does on its ticks

std::shared_ptr<const TlsContext> Context(TlsContext::Side side, const net::TlsFiles& files) {
  std::shared_ptr<const TlsContext> c;
  Status s = TlsContext::Create(side, files, &c);
  EXPECT_TRUE(s.ok()) << s.ToString();
  return c;
}

net::TlsFiles Files(const testing::CertFiles& c) { return {c.cert, c.key, c.ca}; }

class StoreTlsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string log;
    ASSERT_TRUE(testing::MakeCerts(tmp_.Sub("ca"), {"node", "router"}, &log)) << log;
    ASSERT_TRUE(testing::MakeCerts(tmp_.Sub("other"), {"router"}, &log)) << log;
    ClusterMap map;
    ASSERT_TRUE(ClusterMap::Holding(4, {0, 1, 2, 3}, kEpoch, &map).ok());
    StoreAuth auth;
    auth.secret = kSecret;
    auth.log = [this](const std::string& line) {
      std::lock_guard<std::mutex> l(mu_);
      log_.push_back(line);
    };
    auto tls = Context(TlsContext::Side::kServer, Files(testing::CertsOf(tmp_.Sub("ca"), "node")));
    node_ = std::make_unique<testing::StoreNode>(tmp_.Sub("node"), map, Durability::kNone,
                                                 Env::Default(), auth, tls, kTlsTimeoutMs);
    good_ = Client(testing::CertsOf(tmp_.Sub("ca"), "router"));
    ASSERT_EQ(Set("k", "v", good_.get()), MutationStatus::kOk);
  }
  void TearDown() override {
    good_.reset();
    node_.reset();
  }

  // A TLS client with these files and the secret.
  std::unique_ptr<StoreConnection> Client(const testing::CertFiles& files) {
    return std::make_unique<StoreConnection>(
        "127.0.0.1", node_->port(), proto::FrameLimits(), kSecret,
        Context(TlsContext::Side::kClient, {files.cert, files.key, files.ca}));
  }
  MutationStatus Set(std::string_view key, std::string_view value, StoreConnection* conn) {
    return testing::CallSet(conn, *node_->objects, kEpoch, key, value, kTimeoutMs);
  }
  Status Get(std::string_view key, std::string* value, StoreConnection* conn) {
    return testing::CallGet(conn, *node_->objects, kEpoch, key, value, kTimeoutMs);
  }
  void ExpectServed() {
    std::string value;
    Status s = Get("k", &value, good_.get());
    EXPECT_TRUE(s.ok()) << s.ToString();
    EXPECT_EQ(value, "v");
  }
  uint64_t tls_failures() const { return node_->service->counters().tls_failures.load(); }
  uint64_t auth_failures() const { return node_->service->counters().auth_failures.load(); }
  // Waits (bounded) until the node has counted `n` TLS failures; then checks its log.
  void ExpectCounted(uint64_t n, std::string_view why) {
    auto deadline = Clock::now() + std::chrono::milliseconds(kLatestMs);
    while (tls_failures() < n && Clock::now() < deadline) {
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    EXPECT_EQ(tls_failures(), n);
    EXPECT_EQ(auth_failures(), n);
    std::lock_guard<std::mutex> l(mu_);
    ASSERT_FALSE(log_.empty());
    EXPECT_NE(log_.back().find("refused tcp:127.0.0.1:"), std::string::npos) << log_.back();
    EXPECT_NE(log_.back().find("TLS handshake failed"), std::string::npos) << log_.back();
    EXPECT_NE(log_.back().find(why), std::string::npos) << log_.back();
  }
  // A client that must fail: its error names the TLS or the cluster handshake.
  void ExpectRefused(StoreConnection* conn, std::string_view error) {
    std::string value;
    Status s = Get("k", &value, conn);
    EXPECT_FALSE(s.ok());
    EXPECT_NE(s.ToString().find(error), std::string::npos) << s.ToString();
    ExpectServed();  // meanwhile
  }

  testing::TempDir tmp_;
  std::unique_ptr<testing::StoreNode> node_;
  std::unique_ptr<StoreConnection> good_;
  std::mutex mu_;
  std::vector<std::string> log_;
};

TEST_F(StoreTlsTest, ClientWithTheCaCertificateIsServed) {
  ExpectServed();
  // Values of every size, the large ones past the node's sendfile threshold (read from
  // their segment and encrypted on a TLS link), several in one batch.
  std::vector<std::string> values = {std::string(100, 'a'), std::string(kValueSendfileBytes, 'b'),
                                     std::string(3 << 20, 'c')};
  for (size_t i = 0; i < values.size(); i++) {
    for (size_t j = 0; j < values[i].size(); j += 4096)
      values[i][j] = static_cast<char>('A' + j % 26);
    ASSERT_EQ(Set("v" + std::to_string(i), values[i], good_.get()), MutationStatus::kOk);
  }
  std::vector<StoreCall> calls(values.size() * 2);
  for (size_t i = 0; i < calls.size(); i++) {
    std::string key = "v" + std::to_string(i % values.size());
    calls[i].conn = good_.get();
    proto::AppendGet(&calls[i].request, 0, kEpoch, node_->objects->PartitionOf(key),
                     proto::GetRequest::From(key, LookupOptions()));
  }
  ASSERT_TRUE(router::RunCalls(calls, kTimeoutMs).ok());
  for (size_t i = 0; i < calls.size(); i++) {
    ObjectView v;
    ASSERT_TRUE(calls[i].status.ok()) << calls[i].status.ToString();
    ASSERT_TRUE(proto::DecodeValue(calls[i].reply, &v));
    EXPECT_TRUE(v.value == values[i % values.size()]) << "value " << i;
  }
  EXPECT_EQ(tls_failures(), 0u);
  EXPECT_GE(node_->service->counters().auth_ok.load(), 1u);
}

// A batch whose replies pass the node's output limit: the node stops reading with
// requests still inside OpenSSL (read ahead), and must take them up when the client has
// read its replies, though the socket has nothing more to say.
TEST_F(StoreTlsTest, PipelinedBatchPastTheOutputLimit) {
  // Copied into the output (below the sendfile threshold), so that it fills.
  std::string value(kValueSendfileBytes / 2, 'x');
  ASSERT_EQ(Set("big", value, good_.get()), MutationStatus::kOk);
  std::vector<StoreCall> calls(600);  // 3 TLS records of requests, 19 MiB of replies
  for (StoreCall& c : calls) {
    c.conn = good_.get();
    proto::AppendGet(&c.request, 0, kEpoch, node_->objects->PartitionOf("big"),
                     proto::GetRequest::From("big", LookupOptions()));
  }
  Status s = router::RunCalls(calls, 4 * kTimeoutMs);
  ASSERT_TRUE(s.ok()) << s.ToString();
  for (size_t i = 0; i < calls.size(); i++) {
    ObjectView v;
    ASSERT_TRUE(calls[i].status.ok()) << i << ": " << calls[i].status.ToString();
    ASSERT_TRUE(proto::DecodeValue(calls[i].reply, &v)) << i;
    ASSERT_EQ(v.value.size(), value.size()) << i;
  }
}

TEST_F(StoreTlsTest, CertificateFromAnotherCaIsRefused) {
  testing::CertFiles other = testing::CertsOf(tmp_.Sub("other"), "router");
  other.ca = tmp_.Sub("ca") + "/ca.pem";  // trusts the node, but its own CA is another
  auto conn = Client(other);
  ExpectRefused(conn.get(), "store 127.0.0.1:");
  ExpectCounted(1, "certificate verify failed");
}

TEST_F(StoreTlsTest, ClientWithoutCertificateIsRefused) {
  testing::CertFiles none{"", "", tmp_.Sub("ca") + "/ca.pem"};
  auto conn = Client(none);
  ExpectRefused(conn.get(), "store 127.0.0.1:");
  ExpectCounted(1, "certificate");
}

TEST_F(StoreTlsTest, ClientRefusesANodeOfAnotherCa) {
  testing::CertFiles files = testing::CertsOf(tmp_.Sub("ca"), "router");
  files.ca = tmp_.Sub("other") + "/ca.pem";
  auto conn = Client(files);
  ExpectRefused(conn.get(), "failed the TLS handshake: certificate verify failed");
  ExpectCounted(1, "unknown ca");
}

TEST_F(StoreTlsTest, PlainTcpClientIsRefused) {
  // The router's client without TLS: its HELLO is not a TLS record.
  StoreConnection plain("127.0.0.1", node_->port(), proto::FrameLimits(), kSecret);
  ExpectRefused(&plain, "failed the cluster handshake");
  ExpectCounted(1, "wrong version number");
  // A raw one sending a memcached line is closed at once, not after the deadline.
  RawPeer raw(node_->port());
  auto since = Clock::now();
  raw.Send("get k\r\n");
  int64_t ms = 0;
  EXPECT_TRUE(raw.Closed(since, &ms, kLatestMs));
  EXPECT_LT(ms, kTlsTimeoutMs);
  ExpectCounted(2, "");
  ExpectServed();
}

TEST_F(StoreTlsTest, StalledHandshakesTimeOut) {
  RawPeer silent(node_->port());
  RawPeer half(node_->port());
  auto since = Clock::now();
  // A TLS handshake record's header announcing 512 bytes, then three of them.
  half.Send(std::string("\x16\x03\x01\x02\x00\x01\x00\x01", 8));
  ExpectServed();  // meanwhile
  int64_t ms = 0;
  EXPECT_TRUE(silent.Closed(since, &ms, kLatestMs));
  EXPECT_GE(ms, kTlsTimeoutMs - 100);
  EXPECT_LT(ms, kLatestMs);
  EXPECT_TRUE(half.Closed(since, &ms, kLatestMs));
  EXPECT_GE(ms, kTlsTimeoutMs - 100);
  EXPECT_LT(ms, kLatestMs);
  ExpectCounted(2, "no TLS handshake within 1000 ms");
  ExpectServed();
}

TEST(TlsContextTest, BadFilesAreRefusedClearly) {
  testing::TempDir tmp;
  std::string log;
  ASSERT_TRUE(testing::MakeCerts(tmp.Sub("a"), {"node"}, &log)) << log;
  ASSERT_TRUE(testing::MakeCerts(tmp.Sub("b"), {"node"}, &log)) << log;
  testing::CertFiles a = testing::CertsOf(tmp.Sub("a"), "node");
  testing::CertFiles b = testing::CertsOf(tmp.Sub("b"), "node");
  std::shared_ptr<const TlsContext> c;
  auto error = [&](TlsContext::Side side, const net::TlsFiles& f) {
    Status s = TlsContext::Create(side, f, &c);
    EXPECT_FALSE(s.ok());
    return s.ToString();
  };
  EXPECT_NE(error(TlsContext::Side::kServer, {a.cert, b.key, ""}).find("does not match --tls-cert"),
            std::string::npos);
  std::string missing = error(TlsContext::Side::kServer, {tmp.Sub("none.pem"), a.key, ""});
  EXPECT_NE(missing.find("--tls-cert " + tmp.Sub("none.pem")), std::string::npos) << missing;
  EXPECT_NE(error(TlsContext::Side::kServer, {a.cert, a.key, a.key}).find("--tls-ca"),
            std::string::npos);
  EXPECT_NE(error(TlsContext::Side::kServer, {a.cert, "", ""}).find("go together"),
            std::string::npos);
  EXPECT_NE(error(TlsContext::Side::kServer, {"", "", a.ca}).find("needs --tls-cert"),
            std::string::npos);
  EXPECT_NE(error(TlsContext::Side::kClient, {a.cert, a.key, ""}).find("needs --tls-ca"),
            std::string::npos);
  EXPECT_TRUE(TlsContext::Create(TlsContext::Side::kServer, {a.cert, a.key, ""}, &c).ok());
  EXPECT_FALSE(c->verifies_peer());
  EXPECT_TRUE(TlsContext::Create(TlsContext::Side::kClient, {"", "", a.ca}, &c).ok());
  EXPECT_TRUE(c->verifies_peer());
}

}  // namespace
}  // namespace bale
