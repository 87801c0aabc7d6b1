// EtcdClient against a real etcd (tests/etcd_server.h): KV, conditional puts, leases,
// watches and elections give real results (issue #13).
#include "coord/etcd_client.h"

#include <gtest/gtest.h>

#include <chrono>
#include <functional>
#include <thread>

#include "coord/etcd_watch.h"
#include "etcd_server.h"

namespace bale::coord {
namespace {

using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;

class EtcdClientTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_TRUE(etcd_.ok()) << etcd_.error();
    client_ = NewClient();
    ASSERT_NE(client_, nullptr);
  }
  std::unique_ptr<EtcdClient> NewClient() {
    EtcdOptions options;
    options.endpoints = etcd_.endpoint();
    std::unique_ptr<EtcdClient> client;
    Status s = EtcdClient::Connect(options, &client);
    EXPECT_TRUE(s.ok()) << s.ToString();
    return client;
  }

  testing::EtcdServer etcd_;
  std::unique_ptr<EtcdClient> client_;
};

TEST(EtcdEndpointsTest, ParsesEtcdsForm) {
  std::vector<std::string> out;
  ASSERT_TRUE(ParseEndpoints("http://a:1, http://127.0.0.1:2379/", &out).ok());
  EXPECT_EQ(out, (std::vector<std::string>{"a:1", "127.0.0.1:2379"}));
  EXPECT_TRUE(ParseEndpoints("a:1", &out).IsInvalidArgument());
  EXPECT_TRUE(ParseEndpoints("ftp://a:1", &out).IsInvalidArgument());
  EXPECT_TRUE(ParseEndpoints("http://a", &out).IsInvalidArgument());
  EXPECT_TRUE(ParseEndpoints(" , ", &out).IsInvalidArgument());
  EXPECT_EQ(PrefixEnd("/a/"), "/a0");
  EXPECT_EQ(PrefixEnd("a\xff"), "b");
  EXPECT_EQ(PrefixEnd(""), std::string(1, '\0'));
}

TEST(EtcdConnectTest, NoEtcdIsUnavailable) {
  EtcdOptions options;
  options.endpoints = "http://127.0.0.1:1";  // nothing listens on port 1
  options.deadline = 500ms;
  std::unique_ptr<EtcdClient> client;
  Status s = EtcdClient::Connect(options, &client);
  EXPECT_TRUE(s.IsUnavailable()) << s.ToString();
}

TEST_F(EtcdClientTest, SkipsAnEndpointThatDoesNotAnswer) {
  EtcdOptions options;
  options.endpoints = "http://127.0.0.1:1," + etcd_.endpoint();
  std::unique_ptr<EtcdClient> client;
  ASSERT_TRUE(EtcdClient::Connect(options, &client).ok());
  EXPECT_EQ(client->endpoint(), "127.0.0.1:" + std::to_string(etcd_.client_port()));
  EXPECT_TRUE(client->Put("k", "v").ok());
}

TEST_F(EtcdClientTest, PutGetRangeDelete) {
  ASSERT_TRUE(client_->Put("/bale/t/nodes/a", "A").ok());
  ASSERT_TRUE(client_->Put("/bale/t/nodes/b", "B").ok());
  ASSERT_TRUE(client_->Put("/bale/t/other", "X").ok());
  ASSERT_TRUE(client_->Put("/bale/t/nodes0", "not under the prefix").ok());

  std::string value;
  int64_t mod = 0;
  int64_t header = 0;
  ASSERT_TRUE(client_->Get("/bale/t/nodes/a", &value, &mod, &header).ok());
  EXPECT_EQ(value, "A");
  EXPECT_GT(mod, 0);
  EXPECT_GE(header, mod);
  EXPECT_TRUE(client_->Get("/bale/t/nodes/zz", &value, &mod).IsNotFound());

  std::vector<KeyValue> kvs;
  ASSERT_TRUE(client_->Range("/bale/t/nodes/", &kvs, &header).ok());
  ASSERT_EQ(kvs.size(), 2u);
  EXPECT_EQ(kvs[0].key, "/bale/t/nodes/a");
  EXPECT_EQ(kvs[0].value, "A");
  EXPECT_EQ(kvs[1].key, "/bale/t/nodes/b");
  EXPECT_EQ(kvs[1].value, "B");
  EXPECT_LT(kvs[0].mod_revision, kvs[1].mod_revision);
  EXPECT_EQ(kvs[1].create_revision, kvs[1].mod_revision);

  ASSERT_TRUE(client_->Delete("/bale/t/nodes/a").ok());
  EXPECT_TRUE(client_->Delete("/bale/t/nodes/a").ok());
  ASSERT_TRUE(client_->Range("/bale/t/nodes/", &kvs, &header).ok());
  ASSERT_EQ(kvs.size(), 1u);
  EXPECT_EQ(kvs[0].key, "/bale/t/nodes/b");
  EXPECT_GT(client_->requests(EtcdRequest::kPut), 3u);
}

