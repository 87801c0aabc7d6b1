// Tests for `stats` and `slabs` (stats_command.cc) over a real store: the subcommands'
// line format and bad arguments as memcached 1.6.18 answers them, and counters that
// tell the truth (curr_items and bytes follow deletes, flush_all and expiry found by
// reads; get_expired and get_flushed count such reads once; limit_maxbytes is the
// disk's size less the reserve).
#include <gtest/gtest.h>
#include <sys/statvfs.h>

#include <ctime>
#include <map>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "frontend/memcache_commands.h"
#include "proto/memcache_parser.h"
#include "store/local_object_store.h"
#include "test_util.h"

namespace bale {
namespace {

using testing::TempDir;

class FakeStatsSource : public StatsSource {
 public:
  explicit FakeStatsSource(ThreadStats* stats) : stats_(stats) {}
  void Sum(ThreadStats* total) const override { stats_->AccumulateInto(total); }
  void Reset() override {}
  uint64_t uptime_s() const override { return 0; }
  uint64_t http_body_bytes() const override { return 0; }
  std::vector<net::ConnInfo> Connections() const override { return conns; }
  std::vector<net::ConnInfo> conns;

 private:
  ThreadStats* stats_;
};

class StatsCommandTest : public ::testing::Test {
 protected:
  void SetUp() override { Open(); }

  void Open() {
    StoreOptions o;
    o.dir = tmp_.Sub("data");
    o.partitions = 4;
    o.volume.durability = Durability::kNone;
    o.volume.clock = [this] { return now_; };
    o.compaction.automatic = false;
    ASSERT_TRUE(Store::Open(o, &store_).ok());
    objects_ = std::make_unique<LocalObjectStore>(store_.get(), Durability::kNone);
    session_ = objects_->NewSession();
    settings_.data_dir = tmp_.Sub("data");
    commands_ = std::make_unique<MemcacheCommands>(objects_.get(), &settings_, &source_);
  }

  void Reopen() {
    commands_.reset();
    session_.reset();
    objects_.reset();
    ASSERT_TRUE(store_->Close().ok());
    store_.reset();
    Open();
  }

  // Runs the requests in `in` and returns the replies.
  std::string Run(std::string in) {
    std::string out;
    while (!in.empty()) {
      proto::Request req;
      proto::ParseResult r = proto::ParseRequest(in, proto::ParserLimits(), &req);
      EXPECT_NE(r.consumed, 0u) << in;
      if (r.consumed == 0) break;
      if (r.status == proto::ParseStatus::kRequest) {
        commands_->Execute(req, &out, &stats_, session_.get());
      } else if (!r.noreply) {
        out.append(r.error);
        out.append("\r\n");
      }
      in.erase(0, r.consumed);
    }
    return out;
  }

  // `stats <sub>` as a map of name to value (END checked).
  std::map<std::string, std::string> Stats(const std::string& sub = "") {
    std::string out = Run(sub.empty() ? "stats\r\n" : "stats " + sub + "\r\n");
    std::map<std::string, std::string> m;
    EXPECT_GE(out.size(), 5u);
    EXPECT_EQ(out.substr(out.size() - 5), "END\r\n") << out;
    size_t at = 0;
    while (at < out.size()) {
      size_t eol = out.find("\r\n", at);
      std::string line = out.substr(at, eol - at);
      at = eol + 2;
      if (line == "END") break;
      EXPECT_EQ(line.substr(0, 5), "STAT ") << line;
      size_t sp = line.find(' ', 5);
      m[line.substr(5, sp - 5)] = line.substr(sp + 1);
    }
    return m;
  }
  uint64_t Stat(const std::string& name) { return std::stoull(Stats()[name]); }

  void Set(const std::string& key, const std::string& value, uint32_t abs_expiry = 0) {
    EXPECT_EQ(Run("set " + key + " 0 " + std::to_string(abs_expiry) + " " +
                  std::to_string(value.size()) + "\r\n" + value + "\r\n"),
              "STORED\r\n");
  }

