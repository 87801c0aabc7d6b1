// A lost page cache: the machine stops and what was written but not flushed is gone
// (tests/page_cache_env.h). In kSync durability the store acknowledges a write once the
// journal holding it is flushed, while the segments are synced only later
// (store/journal.h), so every acknowledged write must come back through the journal's
// replay. The control cases show that the simulated loss is real: in kInterval mode,
// and in kSync mode when the journal is taken away before the restart, acknowledged
// writes are lost.
#include <gtest/gtest.h>

#include <filesystem>
#include <map>
#include <random>
#include <thread>

#include "format/journal.h"
#include "page_cache_env.h"
#include "store/store.h"
#include "test_util.h"

namespace bale {
namespace {

using testing::PageCacheEnv;

StoreOptions Options(const std::string& dir, Env* env, Durability d) {
  StoreOptions o;
  o.dir = dir;
  o.partitions = 8;
  o.volume.durability = d;
  o.volume.interval_ms = 3600 * 1000;  // kInterval: never within the test
  o.volume.env = env;
  o.volume.segment_bytes = 512 << 10;   // seals during the run
  o.volume.checkpoint_bytes = 1 << 20;  // and checkpoints
  o.journal_file_bytes = 128 << 10;     // and new journal files
  return o;
}

std::string ValueFor(int round, int i) {
  std::string v = "r" + std::to_string(round) + "i" + std::to_string(i) + ":";
  // Mostly small values; every 40th is past what the journal copies (synced in place).
  size_t len = i % 40 == 0 ? Journal::kMaxInlineBytes + 1000 : 50 + (round * 31 + i * 7) % 400;
  while (v.size() < len) v.push_back(static_cast<char>('a' + (v.size() * 13 + i) % 26));
  return v;
}

// What was acknowledged: each key's last acknowledged value, or nullopt once deleted.
using Acked = std::map<std::string, std::optional<std::string>>;

// Writes rounds as a face does in kSync: each volume written without waiting, then one
// SyncVolumes for the round; only then is the round acknowledged. Two threads, each its
// own keys, so their rounds share flushes. The last round of each thread is written but
// never acknowledged.
void WriteRounds(Store* store, Durability d, int rounds, Acked* acked) {
  std::vector<Acked> per_thread(2);
  auto writer = [&](int t) {
    std::mt19937 rng(t + 1);
    Acked& mine = per_thread[t];
    for (int r = 0; r < rounds; r++) {
      Acked round;
      std::vector<Volume*> written;
      std::vector<std::string> values;
      for (int i = 0; i < 24; i++) {
        // The last round's keys are its own: written, maybe durable, never acknowledged.
        const char* kind = r + 1 == rounds ? "u" : "k";
        std::string key = "t" + std::to_string(t) + kind + std::to_string(rng() % 300);
        Volume* v = store->VolumeFor(key);
        if (i % 11 == 5 && mine.count(key) && mine[key]) {
          WriteOp op;
          op.key = key;
          op.tombstone = true;
          ASSERT_TRUE(v->Write({&op, 1}, /*wait=*/false, nullptr).ok());
          round[key] = std::nullopt;
        } else {
          std::string value = ValueFor(r, i);
          WriteOp op;
          op.key = key;
          op.value = value;
          ASSERT_TRUE(v->Write({&op, 1}, /*wait=*/false, nullptr).ok());
          round[key] = value;
        }
        written.push_back(v);
      }
      if (d == Durability::kSync) {
        Status s = store->SyncVolumes(written);
        ASSERT_TRUE(s.ok()) << s.ToString();
      }
      if (r + 1 == rounds) break;  // written, never acknowledged
      for (auto& [k, v] : round) mine[k] = v;
    }
  };
  std::thread other(writer, 1);
  writer(0);
  other.join();
  for (const Acked& a : per_thread) acked->insert(a.begin(), a.end());
}

// Writes that wait for durability themselves (Volume's own paths): an atomic batch
// across partitions, read-modify-writes, a touch.
void WriteWaiting(Store* store, Acked* acked) {
  std::vector<WriteOp> ops(6);
  std::vector<std::string> keys(6), values(6);
  for (size_t i = 0; i < ops.size(); i++) {
    keys[i] = "batch" + std::to_string(i);
    values[i] = keys[i] + "-value";
    ops[i].key = keys[i];
    ops[i].value = values[i];
  }
  ASSERT_TRUE(store->WriteAtomic(ops, /*wait=*/true).ok());
  for (const std::string& k : keys) (*acked)[k] = k + "-value";
  for (int n = 1; n <= 5; n++) {
    std::string value = "counter" + std::to_string(n);
    uint64_t version = 0;
    Status s = store->VolumeFor("counter")->Update(
        "counter",
        [&](const ReadResult*, UpdateDecision* d) {
          d->action = UpdateDecision::Action::kPut;
          d->value = value;
        },
        &version);
    ASSERT_TRUE(s.ok()) << s.ToString();
    acked->insert_or_assign("counter", value);
  }
  ASSERT_TRUE(store->VolumeFor("batch0")->Touch("batch0", 4000000000u).ok());
}

// Reopens `dir` with the real Env and counts the acknowledged writes that did not
// survive; with `report`, each is a test failure.
size_t CountLost(const std::string& dir, const Acked& acked, Durability d, StoreStats* stats,
                 bool report) {
  std::unique_ptr<Store> store;
  Status s = Store::Open(Options(dir, Env::Default(), d), &store);
  EXPECT_TRUE(s.ok()) << s.ToString();
  if (!s.ok()) return acked.size();
  size_t lost = 0;
  ReadResult r;
  for (const auto& [key, want] : acked) {
    Status g = store->VolumeFor(key)->Get(key, &r);
    bool ok = want ? g.ok() && r.value() == *want : g.IsNotFound();
    if (!ok && lost++ < 5 && report) {
      ADD_FAILURE() << key << ": " << (want ? "wanted its value, " : "wanted it deleted, ")
                    << g.ToString() << (g.ok() ? " with another value" : "");
    }
  }
  *stats = store->Stats();
  return lost;
}

// Runs the load, loses the page cache and drops the store (nothing it does after the
// "power loss" reaches the disk). Returns what was acknowledged.
Acked RunAndLosePower(const std::string& dir, Durability d, int rounds) {
  PageCacheEnv env;
  Acked acked;
  {
    std::unique_ptr<Store> store;
    Status s = Store::Open(Options(dir, &env, d), &store);
    EXPECT_TRUE(s.ok()) << s.ToString();
    if (!s.ok()) return acked;
    WriteRounds(store.get(), d, rounds, &acked);
    WriteWaiting(store.get(), &acked);
    EXPECT_GT(env.LosePageCache(), 0u);
  }
  return acked;
}

TEST(LostPageCache, EveryAcknowledgedWriteSurvivesThroughTheJournal) {
  testing::TempDir tmp;
  Acked acked = RunAndLosePower(tmp.path(), Durability::kSync, 60);
  ASSERT_GT(acked.size(), 500u);
  StoreStats stats;
  EXPECT_EQ(CountLost(tmp.path(), acked, Durability::kSync, &stats, true), 0u);
  // The journal did the work: records were written back into segments that had lost them.
  EXPECT_GT(stats.replayed.records, 0u);
  EXPECT_GT(stats.replayed.rewritten, 0u);
  EXPECT_EQ(stats.total.corrupt_records, 0u);
}

TEST(LostPageCache, WithoutTheJournalAcknowledgedWritesAreLost) {
  testing::TempDir tmp;
  Acked acked = RunAndLosePower(tmp.path(), Durability::kSync, 60);
  std::filesystem::remove_all(tmp.path() + "/" + format::kJournalDirName);
  StoreStats stats;
  size_t lost = CountLost(tmp.path(), acked, Durability::kSync, &stats, false);
  EXPECT_GT(lost, 0u) << "the simulated power loss lost nothing: the test proves nothing";
}

TEST(LostPageCache, IntervalModeLosesWhatItHadNotFlushed) {
  testing::TempDir tmp;
  Acked acked = RunAndLosePower(tmp.path(), Durability::kInterval, 20);
  StoreStats stats;
  EXPECT_GT(CountLost(tmp.path(), acked, Durability::kInterval, &stats, false), 0u);
}

}  // namespace
}  // namespace bale