TEST_F(EtcdClientTest, PutIfComparesTheModRevision) {
  bool ok = false;
  int64_t rev1 = 0;
  ASSERT_TRUE(client_->PutIf("/map", "epoch1", 0, &ok, &rev1).ok());
  ASSERT_TRUE(ok);
  // Absent-only fails now that the key is there, and reports its revision.
  int64_t rev = 0;
  ASSERT_TRUE(client_->PutIf("/map", "other", 0, &ok, &rev).ok());
  EXPECT_FALSE(ok);
  EXPECT_EQ(rev, rev1);

  int64_t rev2 = 0;
  ASSERT_TRUE(client_->PutIf("/map", "epoch2", rev1, &ok, &rev2).ok());
  ASSERT_TRUE(ok);
  EXPECT_GT(rev2, rev1);
  // A stale revision fails and leaves the value.
  ASSERT_TRUE(client_->PutIf("/map", "stale", rev1, &ok, &rev).ok());
  EXPECT_FALSE(ok);
  EXPECT_EQ(rev, rev2);
  std::string value;
  int64_t mod = 0;
  ASSERT_TRUE(client_->Get("/map", &value, &mod).ok());
  EXPECT_EQ(value, "epoch2");
  EXPECT_EQ(mod, rev2);
}

// Waits until `key` is absent, up to `limit`.
bool GoneWithin(EtcdClient* client, const std::string& key, std::chrono::seconds limit) {
  auto until = Clock::now() + limit;
  while (Clock::now() < until) {
    std::string value;
    int64_t mod = 0;
    if (client->Get(key, &value, &mod).IsNotFound()) return true;
    std::this_thread::sleep_for(200ms);
  }
  return false;
}

TEST_F(EtcdClientTest, KeptLeaseOutlivesItsTtlAndAnAbandonedOneExpires) {
  int64_t kept = 0, dropped = 0, kept_ttl = 0, dropped_ttl = 0;
  ASSERT_TRUE(client_->GrantLease(5, &kept, &kept_ttl).ok());
  ASSERT_TRUE(client_->GrantLease(5, &dropped, &dropped_ttl).ok());
  ASSERT_GE(kept_ttl, 5);
  ASSERT_NE(kept, dropped);
  ASSERT_TRUE(client_->Put("/lease/kept", "1", kept).ok());
  ASSERT_TRUE(client_->Put("/lease/dropped", "1", dropped).ok());
  std::vector<KeyValue> kvs;
  int64_t header = 0;
  ASSERT_TRUE(client_->Range("/lease/", &kvs, &header).ok());
  ASSERT_EQ(kvs.size(), 2u);
  EXPECT_EQ(kvs[0].lease, dropped);

  // Keep one alive every second for 2×TTL (plus slack): the other expires meanwhile.
  auto until = Clock::now() + std::chrono::seconds(2 * kept_ttl + 1);
  while (Clock::now() < until) {
    int64_t ttl = 0;
    Status s = client_->KeepAliveOnce(kept, &ttl);
    ASSERT_TRUE(s.ok()) << s.ToString();
    EXPECT_GE(ttl, 5);
    std::this_thread::sleep_for(1s);
  }
  std::string value;
  int64_t mod = 0;
  EXPECT_TRUE(client_->Get("/lease/kept", &value, &mod).ok());
  EXPECT_TRUE(GoneWithin(client_.get(), "/lease/dropped", 10s));
  int64_t ttl = 0;
  EXPECT_TRUE(client_->KeepAliveOnce(dropped, &ttl).IsNotFound());

  ASSERT_TRUE(client_->RevokeLease(kept).ok());
  EXPECT_TRUE(client_->Get("/lease/kept", &value, &mod).IsNotFound());
  EXPECT_TRUE(client_->RevokeLease(kept).IsNotFound());
  EXPECT_GT(client_->requests(EtcdRequest::kKeepAlive), 5u);
}

