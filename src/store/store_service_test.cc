// The store node's service over real sockets: a net::Server on 127.0.0.1 with a
// StoreService over a LocalObjectStore in a temporary directory, and the router's
// StoreConnection as the client. Round trips of every mutation (the same results as the
// store gives directly), pipelining, several nodes, fencing, bad frames, timeouts,
// large values and the group commit of --durability sync.
#include "store/store_service.h"

#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <memory>
#include <string>
#include <vector>

#include "net/server.h"
#include "router/store_client.h"
#include "silent_listener.h"
#include "store/local_object_store.h"
#include "store_node.h"
#include "test_util.h"

namespace bale {
namespace {

using router::RunCall;
using router::RunCalls;
using router::StoreCall;
using router::StoreConnection;
using testing::FaultEnv;
using testing::TempDir;

constexpr uint64_t kEpoch = 7;
constexpr uint32_t kPartitions = 4;
constexpr int kTimeoutMs = 2000;

// One store node: a store holding `held`, its service and a server on an ephemeral port.
ClusterMap HeldMap(std::vector<uint32_t> held) {
  ClusterMap map;
  EXPECT_TRUE(ClusterMap::Holding(kPartitions, std::move(held), kEpoch, &map).ok());
  return map;
}

struct Node : testing::StoreNode {
  Node(const std::string& dir, std::vector<uint32_t> held, Durability d, FaultEnv* env)
      : StoreNode(dir, HeldMap(std::move(held)), d, env) {}
};

class StoreServiceTest : public ::testing::Test {
 protected:
  void Start(Durability d = Durability::kNone) {
    node_ = std::make_unique<Node>(tmp_.Sub("node"), std::vector<uint32_t>{0, 1, 2, 3}, d, &env_);
    conn_ = std::make_unique<StoreConnection>("127.0.0.1", node_->port());
  }
  void SetUp() override { Start(); }
  void TearDown() override {
    conn_.reset();
    node_.reset();
  }
  uint32_t PartitionOf(std::string_view key) const { return node_->objects->PartitionOf(key); }

  MutationResult RemoteMutate(const Mutation& m) {
    StoreCall call;
    call.conn = conn_.get();
    proto::AppendMutate(&call.request, 0, kEpoch, PartitionOf(m.key), m);
    EXPECT_TRUE(RunCall(call, kTimeoutMs).ok()) << call.status.ToString();
    MutationResult r;
    EXPECT_TRUE(proto::DecodeMutationResult(call.reply, &r));
    return r;
  }
  // The reply to a GET of `key`; the value's views stay valid until the next call.
  StoreCall RemoteGet(std::string_view key, uint64_t epoch = kEpoch) {
    StoreCall call;
    call.conn = conn_.get();
    proto::GetRequest g = proto::GetRequest::From(key, LookupOptions());
    proto::AppendGet(&call.request, 0, epoch, PartitionOf(key), g);
    EXPECT_TRUE(RunCall(call, kTimeoutMs).ok()) << call.status.ToString();
    return call;
  }
  std::string RemoteValue(std::string_view key) {
    StoreCall call = RemoteGet(key);
    ObjectView v;
    if (!proto::DecodeValue(call.reply, &v))
      return "<" + proto::ReplyStatus(call.reply).ToString() + ">";
    return std::string(v.value);
  }

