// Damage to FLUSH_ALL (format/store_flush.h) is contained to the partitions whose rules
// it makes unreadable (docs/store.md, "What damage does"): before, one CRC covered every
// rule, and one flipped byte made every partition unavailable. Each test writes objects
// before and after a flush_all into a store of four partitions, damages the marker,
// and checks what is served, what is reported, what bale verify says, and that
// flush_all repairs it.
#include <gtest/gtest.h>

#include <ctime>
#include <filesystem>
#include <fstream>
#include <map>
#include <sstream>
#include <utility>
#include <vector>

#include "base/checksum.h"
#include "format/coding.h"
#include "format/store_flush.h"
#include "store/store.h"
#include "store/verify.h"
#include "test_util.h"

namespace bale {
namespace {

namespace fs = std::filesystem;
using testing::TempDir;
using testing::XorByte;

constexpr uint32_t kPartitions = 4;
constexpr int kKeys = 80;

// A store of four partitions in a scratch directory, and what the tests do with it.
struct FlushAllStore {
  FlushAllStore() {
    so.dir = tmp.Sub("data");
    so.partitions = kPartitions;
    so.volume.durability = Durability::kNone;
  }

  // "old-N" written before a flush_all (hidden by it), "new-N" after (served).
  void Fill() {
    Open();
    for (int i = 0; i < kKeys; i++) Set("old-" + std::to_string(i), "old");
    ASSERT_TRUE(store->FlushAll(0).ok());
    for (int i = 0; i < kKeys; i++) {
      std::string k = "new-" + std::to_string(i);
      Set(k, "v" + std::to_string(i));
      by_partition[store->PartitionOf(k)].push_back(i);
    }
    for (uint32_t p = 0; p < kPartitions; p++) ASSERT_FALSE(by_partition[p].empty()) << p;
    Close();
  }
  void Open() {
    Status s = Store::Open(so, &store);
    ASSERT_TRUE(s.ok()) << s.ToString();
  }
  void Close() {
    ASSERT_TRUE(store->Close().ok());
    store.reset();
  }
  void Set(const std::string& key, const std::string& value) {
    WriteOp op;
    op.key = key;
    op.value = value;
    ASSERT_TRUE(store->VolumeFor(key)->Put(op).ok()) << key;
  }
  // The value, "<missing>", or the error.
  std::string Get(const std::string& key) {
    ReadResult r;
    Status s = store->VolumeFor(key)->Get(key, &r);
    return s.ok() ? std::string(r.value()) : s.IsNotFound() ? "<missing>" : s.ToString();
  }
  // Partition p serves: its new objects read back, the flushed ones stay hidden.
  void ExpectServes(uint32_t p) {
    for (int i : by_partition[p]) {
      ASSERT_EQ(Get("new-" + std::to_string(i)), "v" + std::to_string(i)) << "partition " << p;
    }
    for (int i = 0; i < kKeys; i++) {
      std::string k = "old-" + std::to_string(i);
      if (store->PartitionOf(k) == p) ASSERT_EQ(Get(k), "<missing>") << k;
    }
  }
  // Partition p answers Unavailable, naming itself and FLUSH_ALL, to reads and writes.
  void ExpectUnavailable(uint32_t p) {
    std::string k = "new-" + std::to_string(by_partition[p][0]);
    ReadResult r;
    Status s = store->VolumeFor(k)->Get(k, &r);
    EXPECT_TRUE(s.IsUnavailable()) << s.ToString();
    EXPECT_NE(s.message().find("partition " + std::to_string(p) + " unavailable: its FLUSH_ALL"),
              std::string_view::npos)
        << s.ToString();
    WriteOp op;
    op.key = k;
    op.value = "x";
    EXPECT_TRUE(store->VolumeFor(k)->Put(op).IsUnavailable());
  }
  // The stats and reports damage to FLUSH_ALL makes: `reports` as {partition, offset}.
  void ExpectReports(uint32_t unavailable,
                     const std::vector<std::pair<uint32_t, uint64_t>>& reports) {
    StoreStats st = store->Stats();
    EXPECT_EQ(st.unavailable_partitions, unavailable);
    EXPECT_EQ(st.damaged_partitions, unavailable);
    EXPECT_TRUE(st.flush_all_damaged);
    std::vector<PartitionDamage> d = store->Damage();
    ASSERT_EQ(d.size(), reports.size());
    for (size_t i = 0; i < d.size(); i++) {
      EXPECT_EQ(d[i].partition, reports[i].first) << i;
      EXPECT_EQ(d[i].report.offset, reports[i].second) << i;
      EXPECT_EQ(d[i].report.kind, DamageKind::kBadFlushMarker) << i;
      EXPECT_EQ(d[i].report.path, FlushPath()) << i;
    }
  }
  std::string VerifyText(VerifyReport* r) {
    std::ostringstream out;
    EXPECT_TRUE(VerifyTree(Env::Default(), so.dir, out, r).ok());
    return out.str();
  }
  std::string FlushPath() const { return so.dir + "/" + format::kStoreFlushFileName; }
  std::string FileBytes(const std::string& path) {
    std::ifstream f(path, std::ios::binary);
    return std::string(std::istreambuf_iterator<char>(f), {});
  }
  // Repairs with flush_all (no delay): everything serves, nothing is reported, and the
  // objects of the partitions that were unsure are hidden.
  void ExpectRepairedByFlushAll() {
    Open();
    ASSERT_TRUE(store->FlushAll(0).ok());
    StoreStats st = store->Stats();
    EXPECT_EQ(st.unavailable_partitions, 0u);
    EXPECT_EQ(st.damaged_partitions, 0u);
    EXPECT_FALSE(st.flush_all_damaged);
    EXPECT_TRUE(store->Damage().empty());
    for (int i = 0; i < kKeys; i++) EXPECT_EQ(Get("new-" + std::to_string(i)), "<missing>");
    Set("after-repair", "1");
    EXPECT_EQ(Get("after-repair"), "1");
    Close();
    VerifyReport r;
    std::string out = VerifyText(&r);
    EXPECT_EQ(r.problems, 0u) << out;
  }

