// CoordSession against a real etcd (tests/etcd_server.h): the map watch, the node's leased
// registration across etcd restarts and lost leases, a quiet request count, a prompt Stop
// (issue #13).
#include "coord/coord_session.h"

#include <gtest/gtest.h>

#include <chrono>
#include <functional>
#include <mutex>
#include <thread>
#include <utility>
#include <vector>

#include "etcd_server.h"

namespace bale::coord {
namespace {

using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;

constexpr char kMapKey[] = "/bale/t/map";
constexpr char kNodeKey[] = "/bale/t/nodes/n1";

// Polls `pred` every 50 ms for up to `limit`.
bool Eventually(const std::function<bool()>& pred, std::chrono::seconds limit = 10s) {
  auto until = Clock::now() + limit;
  while (Clock::now() < until) {
    if (pred()) return true;
    std::this_thread::sleep_for(50ms);
  }
  return pred();
}

class CoordSessionTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_TRUE(etcd_.ok()) << etcd_.error();
    EtcdOptions options;
    options.endpoints = etcd_.endpoint();
    ASSERT_TRUE(EtcdClient::Connect(options, &admin_).ok());
  }

  std::unique_ptr<CoordSession> NewSession(int64_t ttl_seconds = 5) {
    CoordSessionOptions options;
    options.etcd.endpoints = etcd_.endpoint();
    options.ttl_seconds = ttl_seconds;
    options.leased_keys = {{kNodeKey, R"({"host":"127.0.0.1","port":7000})"}};
    options.watch_key = kMapKey;
    options.on_change = [this](const std::string& value, int64_t rev) {
      std::lock_guard lock(mu_);
      changes_.emplace_back(value, rev);
    };
    auto session = std::make_unique<CoordSession>(std::move(options));
    session->Start();
    return session;
  }

  std::vector<std::pair<std::string, int64_t>> changes() {
    std::lock_guard lock(mu_);
    return changes_;
  }
  // The node key's value ("" when absent or etcd does not answer).
  std::string NodeValue() {
    std::string value;
    int64_t mod = 0;
    return admin_->Get(kNodeKey, &value, &mod).ok() ? value : "";
  }

  testing::EtcdServer etcd_;
  std::unique_ptr<EtcdClient> admin_;
  std::mutex mu_;
  std::vector<std::pair<std::string, int64_t>> changes_;
};

TEST_F(CoordSessionTest, ReportsMapChangesAndHoldsTheNodeKeyUntilStopped) {
  auto session = NewSession();
  ASSERT_TRUE(Eventually([&] { return session->connected(); })) << session->last_error();
  // At start: the map is absent.
  ASSERT_TRUE(Eventually([&] { return changes().size() == 1; }));
  EXPECT_EQ(changes()[0], std::make_pair(std::string(), int64_t{0}));
  EXPECT_EQ(NodeValue(), R"({"host":"127.0.0.1","port":7000})");

  // The map changes by transactions conditioned on its current revision.
  bool ok = false;
  int64_t rev1 = 0, rev2 = 0;
  ASSERT_TRUE(admin_->PutIf(kMapKey, "epoch 1", 0, &ok, &rev1).ok());
  ASSERT_TRUE(ok);
  ASSERT_TRUE(admin_->PutIf(kMapKey, "epoch 2", rev1, &ok, &rev2).ok());
  ASSERT_TRUE(ok);
  ASSERT_TRUE(Eventually([&] { return changes().size() == 3; }));
  EXPECT_EQ(changes()[1], std::make_pair(std::string("epoch 1"), rev1));
  EXPECT_EQ(changes()[2], std::make_pair(std::string("epoch 2"), rev2));
  ASSERT_TRUE(admin_->Delete(kMapKey).ok());
  ASSERT_TRUE(Eventually([&] { return changes().size() == 4; }));
  EXPECT_EQ(changes()[3].first, "");

  session->UpdateKey(kNodeKey, "draining");
  EXPECT_TRUE(Eventually([&] { return NodeValue() == "draining"; }));

  // A clean stop revokes the lease: the node shows down at once, not one TTL later.
  auto start = Clock::now();
  session->Stop();
  EXPECT_LT(Clock::now() - start, 1s);
  EXPECT_EQ(NodeValue(), "");
  EXPECT_EQ(changes().size(), 4u);
}

