// Tests for MemcacheCommands: which commands keep an object's content type. memcached
// cannot set one; objects stored with one (through the HTTP face) keep it through
// commands that modify the object in place (touch, gat, append, incr, ...) and lose it
// through commands that replace the object (set, add, replace, cas, ms). Also: a
// multi-get answered in parts (GetPart), a full disk, an unavailable partition.
#include "frontend/memcache_commands.h"

#include <gtest/gtest.h>

#include <memory>
#include <string>

#include "proto/memcache_parser.h"
#include "store/local_object_store.h"
#include "test_util.h"
#include "unavailable_partition.h"

namespace bale {
namespace {

using testing::FaultEnv;
using testing::OpenWithPartitionOneUnavailable;
using testing::TempDir;

class ContentTypeTest : public ::testing::Test {
 protected:
  void SetUp() override {
    StoreOptions o;
    o.dir = tmp_.Sub("data");
    o.partitions = 2;
    o.volume.durability = Durability::kNone;
    ASSERT_TRUE(Store::Open(o, &store_).ok());
    objects_ = std::make_unique<LocalObjectStore>(store_.get(), Durability::kNone);
    session_ = objects_->NewSession();
    commands_ = std::make_unique<MemcacheCommands>(objects_.get(), &settings_, nullptr);
  }

  // Runs one request (the whole of `in`) and returns the reply.
  std::string Run(const std::string& in) {
    proto::Request req;
    proto::ParseResult r = proto::ParseRequest(in, proto::ParserLimits(), &req);
    EXPECT_EQ(r.status, proto::ParseStatus::kRequest) << in;
    EXPECT_EQ(r.consumed, in.size()) << in;
    std::string out;
    commands_->Execute(req, &out, &stats_, session_.get());
    return out;
  }

  void PutTyped(const std::string& key, const std::string& value, const std::string& type) {
    WriteOp op;
    op.key = key;
    op.value = value;
    op.content_type = type;
    op.flags = 3;
    ASSERT_TRUE(store_->VolumeFor(key)->Put(op).ok());
  }

  // "content type|value" or "<missing>".
  std::string Read(const std::string& key) {
    ReadResult r;
    if (!store_->VolumeFor(key)->Get(key, &r).ok()) return "<missing>";
    return std::string(r.content_type()) + "|" + std::string(r.value());
  }

  uint64_t Version(const std::string& key) {
    ReadResult r;
    EXPECT_TRUE(store_->VolumeFor(key)->Get(key, &r).ok());
    return r.header().version;
  }