  TempDir tmp;
  StoreOptions so;
  std::unique_ptr<Store> store;
  std::map<uint32_t, std::vector<int>> by_partition;  // new-N by partition
};

// Issue 10 item 5, as a reviewer found it for FLUSH_ALL: a byte flipped in one rule made
// every partition unavailable. Only that rule's partition may be.
TEST(Damage, FlippedByteInOneRuleMakesOnlyItsPartitionUnavailable) {
  FlushAllStore t;
  ASSERT_NO_FATAL_FAILURE(t.Fill());
  const uint64_t at = format::StoreFlushRuleOffset(2);
  XorByte(t.FlushPath(), at + 9, 0x04);  // in partition 2's flush_version
  const std::string damaged = t.FileBytes(t.FlushPath());

  for (int round = 0; round < 2; round++) {
    SCOPED_TRACE(round == 0 ? "first open" : "reopen");
    t.Open();
    for (uint32_t p : {0u, 1u, 3u}) t.ExpectServes(p);
    t.ExpectUnavailable(2);
    t.ExpectReports(1, {{2, at}});
    // A delayed flush_all cannot repair it, says so, and changes nothing.
    Status s = t.store->FlushAll(static_cast<uint32_t>(::time(nullptr)) + 3600);
    EXPECT_TRUE(s.IsUnavailable()) << s.ToString();
    EXPECT_NE(s.message().find("partition 2"), std::string_view::npos) << s.ToString();
    t.Close();
    EXPECT_EQ(t.FileBytes(t.FlushPath()), damaged);
  }
  VerifyReport r;
  std::string out = t.VerifyText(&r);
  EXPECT_EQ(r.problems, 1u) << out;
  EXPECT_NE(out.find(t.FlushPath() + ": offset " + std::to_string(at) + ": Corruption"),
            std::string::npos)
      << out;
  EXPECT_NE(out.find("the rule of partition 2 is lost"), std::string::npos) << out;
  t.ExpectRepairedByFlushAll();
}

// Cut short: the rules before the cut are read; the partitions of those cut are
// unavailable, one report each at the offset of the first rule cut.
TEST(Damage, TruncatedFileLosesOnlyTheRulesCut) {
  FlushAllStore t;
  ASSERT_NO_FATAL_FAILURE(t.Fill());
  fs::resize_file(t.FlushPath(), format::StoreFlushRuleOffset(2) + 10);
  t.Open();
  t.ExpectServes(0);
  t.ExpectServes(1);
  t.ExpectUnavailable(2);
  t.ExpectUnavailable(3);
  const uint64_t cut = format::StoreFlushRuleOffset(2);
  t.ExpectReports(2, {{2, cut}, {3, cut}});
  for (const PartitionDamage& d : t.store->Damage()) {
    EXPECT_NE(d.report.what.find("cut short"), std::string::npos) << d.report.what;
  }
  t.Close();
  VerifyReport r;
  std::string out = t.VerifyText(&r);
  EXPECT_EQ(r.problems, 1u) << out;
  EXPECT_NE(out.find("the rules of partitions 2..3 are lost"), std::string::npos) << out;
  t.ExpectRepairedByFlushAll();
}

// A flipped byte in the header loses no rule (each checks itself, and the partition
// count is STORE's): every partition serves; the damage is the store's own report, and
// any flush_all, delayed or not, writes a whole new marker.
TEST(Damage, FlippedByteInTheHeaderLosesNoRule) {
  FlushAllStore t;
  ASSERT_NO_FATAL_FAILURE(t.Fill());
  XorByte(t.FlushPath(), 13, 0x01);  // the partition count
  t.Open();
  for (uint32_t p = 0; p < kPartitions; p++) t.ExpectServes(p);
  t.ExpectReports(0, {{PartitionDamage::kStoreWide, 0}});
  t.Close();
  VerifyReport r;
  std::string out = t.VerifyText(&r);
  EXPECT_EQ(r.problems, 1u) << out;
  EXPECT_NE(out.find(t.FlushPath() + ": offset 0: Corruption: header"), std::string::npos) << out;

  t.Open();
  ASSERT_TRUE(t.store->FlushAll(static_cast<uint32_t>(::time(nullptr)) + 3600).ok());
  EXPECT_FALSE(t.store->Stats().flush_all_damaged);
  EXPECT_TRUE(t.store->Damage().empty());
  for (uint32_t p = 0; p < kPartitions; p++) t.ExpectServes(p);  // not yet due
  t.Close();
  r = VerifyReport();
  out = t.VerifyText(&r);
  EXPECT_EQ(r.problems, 0u) << out;
}

// Format 1, as earlier builds wrote it, is read; it has one checksum for every rule, so
// damage anywhere in it leaves every partition unsure (docs/store.md says so), and
// flush_all repairs them all.
TEST(Damage, DamagedMarkerOfFormat1MakesEveryPartitionUnavailable) {
  FlushAllStore t;
  ASSERT_NO_FATAL_FAILURE(t.Fill());
  // The same rules in format 1 (format/store_flush.h).
  format::StoreFlushContents now;
  ASSERT_TRUE(format::DecodeStoreFlush(t.FileBytes(t.FlushPath()), kPartitions, &now).ok());
  std::string v1(format::StoreFlushV1Size(kPartitions), '\0');
  format::PutU64(v1.data(), format::kStoreFlushMagic);
  format::PutU32(v1.data() + 8, 1);
  format::PutU32(v1.data() + 12, kPartitions);
  for (uint32_t p = 0; p < kPartitions; p++) {
    char* r = v1.data() + 16 + 16 * p;
    format::PutU64(r, now.rules[p].flush_version);
    format::PutU32(r + 8, now.rules[p].flush_time);
    format::PutU32(r + 12, now.rules[p].flushed_before);
  }
  format::PutU32(v1.data() + 16 + 16 * kPartitions, Crc32c(v1.data(), 16 + 16 * kPartitions));
  ASSERT_TRUE(WriteFileAtomic(Env::Default(), t.FlushPath(), v1).ok());
  t.Open();
  for (uint32_t p = 0; p < kPartitions; p++) t.ExpectServes(p);
  EXPECT_TRUE(t.store->Damage().empty());
  t.Close();

  XorByte(t.FlushPath(), 16 + 16 * 2 + 1, 0x04);  // partition 2's rule
  t.Open();
  for (uint32_t p = 0; p < kPartitions; p++) t.ExpectUnavailable(p);
  EXPECT_EQ(t.store->Stats().unavailable_partitions, kPartitions);
  EXPECT_TRUE(t.store->Stats().flush_all_damaged);
  t.Close();
  VerifyReport r;
  std::string out = t.VerifyText(&r);
  EXPECT_EQ(r.problems, 1u) << out;
  EXPECT_NE(out.find("the rules of partitions 0..3 are lost"), std::string::npos) << out;
  t.ExpectRepairedByFlushAll();
  EXPECT_EQ(format::DecodeStoreFlush(t.FileBytes(t.FlushPath()), kPartitions, &now).ok(), true);
  EXPECT_EQ(now.format_version, format::kStoreFlushFormatVersion);  // rewritten in format 2
}

// A node of a cluster keeps the rules of partitions it does not hold, for when it does:
// one of those damaged is reported as the store's, and a delayed flush_all is refused
// until one without a delay has hidden what it may have hidden.
TEST(Damage, DamagedRuleOfAPartitionNotHeldIsReportedAndRepaired) {
  FlushAllStore t;
  ASSERT_NO_FATAL_FAILURE(t.Fill());
  XorByte(t.FlushPath(), format::StoreFlushRuleOffset(3) + 20, 0x80);  // partition 3's crc
  const std::vector<uint32_t> held = {0, 1, 2};
  ClusterMap map;
  ASSERT_TRUE(ClusterMap::Holding(kPartitions, held, 1, &map).ok());
  t.so.cluster_map = map;
  t.Open();
  for (uint32_t p : held) t.ExpectServes(p);
  t.ExpectReports(0, {{PartitionDamage::kStoreWide, format::StoreFlushRuleOffset(3)}});
  EXPECT_TRUE(t.store->FlushAll(static_cast<uint32_t>(::time(nullptr)) + 3600).IsUnavailable());
  ASSERT_TRUE(t.store->FlushAll(0).ok());
  EXPECT_TRUE(t.store->Damage().empty());
  ASSERT_TRUE(t.store->FlushAll(static_cast<uint32_t>(::time(nullptr)) + 3600).ok());
  t.Close();
}

}  // namespace
}  // namespace bale
