// The memcached face over real sockets: a multi-get is answered a part at a time as its
// client reads (memcache_face.h), so a reply naming a value thousands of times is never
// built whole and the loop's other clients are answered meanwhile; a key of an
// unavailable partition in a later part ends the reply, and the connection goes on.
#include <gtest/gtest.h>

#include <chrono>
#include <cstdint>
#include <memory>
#include <string>

#include "frontend/memcache_commands.h"
#include "memcache_face_server.h"
#include "store/local_object_store.h"
#include "test_util.h"
#include "unavailable_partition.h"

namespace bale {
namespace {

using namespace std::chrono_literals;
using testing::MemcacheFaceServer;
using testing::TempDir;
using testing::TextClient;

// The figure `name` of a `stats` reply.
uint64_t Stat(TextClient& c, const std::string& name) {
  c.Send("stats\r\n");
  std::string reply = c.ReadThrough("END\r\n");
  std::string line = "STAT " + name + " ";
  size_t at = reply.find(line);
  EXPECT_NE(at, std::string::npos) << reply;
  return at == std::string::npos ? 0 : std::stoull(reply.substr(at + line.size()));
}

std::string ValueReply(const std::string& key, const std::string& value) {
  return "VALUE " + key + " 0 " + std::to_string(value.size()) + "\r\n" + value + "\r\n";
}

// --durability sync: a write's reply (and every later reply of its connection) waits for
// the journal flush that makes it durable, which runs while the loop goes on; a flush
// that fails is never answered STORED: the connection closes.
TEST(MemcacheFace, SyncRepliesWaitForTheJournalFlush) {
  TempDir tmp;
  testing::FaultEnv env;
  StoreOptions o;
  o.dir = tmp.Sub("data");
  o.partitions = 4;
  o.volume.durability = Durability::kSync;
  o.volume.env = &env;
  std::unique_ptr<Store> store;
  ASSERT_TRUE(Store::Open(o, &store).ok());
  ASSERT_NE(store->journal(), nullptr);
  {
    LocalObjectStore objects(store.get(), Durability::kSync);
    MemcacheFaceServer server(&objects);
    TextClient a(server.port());
    a.Send("set a 0 0 1\r\nx\r\nset b 0 0 1\r\ny\r\nget a\r\n");
    EXPECT_EQ(a.ReadThrough("END\r\n"), "STORED\r\nSTORED\r\n" + ValueReply("a", "x") + "END\r\n");
    EXPECT_GE(store->Stats().journal.flushes, 1u);

    env.fail_sync = true;
    TextClient failing(server.port());
    failing.Send("set c 0 0 1\r\nz\r\nget a\r\n");
    EXPECT_EQ(failing.Read(1, 5s), "") << "a write that is not durable was acknowledged";
    env.fail_sync = false;

    TextClient after(server.port());
    after.Send("set d 0 0 1\r\nw\r\n");
    EXPECT_EQ(after.Line(), "STORED\r\n");
    EXPECT_GE(store->Stats().journal.failures, 1u);
  }
}

TEST(MemcacheFace, AMultiGetIsAnsweredAsItsClientReads) {
  TempDir tmp;
  StoreOptions o;
  o.dir = tmp.Sub("data");
  o.partitions = 2;
  o.volume.durability = Durability::kNone;
  std::unique_ptr<Store> store;
  ASSERT_TRUE(Store::Open(o, &store).ok());
  {
    LocalObjectStore objects(store.get(), Durability::kNone);
    MemcacheFaceServer server(&objects);
    std::string value(4096, 'v');  // copied into the reply (below kSendfileBytes)
    for (size_t i = 0; i < value.size(); i += 7) value[i] = static_cast<char>('a' + i % 26);
    TextClient other(server.port());
    other.Send("set v 0 0 4096\r\n" + value + "\r\n");
    ASSERT_EQ(other.Line(), "STORED\r\n");

    // 20,000 names: an 80 MB reply if it were built whole. Its client reads nothing yet.
    constexpr uint64_t kNames = 20000;
    std::string get = "get";
    for (uint64_t i = 0; i < kNames; i++) get += " v";
    TextClient big(server.port(), 64 << 10);
    big.Send(get + "\r\n");
    uint64_t gets = 0;
    auto deadline = std::chrono::steady_clock::now() + 20s;
    while ((gets = Stat(other, "cmd_get")) == 0 && std::chrono::steady_clock::now() < deadline) {
    }
    // The loop answered `other` while the reply waits for its reader, and has looked up
    // only what the connection's output (and the sockets) hold.
    EXPECT_GT(gets, 0u);
    EXPECT_LT(gets, kNames / 2);

    std::string want = ValueReply("v", value);
    for (uint64_t i = 0; i < kNames; i++) {
      std::string got = big.Read(want.size());
      ASSERT_EQ(got, want) << "value " << i;
    }
    EXPECT_EQ(big.Line(), "END\r\n");
    EXPECT_EQ(Stat(other, "cmd_get"), kNames);
    big.Send("get v\r\n");  // the connection goes on
    EXPECT_EQ(big.ReadThrough("END\r\n"), want + "END\r\n");
  }
  ASSERT_TRUE(store->Close().ok());
}

// The first part's values are sent; the part with the unavailable key is answered by
// the error alone, which ends the reply: the keys after it go unanswered.
TEST(MemcacheFace, AnUnavailableKeyInALaterPartEndsTheReply) {
  TempDir tmp;
  std::unique_ptr<Store> store;
  std::string a, b;  // in partitions 0 and 1 (unavailable)
  ASSERT_NO_FATAL_FAILURE(
      testing::OpenWithPartitionOneUnavailable(tmp.Sub("data"), &store, &a, &b));
  {
    LocalObjectStore objects(store.get(), Durability::kNone);
    MemcacheFaceServer server(&objects);
    TextClient c(server.port());
    std::string get = "get";
    for (size_t i = 0; i < kMultiGetPartKeys + 5; i++) get += " " + a;
    get += " " + b;
    for (size_t i = 0; i < 2 * kMultiGetPartKeys; i++) get += " " + a;
    c.Send(get + "\r\nget " + a + "\r\n");
    std::string value = ValueReply(a, "v-" + a);
    for (size_t i = 0; i < kMultiGetPartKeys; i++) ASSERT_EQ(c.Read(value.size()), value) << i;
    std::string error = c.Line();
    EXPECT_EQ(error.rfind("SERVER_ERROR partition 1 unavailable: ", 0), 0u) << error;
    EXPECT_EQ(c.ReadThrough("END\r\n"), value + "END\r\n");  // the next request's reply
  }
  ASSERT_TRUE(store->Close().ok());
}

}  // namespace
}  // namespace bale