  TempDir tmp_;
  FaultEnv env_;
  std::unique_ptr<Node> node_;
  std::unique_ptr<StoreConnection> conn_;
};

Mutation SetOf(std::string_view key, std::string_view value) {
  Mutation m;
  m.key = key;
  m.value = value;
  return m;
}

// Sends raw bytes on a fresh socket and reads until the node closes (2 s at most).
std::string RawExchange(uint16_t port, const std::string& bytes, bool* closed) {
  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_port = htons(port);
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  EXPECT_EQ(::connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof(a)), 0);
  timeval tv{2, 0};
  ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
  EXPECT_EQ(::send(fd, bytes.data(), bytes.size(), MSG_NOSIGNAL),
            static_cast<ssize_t>(bytes.size()));
  std::string got;
  char buf[4096];
  ssize_t n;
  while ((n = ::read(fd, buf, sizeof(buf))) > 0) got.append(buf, static_cast<size_t>(n));
  *closed = n == 0;
  ::close(fd);
  return got;
}

TEST_F(StoreServiceTest, MutationsGiveWhatTheStoreGivesDirectly) {
  Node direct(tmp_.Sub("direct"), {0, 1, 2, 3}, Durability::kNone, &env_);
  auto session = direct.objects->NewSession();
  auto local = [&](const Mutation& m) {
    MutationResult out;
    Mutate(direct.objects.get(), session.get(), m, [&](const MutationResult& r) { out = r; });
    return out;
  };
  auto same = [&](const Mutation& m) {
    MutationResult want = local(m), got = RemoteMutate(m);
    EXPECT_EQ(got.status, want.status) << m.key;
    EXPECT_EQ(got.number, want.number);
    EXPECT_EQ(got.meta.flags, want.meta.flags);
    EXPECT_EQ(got.meta.expiry, want.meta.expiry);
    EXPECT_EQ(got.meta.size, want.meta.size);
    EXPECT_EQ(got.error.message(), want.error.message());
    return got;
  };
  Mutation m;
  m.key = "k";
  m.value = "12";
  m.flags = 5;
  m.content_type = "text/plain";
  MutationResult set = same(m);
  EXPECT_EQ(RemoteValue("k"), "12");
  m.kind = MutationKind::kAdd;
  same(m);  // kNotStored
  m.kind = MutationKind::kCas;
  m.compare_version = set.meta.version + 1000;
  same(m);  // kExists
  m.compare_version = set.meta.version;
  EXPECT_EQ(RemoteMutate(m).status, MutationStatus::kOk);  // versions differ across stores
  Mutation incr;
  incr.kind = MutationKind::kIncr;
  incr.key = "k";
  incr.delta = 30;
  m.kind = MutationKind::kSet;
  local(m);
  EXPECT_EQ(same(incr).number, 42u);
  Mutation app = incr;
  app.kind = MutationKind::kAppend;
  app.value = "x";
  same(app);
  EXPECT_EQ(RemoteValue("k"), "42x");
  same(incr);  // kNonNumeric
  Mutation touch;
  touch.kind = MutationKind::kTouch;
  touch.key = "k";
  touch.expiry = 4000000000u;
  same(touch);
  Mutation del;
  del.kind = MutationKind::kDelete;
  del.key = "k";
  same(del);
  same(del);  // kNotFound
  EXPECT_EQ(proto::ReplyStatus(RemoteGet("k").reply).code(), Status::Code::kNotFound);

  m.key = "f";
  same(m);
  StoreCall flush;
  flush.conn = conn_.get();
  proto::AppendFlushAll(&flush.request, 0, kEpoch, 0);
  ASSERT_TRUE(RunCall(flush, kTimeoutMs).ok());
  MutationResult fr;
  ASSERT_TRUE(proto::DecodeMutationResult(flush.reply, &fr));
  EXPECT_EQ(fr.status, MutationStatus::kOk);
  EXPECT_TRUE(proto::ReplyStatus(RemoteGet("f").reply).IsNotFound());
}

TEST_F(StoreServiceTest, PutAtomicStatsAndHello) {
  std::vector<BatchPut> items(2);
  items[0].key = "a";
  items[0].value = "1";
  items[1].key = "b";
  items[1].value = "2";
  StoreCall call;
  call.conn = conn_.get();
  proto::AppendPutAtomic(&call.request, 0, kEpoch, items);
  ASSERT_TRUE(RunCall(call, kTimeoutMs).ok());
  MutationResult r;
  ASSERT_TRUE(proto::DecodePutAtomicResult(call.reply, &r, items));
  EXPECT_EQ(r.status, MutationStatus::kOk);
  EXPECT_NE(items[0].version, 0u);
  EXPECT_EQ(RemoteValue("b"), "2");

  StoreCall stats;
  stats.conn = conn_.get();
  proto::AppendStats(&stats.request, 0, 999);  // not fenced
  ASSERT_TRUE(RunCall(stats, kTimeoutMs).ok());
  ObjectStats s;
  ASSERT_TRUE(proto::DecodeStatsReply(stats.reply, &s));
  EXPECT_EQ(s.partitions, kPartitions);
  EXPECT_EQ(s.live_objects, 2u);

  StoreCall hello;
  hello.conn = conn_.get();
  proto::AppendHello(&hello.request, 0, proto::Hello{1, 3, 0}, false);
  ASSERT_TRUE(RunCall(hello, kTimeoutMs).ok());
  proto::Hello h;
  ASSERT_TRUE(proto::DecodeHello(hello.reply, &h));
  EXPECT_EQ(h.max_version, 1);
}

TEST_F(StoreServiceTest, PipelinedGetsAnsweredInOrder) {
  for (int i = 0; i < 100; i++) {
    Mutation m;
    std::string key = "key" + std::to_string(i), value = "value" + std::to_string(i);
    m.key = key;
    m.value = value;
    ASSERT_EQ(RemoteMutate(m).status, MutationStatus::kOk);
  }
  std::vector<StoreCall> calls(100);
  std::vector<std::string> keys(100);
  for (int i = 0; i < 100; i++) {
    keys[i] = "key" + std::to_string(i);
    calls[i].conn = conn_.get();
    proto::AppendGet(&calls[i].request, 0, kEpoch, PartitionOf(keys[i]),
                     proto::GetRequest::From(keys[i], LookupOptions()));
  }
  ASSERT_TRUE(RunCalls(calls, kTimeoutMs).ok());
  for (int i = 0; i < 100; i++) {
    ObjectView v;
    ASSERT_TRUE(calls[i].status.ok());
    ASSERT_TRUE(proto::DecodeValue(calls[i].reply, &v));
    EXPECT_EQ(v.key, keys[i]);
    EXPECT_EQ(v.value, "value" + std::to_string(i));
    // In request order in the connection's buffer.
    if (i > 0) {
      EXPECT_LT(calls[i - 1].reply.key.data(), calls[i].reply.key.data());
    }
  }
}

TEST_F(StoreServiceTest, BatchAcrossTwoNodes) {
  TearDown();
  Node a(tmp_.Sub("a"), {0, 1}, Durability::kNone, &env_);
  Node b(tmp_.Sub("b"), {2, 3}, Durability::kNone, &env_);
  StoreConnection ca("127.0.0.1", a.port()), cb("127.0.0.1", b.port());
  std::vector<std::string> keys;
  std::vector<StoreCall> sets, gets;
  for (int i = 0; i < 40; i++) keys.push_back("multi" + std::to_string(i));
  for (const std::string& key : keys) {
    uint32_t p = a.objects->PartitionOf(key);
    StoreConnection* c = p < 2 ? &ca : &cb;
    Mutation m;
    m.key = key;
    m.value = key;
    sets.emplace_back().conn = c;
    proto::AppendMutate(&sets.back().request, 0, kEpoch, p, m);
    gets.emplace_back().conn = c;
    proto::AppendGet(&gets.back().request, 0, kEpoch, p, proto::GetRequest::From(key, {}));
  }
  ASSERT_TRUE(RunCalls(sets, kTimeoutMs).ok());
  ASSERT_TRUE(RunCalls(gets, kTimeoutMs).ok());
  for (size_t i = 0; i < keys.size(); i++) {
    ObjectView v;
    ASSERT_TRUE(proto::DecodeValue(gets[i].reply, &v))
        << proto::ReplyStatus(gets[i].reply).ToString();
    EXPECT_EQ(v.value, keys[i]);
  }
  // A partition the node does not hold.
  StoreCall wrong;
  wrong.conn = &ca;
  std::string key;
  for (int i = 0; a.objects->PartitionOf(key = "k" + std::to_string(i)) < 2; i++) {
  }
  proto::AppendGet(&wrong.request, 0, kEpoch, a.objects->PartitionOf(key),
                   proto::GetRequest::From(key, {}));
  ASSERT_TRUE(RunCall(wrong, kTimeoutMs).ok());
  EXPECT_EQ(wrong.reply.header.op, proto::FrameOp::kError);
  EXPECT_EQ(wrong.reply.header.status, proto::WireStatus::kNotHeld);
  EXPECT_EQ(a.service->counters().not_held.load(), 1u);
}

TEST_F(StoreServiceTest, WrongEpochCarriesTheNodesEpoch) {
  for (uint64_t epoch : {kEpoch - 1, kEpoch + 1}) {
    StoreCall call = RemoteGet("k", epoch);
    EXPECT_EQ(call.reply.header.op, proto::FrameOp::kError);
    EXPECT_EQ(call.reply.header.status, proto::WireStatus::kWrongEpoch);
    EXPECT_EQ(call.reply.header.epoch, kEpoch);
  }
  // The key must be in the frame's partition.
  StoreCall call;
  call.conn = conn_.get();
  proto::AppendGet(&call.request, 0, kEpoch, (PartitionOf("k") + 1) % kPartitions,
                   proto::GetRequest::From("k", {}));
  ASSERT_TRUE(RunCall(call, kTimeoutMs).ok());
  EXPECT_EQ(call.reply.header.status, proto::WireStatus::kBadRequest);
  // A new map: the node answers with its new epoch.
  ClusterMap map;
  ASSERT_TRUE(ClusterMap::Holding(kPartitions, {0, 1, 2, 3}, kEpoch + 1, &map).ok());
  node_->service->SetMap(std::make_shared<const ClusterMap>(map));
  EXPECT_EQ(RemoteGet("k", kEpoch).reply.header.epoch, kEpoch + 1);
  EXPECT_EQ(node_->service->counters().wrong_epoch.load(), 3u);
}

TEST_F(StoreServiceTest, GarbageClosesOnlyItsConnection) {
  ASSERT_EQ(RemoteMutate(SetOf("k", "v")).status, MutationStatus::kOk);
  bool closed = false;
  std::string got = RawExchange(node_->port(), "get k\r\n", &closed);
  EXPECT_TRUE(closed);
  proto::Frame f;
  ASSERT_EQ(proto::DecodeFrame(got, {}, &f).status, proto::DecodeStatus::kFrame);
  EXPECT_EQ(f.header.status, proto::WireStatus::kUnsupportedVersion);

  // A header announcing a 4 GiB body: refused from the header, nothing allocated.
  std::string huge;
  proto::AppendHeader(&huge, proto::FrameHeader{proto::FrameOp::kMutate}, 1, 64, 4ull << 30);
  got = RawExchange(node_->port(), huge, &closed);
  EXPECT_TRUE(closed);
  ASSERT_EQ(proto::DecodeFrame(got, {}, &f).status, proto::DecodeStatus::kFrame);
  EXPECT_EQ(f.header.status, proto::WireStatus::kTooLarge);
  EXPECT_EQ(node_->service->counters().too_large.load(), 1u);

  EXPECT_EQ(RemoteValue("k"), "v");  // the other connection is served
}

TEST_F(StoreServiceTest, DeadNodeFailsWithinTheTimeout) {
  ASSERT_EQ(RemoteMutate(SetOf("k", "v")).status, MutationStatus::kOk);
  uint16_t port = node_->port();
  node_.reset();  // stopped: the connection is closed, a new one refused
  StoreCall call;
  call.conn = conn_.get();
  proto::AppendGet(&call.request, 0, kEpoch, 0, proto::GetRequest::From("k", {}));
  auto start = std::chrono::steady_clock::now();
  EXPECT_FALSE(RunCall(call, 500).ok());
  EXPECT_TRUE(call.status.IsUnavailable()) << call.status.ToString();
  EXPECT_FALSE(RunCall(call, 500).ok());
  EXPECT_TRUE(call.status.IsUnavailable());
  EXPECT_NE(call.status.message().find("connection refused"), std::string::npos)
      << call.status.ToString();

  // A node that accepts but never answers (a listener nobody accepts from).
  testing::SilentListener silent(port, 8);
  ASSERT_TRUE(silent.ok());
  start = std::chrono::steady_clock::now();
  EXPECT_FALSE(RunCall(call, 300).ok());
  auto elapsed = std::chrono::steady_clock::now() - start;
  EXPECT_LT(elapsed, std::chrono::milliseconds(600));
  EXPECT_EQ(call.status.message(),
            "store 127.0.0.1:" + std::to_string(port) + " did not answer within 300 ms");
}

TEST_F(StoreServiceTest, LargeValueRoundTrip) {
  std::string value(4 << 20, '\0');
  for (size_t i = 0; i < value.size(); i++) value[i] = static_cast<char>(i * 131 + (i >> 12));
  Mutation m;
  m.key = "big";
  m.value = value;
  StoreCall set;
  set.conn = conn_.get();
  proto::AppendMutateHead(&set.request, 0, kEpoch, PartitionOf("big"), m);
  set.tail = value;  // not copied into the frame
  ASSERT_TRUE(RunCall(set, kTimeoutMs).ok()) << set.status.ToString();
  MutationResult r;
  ASSERT_TRUE(proto::DecodeMutationResult(set.reply, &r));
  ASSERT_EQ(r.status, MutationStatus::kOk);
  StoreCall get = RemoteGet("big");
  ObjectView v;
  ASSERT_TRUE(proto::DecodeValue(get.reply, &v));
  EXPECT_TRUE(v.value == value);
}

TEST_F(StoreServiceTest, SyncDurabilityAcknowledgesAfterCommit) {
  TearDown();
  Start(Durability::kSync);
  uint64_t syncs = env_.syncs.load();
  ASSERT_EQ(RemoteMutate(SetOf("k", "durable")).status, MutationStatus::kOk);
  EXPECT_GT(env_.syncs.load(), syncs);  // the round's commit synced before the reply
  EXPECT_EQ(RemoteValue("k"), "durable");
  EXPECT_EQ(node_->service->counters().commit_failures.load(), 0u);
}

}  // namespace
}  // namespace bale