  TempDir tmp_;
  std::unique_ptr<Store> store_;
  std::unique_ptr<LocalObjectStore> objects_;
  std::unique_ptr<ObjectSession> session_;
  MemcacheSettings settings_;
  std::unique_ptr<MemcacheCommands> commands_;
  ThreadStats stats_;
};

TEST_F(ContentTypeTest, InPlaceCommandsKeepIt) {
  struct Case {
    std::string request, reply_prefix, value_after;
  };
  const Case cases[] = {
      {"touch k 100\r\n", "TOUCHED\r\n", "5"},
      {"gat 100 k\r\n", "VALUE k 3 1\r\n5\r\nEND\r\n", "5"},
      {"gats 100 k\r\n", "VALUE k 3 1 ", "5"},
      {"mg k T100 v\r\n", "VA 1", "5"},
      {"append k 0 0 2\r\nab\r\n", "STORED\r\n", "5ab"},
      {"prepend k 0 0 2\r\nab\r\n", "STORED\r\n", "ab5"},
      {"ms k 2 MA\r\nab\r\n", "HD", "5ab"},
      {"ms k 2 MP\r\nab\r\n", "HD", "ab5"},
      {"incr k 2\r\n", "7\r\n", "7"},
      {"decr k 2\r\n", "3\r\n", "3"},
      {"ma k\r\n", "HD", "6"},
      {"ma k MD D2\r\n", "HD", "3"},
  };
  for (const Case& c : cases) {
    PutTyped("k", "5", "text/plain; charset=utf-8");
    std::string reply = Run(c.request);
    EXPECT_EQ(reply.substr(0, c.reply_prefix.size()), c.reply_prefix) << c.request << reply;
    EXPECT_EQ(Read("k"), "text/plain; charset=utf-8|" + c.value_after) << c.request;
  }
}

TEST_F(ContentTypeTest, ReplacingCommandsStoreNone) {
  PutTyped("k", "old", "image/png");
  EXPECT_EQ(Run("set k 0 0 3\r\nnew\r\n"), "STORED\r\n");
  EXPECT_EQ(Read("k"), "|new");

  PutTyped("k", "old", "image/png");
  EXPECT_EQ(Run("replace k 0 0 3\r\nrep\r\n"), "STORED\r\n");
  EXPECT_EQ(Read("k"), "|rep");

  PutTyped("k", "old", "image/png");
  EXPECT_EQ(Run("cas k 0 0 3 " + std::to_string(Version("k")) + "\r\ncas\r\n"), "STORED\r\n");
  EXPECT_EQ(Read("k"), "|cas");

  PutTyped("k", "old", "image/png");
  EXPECT_EQ(Run("ms k 2\r\nms\r\n"), "HD\r\n");
  EXPECT_EQ(Read("k"), "|ms");

  PutTyped("k", "old", "image/png");
  EXPECT_EQ(Run("ms k 2 MR\r\nmr\r\n"), "HD\r\n");
  EXPECT_EQ(Read("k"), "|mr");

  // add stores only when the key is missing; the new object has no content type.
  PutTyped("k", "old", "image/png");
  EXPECT_EQ(Run("add k 0 0 3\r\nadd\r\n"), "NOT_STORED\r\n");
  EXPECT_EQ(Read("k"), "image/png|old");
  EXPECT_EQ(Run("delete k\r\n"), "DELETED\r\n");
  EXPECT_EQ(Run("add k 0 0 3\r\nadd\r\n"), "STORED\r\n");
  EXPECT_EQ(Read("k"), "|add");
}

// The failure contract at the protocol: a full disk answers SERVER_ERROR on
// writes, reads go on, nothing stored is damaged, and writes resume with space.
TEST(MemcacheFullDisk, WritesFailWithServerErrorReadsGoOnWritesResume) {
  TempDir tmp;
  FaultEnv env;
  StoreOptions o;
  o.dir = tmp.Sub("data");
  o.partitions = 2;
  o.volume.durability = Durability::kNone;
  o.volume.env = &env;
  std::unique_ptr<Store> store;
  ASSERT_TRUE(Store::Open(o, &store).ok());
  MemcacheSettings settings;
  LocalObjectStore objects(store.get(), Durability::kNone);
  std::unique_ptr<ObjectSession> session = objects.NewSession();
  MemcacheCommands commands(&objects, &settings, nullptr);
  ThreadStats stats;
  auto run = [&](const std::string& in) {
    proto::Request req;
    proto::ParseResult r = proto::ParseRequest(in, proto::ParserLimits(), &req);
    EXPECT_EQ(r.status, proto::ParseStatus::kRequest) << in;
    std::string out;
    commands.Execute(req, &out, &stats, session.get());
    return out;
  };
  ASSERT_EQ(run("set keep 0 0 4\r\nsafe\r\n"), "STORED\r\n");
  ASSERT_EQ(run("set n 0 0 1\r\n5\r\n"), "STORED\r\n");

  env.write_budget = 10;  // the next needle gets 10 bytes in, then ENOSPC
  EXPECT_EQ(run("set new 0 0 100\r\n" + std::string(100, 'x') + "\r\n"),
            "SERVER_ERROR out of disk space\r\n");
  EXPECT_EQ(run("append keep 0 0 1\r\n!\r\n"), "SERVER_ERROR out of disk space\r\n");
  EXPECT_EQ(run("incr n 1\r\n"), "SERVER_ERROR out of disk space\r\n");
  EXPECT_EQ(run("get keep n new\r\n"), "VALUE keep 0 4\r\nsafe\r\nVALUE n 0 1\r\n5\r\nEND\r\n");

  env.write_budget = -1;  // space returns
  EXPECT_EQ(run("set new 0 0 2\r\nok\r\n"), "STORED\r\n");
  EXPECT_EQ(run("incr n 1\r\n"), "6\r\n");
  EXPECT_EQ(run("get keep new\r\n"), "VALUE keep 0 4\r\nsafe\r\nVALUE new 0 2\r\nok\r\nEND\r\n");
  ASSERT_TRUE(store->Close().ok());
}

// A key of an unavailable partition is not a miss: every command on it answers
// SERVER_ERROR naming the partition, and a multi-get that names one answers that alone
// (answered in parts: ends with it).
TEST(MemcacheDamage, UnavailablePartitionAnswersServerErrorNotAMiss) {
  TempDir tmp;
  std::unique_ptr<Store> store;
  std::string a, b;  // in partitions 0 and 1
  ASSERT_NO_FATAL_FAILURE(OpenWithPartitionOneUnavailable(tmp.Sub("data"), &store, &a, &b));
  MemcacheSettings settings;
  LocalObjectStore objects(store.get(), Durability::kNone);
  std::unique_ptr<ObjectSession> session = objects.NewSession();
  MemcacheCommands commands(&objects, &settings, nullptr);
  ThreadStats stats;
  auto run = [&](const std::string& in) {
    proto::Request req;
    proto::ParseResult r = proto::ParseRequest(in, proto::ParserLimits(), &req);
    EXPECT_EQ(r.status, proto::ParseStatus::kRequest) << in;
    std::string out;
    commands.Execute(req, &out, &stats, session.get());
    return out;
  };
  const std::string error = "SERVER_ERROR partition 1 unavailable: ";
  auto is_error = [&](const std::string& reply) {
    return reply.rfind(error, 0) == 0 && reply.find("FLUSH") != std::string::npos &&
           reply.find("\r\n") == reply.size() - 2;
  };
  std::string va = "v-" + a;
  EXPECT_EQ(run("get " + a + "\r\n"),
            "VALUE " + a + " 0 " + std::to_string(va.size()) + "\r\n" + va + "\r\nEND\r\n");
  EXPECT_TRUE(is_error(run("get " + b + "\r\n")));
  EXPECT_TRUE(is_error(run("get " + a + " " + b + " " + a + "\r\n")));
  {
    // Answered in parts (GetPart): the part with that key answers the error alone, which
    // ends the reply (the parts before stand); the keys after it are not looked up.
    std::string in = "get " + a + " " + a + " " + a + " " + b + " " + a + "\r\n";
    proto::Request req;
    ASSERT_EQ(proto::ParseRequest(in, proto::ParserLimits(), &req).status,
              proto::ParseStatus::kRequest);
    std::string value = "VALUE " + a + " 0 " + std::to_string(va.size()) + "\r\n" + va + "\r\n";
    GetPart part;
    part.max_keys = 2;
    std::string out;
    commands.Execute(req, &out, &stats, session.get(), nullptr, &part);
    EXPECT_EQ(out, value + value);
    EXPECT_FALSE(part.done);
    part.from = part.next;
    out.clear();
    const uint64_t gets = stats.cmd_get.load();
    commands.Execute(req, &out, &stats, session.get(), nullptr, &part);
    EXPECT_TRUE(part.done && part.failed);
    EXPECT_TRUE(is_error(out)) << out;
    EXPECT_EQ(stats.cmd_get.load() - gets, 2u);
  }
  EXPECT_TRUE(is_error(run("gets " + b + "\r\n")));
  EXPECT_TRUE(is_error(run("mg " + b + " v\r\n")));
  EXPECT_TRUE(is_error(run("me " + b + "\r\n")));
  EXPECT_TRUE(is_error(run("set " + b + " 0 0 1\r\nx\r\n")));
  EXPECT_TRUE(is_error(run("add " + b + " 0 0 1\r\nx\r\n")));
  EXPECT_TRUE(is_error(run("delete " + b + "\r\n")));
  EXPECT_TRUE(is_error(run("touch " + b + " 10\r\n")));
  EXPECT_TRUE(is_error(run("incr " + b + " 1\r\n")));
  // A flush_all with a delay cannot be recorded over the lost marker; one without repairs
  // the partition (everything written before it is flushed, whatever the marker said).
  EXPECT_TRUE(is_error(run("flush_all 3600\r\n")));
  EXPECT_EQ(run("flush_all\r\n"), "OK\r\n");
  EXPECT_EQ(run("get " + b + "\r\n"), "END\r\n");
  EXPECT_EQ(run("set " + b + " 0 0 1\r\nx\r\n"), "STORED\r\n");
  ASSERT_TRUE(store->Close().ok());
}

// A multi-get answered a part at a time (GetPart), as the memcached face answers one
// while its client reads: a part takes at most max_keys keys and stops after the key
// that brings it to max_bytes; END comes with the last part only (and not when `last`
// is false); the parts together are the reply the whole request gets, each key counted
// once.
class MultiGetPartTest : public ContentTypeTest {
 protected:
  // `in`'s request answered in parts of `part`'s bounds; each part's reply in order.
  std::vector<std::string> Parts(const std::string& in, GetPart bounds) {
    proto::Request req;
    EXPECT_EQ(proto::ParseRequest(in, proto::ParserLimits(), &req).status,
              proto::ParseStatus::kRequest);
    std::vector<std::string> parts;
    for (size_t from = 0; parts.size() < 1000;) {
      GetPart part = bounds;
      part.from = from;
      std::string out;
      commands_->Execute(req, &out, &stats_, session_.get(), nullptr, &part);
      parts.push_back(out);
      if (part.done) break;
      EXPECT_GT(part.next, from);
      from = part.next;
    }
    return parts;
  }
};

TEST_F(MultiGetPartTest, PartsTogetherAreTheWholeReply) {
  for (int i = 0; i < 10; i++) {
    ASSERT_EQ(Run("set k" + std::to_string(i) + " 0 0 2\r\nv" + std::to_string(i) + "\r\n"),
              "STORED\r\n");
  }
  const std::string get = "get k0 k1  missing k2 k3 k4 k5 k6   k7 k8 k9  \r\n";
  const std::string whole = Run(get);
  ASSERT_EQ(whole.substr(whole.size() - 5), "END\r\n");
  const uint64_t gets = stats_.cmd_get.load(), hits = stats_.get_hits.load();
  GetPart bounds;
  bounds.max_keys = 3;
  std::vector<std::string> parts = Parts(get, bounds);
  ASSERT_EQ(parts.size(), 4u);  // 11 keys, 3 a part
  std::string joined;
  for (size_t i = 0; i < parts.size(); i++) {
    if (i + 1 < parts.size()) {
      EXPECT_EQ(parts[i].find("END"), std::string::npos) << i;
    }
    joined += parts[i];
  }
  EXPECT_EQ(parts[0], "VALUE k0 0 2\r\nv0\r\nVALUE k1 0 2\r\nv1\r\n");  // and the miss
  EXPECT_EQ(joined, whole);
  EXPECT_EQ(stats_.cmd_get.load() - gets, 11u);
  EXPECT_EQ(stats_.get_hits.load() - hits, 10u);

  // gat, gats and gets the same.
  for (std::string cmd : {"gets", "gat 100", "gats 100"}) {
    std::string in = cmd + " k0 k1 k2 k3 k4\r\n";
    std::vector<std::string> p = Parts(in, bounds);
    ASSERT_EQ(p.size(), 2u) << cmd;
    EXPECT_EQ(p[0] + p[1], Run(in)) << cmd;
  }
}

TEST_F(MultiGetPartTest, APartStopsAfterTheKeyThatFillsItsBytes) {
  ASSERT_EQ(Run("set big 0 0 100\r\n" + std::string(100, 'x') + "\r\n"), "STORED\r\n");
  GetPart bounds;
  bounds.max_bytes = 150;  // a value's reply is 119 bytes: two a part
  std::vector<std::string> parts = Parts("get big big big big big\r\n", bounds);
  ASSERT_EQ(parts.size(), 3u);
  EXPECT_EQ(parts[0].size(), 2 * 119u);
  EXPECT_EQ(parts[1].size(), 2 * 119u);
  EXPECT_EQ(parts[2].size(), 119u + 5);  // and END

  // Not the last part of its get: no END, even with every key answered.
  bounds = GetPart();
  bounds.last = false;
  parts = Parts("get big missing\r\n", bounds);
  ASSERT_EQ(parts.size(), 1u);
  EXPECT_EQ(parts[0].size(), 119u);
}

}  // namespace
}  // namespace bale
