#include "store/compactor.h"

#include <gtest/gtest.h>

#include <chrono>
#include <string>
#include <thread>
#include <vector>

#include "test_util.h"

namespace bale {
namespace {

Status Put(Volume* v, const std::string& key, const std::string& value) {
  WriteOp op;
  op.key = key;
  op.value = value;
  return v->Put(op);
}

// A pass on demand compacts every segment with dead bytes, and a large one is logged
// before, during (its progress) and after.
TEST(Compactor, PassLogsLargeSegmentsWithProgress) {
  testing::TempDir tmp;
  VolumeOptions o;
  o.dir = tmp.Sub("vol");
  o.durability = Durability::kNone;
  std::unique_ptr<Volume> v;
  ASSERT_TRUE(Volume::Open(o, &v).ok());
  std::string value(4000, 'x');
  for (int round = 0; round < 2; round++) {
    for (int i = 0; i < 1000; i++) ASSERT_TRUE(Put(v.get(), "k" + std::to_string(i), value).ok());
  }
  ASSERT_GT(v->Segments()[0].dead_bytes, 3u << 20);
  CompactionPolicy policy;
  policy.automatic = false;
  policy.log_above_bytes = 1 << 20;
  policy.progress_s = 0;
  std::vector<std::string> lines;
  Compactor c({v.get()}, policy, [&](const std::string& line) { lines.push_back(line); });
  c.CompactAllNow();
  EXPECT_EQ(v->Segments()[0].dead_bytes, 0u);
  EXPECT_EQ(c.totals().compactions, 1u);
  EXPECT_GT(c.totals().reclaimed_bytes, 3u << 20);
  ASSERT_GE(lines.size(), 4u);
  EXPECT_EQ(lines.front().rfind("compacting partition 0 segment 1 (head): ", 0), 0u) << lines[0];
  EXPECT_NE(lines[1].find(" scanned"), std::string::npos) << lines[1];
  EXPECT_EQ(lines[lines.size() - 2].rfind("compacted partition 0 segment 1 (head): ", 0), 0u);
  EXPECT_EQ(lines.back().rfind("compaction on request: 1 segments compacted", 0), 0u)
      << lines.back();
  for (int i = 0; i < 1000; i++) {
    ReadResult r;
    ASSERT_TRUE(v->Get("k" + std::to_string(i), &r).ok());
    ASSERT_EQ(r.value(), value);
  }
}

// Small garbage waits for the automatic trigger; nothing is compacted below it.
TEST(Compactor, AutomaticPassesWaitForTheTrigger) {
  testing::TempDir tmp;
  VolumeOptions o;
  o.dir = tmp.Sub("vol");
  o.durability = Durability::kNone;
  std::unique_ptr<Volume> v;
  ASSERT_TRUE(Volume::Open(o, &v).ok());
  for (int i = 0; i < 10; i++) ASSERT_TRUE(Put(v.get(), "k", std::string(100, 'a' + i)).ok());
  CompactionPolicy policy;
  policy.poll_ms = 1;
  Compactor c({v.get()}, policy, [&](const std::string&) {});
  c.Start();
  // Far below min_dead_bytes (256 KiB): after many polls, still nothing.
  for (int i = 0; i < 50; i++) std::this_thread::sleep_for(std::chrono::milliseconds(2));
  EXPECT_EQ(c.totals().compactions, 0u);
  EXPECT_GT(v->Segments()[0].dead_bytes, 0u);
  // Past it (in one append, so that no poll sees half), a poll compacts it by itself.
  std::string big(64 << 10, 'b');
  std::vector<WriteOp> ops(8);
  for (WriteOp& op : ops) {
    op.key = "big";
    op.value = big;
  }
  ASSERT_TRUE(v->Write(ops).ok());
  for (int i = 0; i < 3000 && c.totals().compactions == 0; i++) {
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  c.Stop();
  EXPECT_EQ(c.totals().compactions, 1u);
  EXPECT_EQ(v->Segments()[0].dead_bytes, 0u);
}

}  // namespace
}  // namespace bale