TEST_F(EtcdClientTest, WatchSeesAnotherClientsPutAndDeleteInOrder) {
  int64_t header = 0;
  std::string value;
  int64_t mod = 0;
  EXPECT_TRUE(client_->Get("/w/key", &value, &mod, &header).IsNotFound());
  std::unique_ptr<EtcdWatch> watch;
  ASSERT_TRUE(client_->Watch("/w/", /*prefix=*/true, header + 1, &watch).ok());

  std::unique_ptr<EtcdClient> other = NewClient();
  ASSERT_TRUE(other->Put("/w/key", "v1").ok());
  ASSERT_TRUE(other->Put("/w/key", "v2").ok());
  ASSERT_TRUE(other->Delete("/w/key").ok());
  ASSERT_TRUE(other->Put("/x/not-watched", "v").ok());

  std::vector<WatchEvent> all;
  int64_t revision = 0;
  auto until = Clock::now() + 10s;
  while (all.size() < 3 && Clock::now() < until) {
    std::vector<WatchEvent> events;
    ASSERT_TRUE(watch->Next(1s, &events, &revision).ok());
    all.insert(all.end(), events.begin(), events.end());
  }
  ASSERT_EQ(all.size(), 3u);
  EXPECT_EQ(all[0].kind, WatchEvent::Kind::kPut);
  EXPECT_EQ(all[0].value, "v1");
  EXPECT_EQ(all[1].kind, WatchEvent::Kind::kPut);
  EXPECT_EQ(all[1].value, "v2");
  EXPECT_EQ(all[2].kind, WatchEvent::Kind::kDelete);
  EXPECT_EQ(all[2].key, "/w/key");
  EXPECT_LT(all[0].mod_revision, all[1].mod_revision);
  EXPECT_LT(all[1].mod_revision, all[2].mod_revision);
  EXPECT_GE(revision, all[2].mod_revision);

  // Nothing more comes: Next times out with no events; Interrupt wakes it at once.
  std::vector<WatchEvent> events;
  ASSERT_TRUE(watch->Next(300ms, &events, &revision).ok());
  EXPECT_TRUE(events.empty());
  std::thread interrupter([&] {
    std::this_thread::sleep_for(100ms);
    watch->Interrupt();
  });
  auto start = Clock::now();
  ASSERT_TRUE(watch->Next(30s, &events, &revision).ok());
  interrupter.join();
  EXPECT_TRUE(events.empty());
  EXPECT_LT(Clock::now() - start, 10s);
}

TEST_F(EtcdClientTest, WatchOfACompactedRevisionIsNotFound) {
  int64_t rev1 = 0;
  bool ok = false;
  ASSERT_TRUE(client_->PutIf("/c", "1", 0, &ok, &rev1).ok());
  ASSERT_TRUE(client_->Put("/c", "2").ok());
  ASSERT_TRUE(client_->Put("/c", "3").ok());
  std::string value;
  int64_t mod = 0;
  ASSERT_TRUE(client_->Get("/c", &value, &mod).ok());
  ASSERT_TRUE(client_->Compact(mod).ok());
  std::unique_ptr<EtcdWatch> watch;
  Status s = client_->Watch("/c", false, rev1, &watch);
  EXPECT_TRUE(s.IsNotFound()) << s.ToString();
}

TEST_F(EtcdClientTest, WatchBreaksWhenEtcdDies) {
  std::unique_ptr<EtcdWatch> watch;
  ASSERT_TRUE(client_->Watch("/d", false, 0, &watch).ok());
  etcd_.Kill();
  std::vector<WatchEvent> events;
  int64_t revision = 0;
  Status s;
  auto until = Clock::now() + 20s;
  while (Clock::now() < until) {
    s = watch->Next(1s, &events, &revision);
    if (!s.ok()) break;
  }
  EXPECT_TRUE(s.IsUnavailable()) << s.ToString();
  EXPECT_TRUE(client_->Put("/d", "x").IsUnavailable());
}

// Campaigns for /dir-leader with `campaigner` while, 500 ms in, another thread runs
// `release` (which ends the current leadership); then checks that `value` leads.
void CampaignWhile(const std::function<void()>& release, EtcdClient* campaigner,
                   const std::string& value, int64_t lease, LeaderKey* out) {
  std::thread releaser([&] {
    std::this_thread::sleep_for(500ms);
    release();
  });
  Status s = campaigner->Campaign("/dir-leader", value, lease, 10s, out);
  releaser.join();
  ASSERT_TRUE(s.ok()) << s.ToString();
  // etcd answers Leader from its own read of the election's keys, which a busy machine
  // may serve before the campaign's key is visible to it: ask again for a while.
  std::string leader;
  Status l;
  for (auto until = Clock::now() + 10s; Clock::now() < until; std::this_thread::sleep_for(50ms)) {
    l = campaigner->Leader("/dir-leader", &leader);
    if (l.ok() && leader == value) break;
  }
  ASSERT_TRUE(l.ok()) << l.ToString();
  EXPECT_EQ(leader, value);
}