  TempDir tmp_;
  uint32_t now_ = static_cast<uint32_t>(::time(nullptr));
  std::unique_ptr<Store> store_;
  std::unique_ptr<LocalObjectStore> objects_;
  std::unique_ptr<ObjectSession> session_;
  MemcacheSettings settings_;
  ThreadStats stats_;
  FakeStatsSource source_{&stats_};
  std::unique_ptr<MemcacheCommands> commands_;
};

TEST_F(StatsCommandTest, ItemsAndSlabsShowOneClassWhileObjectsAreStored) {
  now_ -= 100;  // the objects were written 100 s ago (the faces' clock is the real one)
  EXPECT_EQ(Run("stats items\r\n"), "END\r\n");  // memcached: no class without items
  EXPECT_EQ(Run("stats slabs\r\n"), "STAT active_slabs 0\r\nSTAT total_malloced 0\r\nEND\r\n");
  for (int i = 0; i < 5; i++) Set("k" + std::to_string(i), "value");
  auto items = Stats("items");
  EXPECT_EQ(items["items:1:number"], "5");
  EXPECT_EQ(items["items:1:number_cold"], "5");
  EXPECT_EQ(items["items:1:evicted"], "0");
  EXPECT_GE(std::stoull(items["items:1:age"]), 100u);
  EXPECT_LE(std::stoull(items["items:1:age"]), 102u);
  EXPECT_EQ(items["items:1:mem_requested"], Stats()["bytes"]);
  EXPECT_EQ(items.size(), 28u);
  for (const auto& [name, value] : items) EXPECT_EQ(name.substr(0, 8), "items:1:") << name;

  Run("get k1\r\n");
  auto slabs = Stats("slabs");
  EXPECT_EQ(slabs["1:chunk_size"], std::to_string(settings_.max_item_size));
  EXPECT_EQ(slabs["1:used_chunks"], "5");
  EXPECT_EQ(slabs["1:cmd_set"], "5");
  EXPECT_EQ(slabs["1:get_hits"], "1");
  EXPECT_EQ(slabs["active_slabs"], "1");
  EXPECT_EQ(slabs["total_malloced"], Stats()["bytes"]);
}

TEST_F(StatsCommandTest, SubcommandsAndBadArgumentsAnswerAsMemcached) {
  // As Debian's memcached 1.6.18 answers each (tests/integration/stats_compat_test.py).
  const std::pair<std::string, std::string> cases[] = {
      {"stats nonsense\r\n", "ERROR\r\n"},
      {"stats sizes\r\n", "STAT sizes_status disabled\r\nEND\r\n"},
      {"stats conns\r\n", "END\r\n"},
      {"stats detail on\r\n", "OK\r\n"},
      {"stats detail dump\r\n", "END\r\n"},
      {"stats detail\r\n", "CLIENT_ERROR usage: stats detail on|off|dump\r\n"},
      {"stats cachedump 1\r\n", "CLIENT_ERROR bad command line\r\n"},
      {"stats cachedump x 1\r\n", "CLIENT_ERROR bad command line format\r\n"},
      {"stats cachedump 64 1\r\n", "CLIENT_ERROR Illegal slab id\r\n"},
      {"stats cachedump 1 10\r\n", "END\r\n"},
      {"slabs automove 1\r\n", "OK\r\n"},
      {"slabs automove 0\r\n", "OK\r\n"},
      {"slabs automove 3\r\n", "ERROR\r\n"},
      {"slabs automove bad\r\n", "CLIENT_ERROR bad command line format\r\n"},
      {"slabs automove bad noreply\r\n", ""},
      {"slabs automove ratio 0.8\r\n", "OK\r\n"},
      {"slabs automove ratio x\r\n", "ERROR\r\n"},
      {"slabs automove\r\n", "ERROR\r\n"},
      {"slabs reassign 1 1\r\n", "SAME src and dst class are identical\r\n"},
      {"slabs reassign 1 9\r\n", "NOSPARE source class has no spare pages\r\n"},
      {"slabs reassign -1 1\r\n", "BADCLASS invalid src or dst class id\r\n"},
      {"slabs reassign 1 40\r\n", "BADCLASS invalid src or dst class id\r\n"},
      {"stats sizes_disable\r\n", "STAT sizes_status disabled\r\n"},
      {"stats extstore\r\n", "END\r\n"},
      {"stats reset foo\r\n", "RESET\r\n"},
      {"slabs reassign x 1\r\n", "CLIENT_ERROR bad command line format\r\n"},
      {"slabs nonsense\r\n", "ERROR\r\n"},
      {"slabs\r\n", "ERROR\r\n"},
  };
  for (const auto& [request, reply] : cases) EXPECT_EQ(Run(request), reply) << request;
  time_t now = ::time(nullptr);
  source_.conns = {{7, 0, "tcp:127.0.0.1:5000", "tcp:127.0.0.1:11211", now},
                   {9, 0, "tcp6:[::1]:5001", "tcp6:[::1]:11211", now - 30}};
  EXPECT_EQ(Run("stats conns\r\n"),
            "STAT 7:addr tcp:127.0.0.1:5000\r\nSTAT 7:listen_addr tcp:127.0.0.1:11211\r\n"
            "STAT 7:state conn_parse_cmd\r\nSTAT 7:secs_since_last_cmd 0\r\n"
            "STAT 9:addr tcp6:[::1]:5001\r\nSTAT 9:listen_addr tcp6:[::1]:11211\r\n"
            "STAT 9:state conn_read\r\nSTAT 9:secs_since_last_cmd 30\r\nEND\r\n");
  source_.conns.clear();
}

TEST_F(StatsCommandTest, CurrItemsAndBytesFollowDeletesAndFlushAll) {
  for (int i = 0; i < 10; i++) Set("k" + std::to_string(i), std::string(100, 'v'));
  EXPECT_EQ(Stat("curr_items"), 10u);
  uint64_t ten = Stat("bytes");
  EXPECT_GE(ten, 10u * 100);
  EXPECT_EQ(Run("delete k0\r\ndelete k1\r\ndelete k2\r\n"), "DELETED\r\nDELETED\r\nDELETED\r\n");
  EXPECT_EQ(Stat("curr_items"), 7u);
  EXPECT_EQ(Stat("bytes"), ten / 10 * 7);  // the tombstones are not counted either
  Set("k3", std::string(100, 'w'));        // an overwrite
  EXPECT_EQ(Stat("curr_items"), 7u);
  EXPECT_EQ(Stat("bytes"), ten / 10 * 7);

  EXPECT_EQ(Run("flush_all\r\n"), "OK\r\n");
  EXPECT_EQ(Stat("curr_items"), 0u);
  EXPECT_EQ(Stat("bytes"), 0u);
  Set("k4", std::string(100, 'x'));  // replaces a flushed one
  Set("new", std::string(99, 'x'));
  EXPECT_EQ(Stat("curr_items"), 2u);
  EXPECT_EQ(Stat("bytes"), ten / 10 * 2);

  // A read of a flushed object counts once (memcached unlinks it).
  EXPECT_EQ(Run("get k5\r\nget k5\r\nget k4\r\n").substr(0, 5), "END\r\n");
  auto st = Stats();
  EXPECT_EQ(st["get_flushed"], "1");
  EXPECT_EQ(st["get_expired"], "0");
  EXPECT_EQ(st["curr_items"], "2");
  EXPECT_EQ(st["bytes"], std::to_string(ten / 10 * 2));

  Reopen();  // counts from the disk again: the flushed entries are counted until compacted
  EXPECT_GE(Stat("curr_items"), 2u);
  EXPECT_EQ(Run("get k6\r\n"), "END\r\n");  // never below what is live
  EXPECT_GE(Stat("curr_items"), 2u);
}

TEST_F(StatsCommandTest, ExpiredObjectsStopCountingWhenReadAndCountOnce) {
  Set("short", "v", now_ + 10);
  Set("long_", "v", now_ + 1000);
  Set("never", "v");
  EXPECT_EQ(Stat("curr_items"), 3u);
  uint64_t three = Stat("bytes");
  now_ += 20;
  EXPECT_EQ(Stat("curr_items"), 3u);  // as memcached: counted until found
  EXPECT_EQ(Run("get short\r\n"), "END\r\n");
  EXPECT_EQ(Run("get short\r\n"), "END\r\n");
  EXPECT_EQ(Run("mg short v\r\n"), "EN\r\n");
  auto st = Stats();
  EXPECT_EQ(st["get_expired"], "1");
  EXPECT_EQ(st["get_flushed"], "0");
  EXPECT_EQ(st["curr_items"], "2");
  EXPECT_EQ(st["bytes"], std::to_string(three / 3 * 2));
  // The expired object stays gone after a restart (its tombstone hides it).
  Reopen();
  now_ += 1;
  EXPECT_EQ(Run("get short\r\n"), "END\r\n");
  EXPECT_EQ(Stat("curr_items"), 2u);
  Set("short", "again");
  EXPECT_EQ(Stat("curr_items"), 3u);
}

TEST_F(StatsCommandTest, LimitMaxbytesIsTheDiskLessTheReserve) {
  Set("k", "v");
  struct statvfs fs;
  ASSERT_EQ(::statvfs(settings_.data_dir.c_str(), &fs), 0);
  uint64_t size = static_cast<uint64_t>(fs.f_blocks) * fs.f_frsize;
  auto st = Stats();
  EXPECT_EQ(st["limit_maxbytes"], std::to_string(size));
  EXPECT_NE(st["limit_maxbytes"], st["bytes"]);
}

TEST_F(StatsCommandTest, AppendPastTheLimitIsNotStored) {
  settings_.max_item_size = 10;
  Set("k", "12345678");
  EXPECT_EQ(Run("append k 0 0 3\r\nabc\r\n"), "NOT_STORED\r\n");
  EXPECT_EQ(Run("prepend k 0 0 3\r\nabc\r\n"), "NOT_STORED\r\n");
  EXPECT_EQ(Run("append k 0 0 2\r\nab\r\n"), "STORED\r\n");
  EXPECT_EQ(Run("get k\r\n"), "VALUE k 0 10\r\n12345678ab\r\nEND\r\n");
}

TEST_F(StatsCommandTest, IncrReadsTheValueAsMemcachedDoes) {
  Set("n", " 12");
  EXPECT_EQ(Run("incr n 1\r\n"), "13\r\n");
  EXPECT_EQ(Run("ma n\r\n"), "HD\r\n");
  EXPECT_EQ(Run("get n\r\n"), "VALUE n 0 2\r\n14\r\nEND\r\n");
  Set("t", "\t7 tail");
  EXPECT_EQ(Run("decr t 2\r\n"), "5\r\n");
  Set("bad", "12abc");
  EXPECT_EQ(Run("incr bad 1\r\n"),
            "CLIENT_ERROR cannot increment or decrement non-numeric value\r\n");
}

}  // namespace
}  // namespace bale