TEST_F(CoordSessionTest, ComesBackAfterEtcdRestartsWithItsNodeKey) {
  bool ok = false;
  int64_t rev1 = 0;
  ASSERT_TRUE(admin_->PutIf(kMapKey, "epoch 1", 0, &ok, &rev1).ok());
  auto session = NewSession();
  ASSERT_TRUE(Eventually([&] { return session->connected(); })) << session->last_error();
  ASSERT_TRUE(Eventually([&] { return changes().size() == 1; }));
  EXPECT_EQ(changes()[0], std::make_pair(std::string("epoch 1"), rev1));

  etcd_.Kill();
  EXPECT_TRUE(Eventually([&] { return !session->connected(); }, 20s));
  EXPECT_EQ(session->reconnects(), 0u);
  ASSERT_TRUE(etcd_.Restart()) << etcd_.error();
  ASSERT_TRUE(Eventually([&] { return session->connected(); }, 20s)) << session->last_error();
  EXPECT_EQ(session->reconnects(), 1u);
  EXPECT_TRUE(Eventually([&] { return !NodeValue().empty(); }));

  // The watch is back too: a change after the restart is reported, once.
  int64_t rev2 = 0;
  ASSERT_TRUE(admin_->PutIf(kMapKey, "epoch 2", rev1, &ok, &rev2).ok());
  ASSERT_TRUE(ok);
  ASSERT_TRUE(Eventually([&] { return changes().size() >= 2; }));
  EXPECT_EQ(changes().size(), 2u);
  EXPECT_EQ(changes().back(), std::make_pair(std::string("epoch 2"), rev2));
}

TEST_F(CoordSessionTest, PutsItsKeysAgainUnderANewLeaseWhenTheOldOneIsGone) {
  auto session = NewSession();
  ASSERT_TRUE(Eventually([&] { return session->connected(); })) << session->last_error();
  ASSERT_TRUE(Eventually([&] { return !NodeValue().empty(); }));
  int64_t old_lease = session->lease_id();
  ASSERT_NE(old_lease, 0);
  ASSERT_TRUE(admin_->RevokeLease(old_lease).ok());  // as if it expired while etcd was away
  EXPECT_EQ(NodeValue(), "");
  // The next keep-alive (within TTL/3) finds the lease gone: a new one, the key again.
  ASSERT_TRUE(Eventually([&] { return !NodeValue().empty(); }));
  EXPECT_NE(session->lease_id(), old_lease);
}

TEST_F(CoordSessionTest, RequestsGrowOnlyByKeepAlivesWhileNothingChanges) {
  auto session = NewSession(/*ttl_seconds=*/6);
  ASSERT_TRUE(Eventually([&] { return session->connected(); })) << session->last_error();
  uint64_t before = session->requests();
  EXPECT_GE(before, 4u);  // lease, put, get, watch
  std::this_thread::sleep_for(3s);
  // A keep-alive every TTL/3 = 2 s (etcd grants at least the TTL asked): at most 2 in 3 s.
  EXPECT_LE(session->requests() - before, 2u);
}

TEST_F(CoordSessionTest, StopIsPromptWhenEtcdHangs) {
  auto session = NewSession();
  ASSERT_TRUE(Eventually([&] { return session->connected(); })) << session->last_error();
  etcd_.Pause();
  session->UpdateKey(kNodeKey, "x");  // the session thread now waits on the hung etcd
  std::this_thread::sleep_for(200ms);
  auto start = Clock::now();
  session->Stop();
  EXPECT_LT(Clock::now() - start, 1s);
  etcd_.Resume();
}

TEST_F(CoordSessionTest, NoEtcdMeansNotConnectedAndAPromptStop) {
  CoordSessionOptions options;
  options.etcd.endpoints = "http://127.0.0.1:1";
  CoordSession session(options);
  session.Start();
  std::this_thread::sleep_for(500ms);
  EXPECT_FALSE(session.connected());
  EXPECT_FALSE(session.last_error().empty());
  auto start = Clock::now();
  session.Stop();
  EXPECT_LT(Clock::now() - start, 1s);
}

}  // namespace
}  // namespace bale::coord