TEST_F(EtcdClientTest, SecondCampaignerLeadsOnlyAfterTheFirstResignsOrLosesItsLease) {
  std::unique_ptr<EtcdClient> other = NewClient();
  int64_t lease1 = 0, lease2 = 0, ttl = 0;
  ASSERT_TRUE(client_->GrantLease(30, &lease1, &ttl).ok());
  ASSERT_TRUE(other->GrantLease(30, &lease2, &ttl).ok());

  std::string leader;
  EXPECT_TRUE(client_->Leader("/dir-leader", &leader).IsNotFound());
  LeaderKey first;
  ASSERT_TRUE(client_->Campaign("/dir-leader", "one", lease1, 10s, &first).ok());
  ASSERT_TRUE(client_->Leader("/dir-leader", &leader).ok());
  EXPECT_EQ(leader, "one");

  // While the first leads, the second's campaign does not end.
  LeaderKey second;
  Status s = other->Campaign("/dir-leader", "two", lease2, 1500ms, &second);
  EXPECT_TRUE(s.IsUnavailable()) << s.ToString();
  ASSERT_TRUE(client_->Leader("/dir-leader", &leader).ok());
  EXPECT_EQ(leader, "one");

  // It wins once the first resigns; and the first wins back once the second's lease is
  // revoked. Fresh leases: etcd names a campaign's key after its lease, and removes the key
  // of a campaign cancelled by its deadline a moment after the call ends, so a new
  // campaign on the same lease at once could find its key removed under it
  // (directory.cc waits and checks Leader for that reason).
  int64_t lease3 = 0, lease4 = 0;
  ASSERT_TRUE(other->GrantLease(30, &lease3, &ttl).ok());
  ASSERT_TRUE(client_->GrantLease(30, &lease4, &ttl).ok());
  CampaignWhile([&] { EXPECT_TRUE(client_->Resign(first).ok()); }, other.get(), "two", lease3,
                &second);
  CampaignWhile([&] { EXPECT_TRUE(other->RevokeLease(lease3).ok()); }, client_.get(), "one again",
                lease4, &first);
}

TEST_F(EtcdClientTest, AbortEndsACallInFlight) {
  int64_t lease1 = 0, lease2 = 0, ttl = 0;
  ASSERT_TRUE(client_->GrantLease(30, &lease1, &ttl).ok());
  std::unique_ptr<EtcdClient> other = NewClient();
  ASSERT_TRUE(other->GrantLease(30, &lease2, &ttl).ok());
  LeaderKey first, second;
  ASSERT_TRUE(client_->Campaign("/abort", "one", lease1, 10s, &first).ok());
  std::thread aborter([&] {
    std::this_thread::sleep_for(300ms);
    other->Abort();
  });
  auto start = Clock::now();
  Status s = other->Campaign("/abort", "two", lease2, 20s, &second);
  aborter.join();
  EXPECT_TRUE(s.IsUnavailable()) << s.ToString();
  EXPECT_LT(Clock::now() - start, 10s);
  EXPECT_TRUE(other->Put("k", "v").IsUnavailable());
}

TEST_F(EtcdClientTest, CallsWorkAgainAfterEtcdRestarts) {
  int64_t lease = 0, ttl = 0;
  ASSERT_TRUE(client_->GrantLease(30, &lease, &ttl).ok());
  etcd_.Kill();
  // Calls fail while etcd is away (for long enough that gRPC backs off reconnecting) ...
  for (int i = 0; i < 10; ++i) {
    EXPECT_TRUE(client_->KeepAliveOnce(lease, &ttl).IsUnavailable());
    std::this_thread::sleep_for(200ms);
  }
  ASSERT_TRUE(etcd_.Restart()) << etcd_.error();
  // ... and work again once it is back: its leases were kept.
  Status s;
  auto until = Clock::now() + 10s;
  do {
    s = client_->KeepAliveOnce(lease, &ttl);
  } while (s.IsUnavailable() && Clock::now() < until && (std::this_thread::sleep_for(200ms), true));
  EXPECT_TRUE(s.ok()) << s.ToString();
  EXPECT_TRUE(client_->Put("k", "v").ok());
}

}  // namespace
}  // namespace bale::coord
