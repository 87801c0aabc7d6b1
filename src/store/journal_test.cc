#include "store/journal.h"

#include <gtest/gtest.h>

#include <atomic>
#include <future>
#include <mutex>
#include <thread>
#include <vector>

#include "format/store_meta.h"
#include "format/superblock.h"
#include "store/journal_replay.h"
#include "test_util.h"

namespace bale {
namespace {

using testing::FaultEnv;

// A data directory with one partition's segment file, which the records name.
class JournalTest : public ::testing::Test {
 protected:
  void SetUp() override {
    seg_dir_ = tmp_.path() + "/" + format::PartitionDirName(0);
    ASSERT_TRUE(env_.CreateDir(seg_dir_).ok());
    seg_path_ = seg_dir_ + "/" + format::SegmentFileName(1, 0);
    std::unique_ptr<File> f;
    ASSERT_TRUE(env_.Open(seg_path_, OpenMode::kCreate, &f).ok());
    ASSERT_TRUE(f->PWrite(0, std::string(64, 'S')).ok());
  }

  Journal::Options Options() {
    Journal::Options o;
    o.env = &env_;
    o.dir = tmp_.path() + "/journal";
    o.sync_segments = [this] {
      segment_syncs_++;
      return segment_sync_result_;
    };
    return o;
  }

  static format::JournalTarget At(uint64_t offset, uint64_t seq = 1) {
    format::JournalTarget t;
    t.partition = 0;
    t.seq = seq;
    t.generation = 0;
    t.offset = offset;
    return t;
  }

  uint64_t Put(Journal* j, uint64_t offset, char fill, uint64_t seq = 1) {
    std::string bytes(16, fill);
    std::string_view piece[] = {std::string_view(bytes).substr(0, 8),
                                std::string_view(bytes).substr(8)};
    return j->Append(At(offset, seq), piece);
  }

  std::string Segment() {
    std::string s;
    EXPECT_TRUE(ReadWholeFile(&env_, seg_path_, &s).ok());
    return s;
  }

  std::vector<uint64_t> Files() {
    std::vector<uint64_t> seqs;
    EXPECT_TRUE(ListJournalFiles(&env_, tmp_.path(), &seqs).ok());
    return seqs;
  }

  testing::TempDir tmp_;
  FaultEnv env_;
  std::string seg_dir_, seg_path_;
  std::atomic<int> segment_syncs_{0};
  Status segment_sync_result_;
};

TEST_F(JournalTest, FlushedRecordsReplayIntoTheirSegmentOnce) {
  std::unique_ptr<Journal> j;
  ASSERT_TRUE(Journal::Open(Options(), 1, &j).ok());
  Put(j.get(), 64, 'a');
  Put(j.get(), 80, 'b');
  Put(j.get(), 0, 'z', /*seq=*/9);  // a segment that is gone (compacted)
  ASSERT_TRUE(j->Flush().ok());
  EXPECT_EQ(j->Stats().flushes, 1u);  // one flush for the three records
  EXPECT_EQ(j->Stats().unflushed, 0u);
  j.reset();  // a crash: the files stay

  JournalReplayStats stats;
  ASSERT_TRUE(ReplayJournal(&env_, tmp_.path(), &stats).ok());
  EXPECT_EQ(stats.files, 1u);
  EXPECT_EQ(stats.records, 3u);
  EXPECT_EQ(stats.rewritten, 2u);
  EXPECT_EQ(stats.skipped, 1u);
  EXPECT_EQ(stats.last_seq, 1u);
  EXPECT_EQ(Segment(), std::string(64, 'S') + std::string(16, 'a') + std::string(16, 'b'));
  ASSERT_TRUE(ReplayJournal(&env_, tmp_.path(), &stats).ok());
  EXPECT_EQ(stats.rewritten, 0u) << "the segment already holds every record";
  EXPECT_FALSE(env_.Exists(seg_dir_ + "/" + format::SegmentFileName(9, 0)));
}

TEST_F(JournalTest, ReplayStopsAtATornRecordAndKeepsWhatCameBefore) {
  std::unique_ptr<Journal> j;
  ASSERT_TRUE(Journal::Open(Options(), 1, &j).ok());
  Put(j.get(), 64, 'a');
  Put(j.get(), 80, 'b');
  ASSERT_TRUE(j->Flush().ok());
  j.reset();
  const std::string path = tmp_.path() + "/journal/" + format::JournalFileName(1);
  std::unique_ptr<File> f;
  ASSERT_TRUE(env_.Open(path, OpenMode::kReadWrite, &f).ok());
  uint64_t size = 0;
  ASSERT_TRUE(f->Size(&size).ok());
  ASSERT_TRUE(f->Truncate(size - 5).ok());  // the second record torn
  JournalReplayStats stats;
  ASSERT_TRUE(ReplayJournal(&env_, tmp_.path(), &stats).ok());
  EXPECT_EQ(stats.records, 1u);
  EXPECT_EQ(Segment(), std::string(64, 'S') + std::string(16, 'a'));
}

TEST_F(JournalTest, AFileWhoseHeaderDoesNotCheckIsIgnoredAndReported) {
  ASSERT_TRUE(env_.CreateDir(tmp_.path() + "/journal").ok());
  std::unique_ptr<File> f;
  ASSERT_TRUE(
      env_.Open(tmp_.path() + "/journal/" + format::JournalFileName(4), OpenMode::kCreate, &f)
          .ok());
  ASSERT_TRUE(f->PWrite(0, std::string(20, 'x')).ok());
  JournalReplayStats stats;
  ASSERT_TRUE(ReplayJournal(&env_, tmp_.path(), &stats).ok());
  EXPECT_EQ(stats.bad_headers, 1u);
  EXPECT_EQ(stats.last_seq, 4u);
  ASSERT_EQ(stats.notes.size(), 1u);
  EXPECT_NE(stats.notes[0].find(format::JournalFileName(4)), std::string::npos);
}

TEST_F(JournalTest, AFailedFlushFailsItsWaitersAndLeavesNothingBehind) {
  std::unique_ptr<Journal> j;
  ASSERT_TRUE(Journal::Open(Options(), 1, &j).ok());
  env_.fail_sync = true;
  uint64_t lost = Put(j.get(), 64, 'a');
  Status s = j->WaitDurable(lost);
  EXPECT_TRUE(s.IsIOError()) << s.ToString();
  env_.fail_sync = false;
  uint64_t kept = Put(j.get(), 64, 'b');  // the volume wrote again at that place
  EXPECT_TRUE(j->WaitDurable(kept).ok());
  EXPECT_TRUE(j->WaitDurable(lost).IsIOError()) << "a failed record never turns durable";
  EXPECT_EQ(j->Stats().failures, 1u);
  j.reset();
  JournalReplayStats stats;
  ASSERT_TRUE(ReplayJournal(&env_, tmp_.path(), &stats).ok());
  EXPECT_EQ(stats.records, 1u) << "the failed flush was cut back";
  EXPECT_EQ(Segment(), std::string(64, 'S') + std::string(16, 'b'));
}

TEST_F(JournalTest, RotationSyncsTheSegmentsThenRemovesTheOlderFiles) {
  std::unique_ptr<Journal> j;
  ASSERT_TRUE(Journal::Open(Options(), 5, &j).ok());
  Put(j.get(), 64, 'a');  // left in the buffer: the rotation flushes it to file 5
  ASSERT_TRUE(j->Rotate().ok());
  EXPECT_EQ(segment_syncs_, 1);
  EXPECT_EQ(Files(), std::vector<uint64_t>{6});
  EXPECT_EQ(j->Stats().unflushed, 0u);
  Put(j.get(), 80, 'b');
  ASSERT_TRUE(j->Flush().ok());
  j.reset();
  JournalReplayStats stats;
  ASSERT_TRUE(ReplayJournal(&env_, tmp_.path(), &stats).ok());
  EXPECT_EQ(stats.records, 1u);  // only what file 6 holds
}

TEST_F(JournalTest, FilesStayWhileTheSegmentsCannotBeSynced) {
  std::unique_ptr<Journal> j;
  ASSERT_TRUE(Journal::Open(Options(), 1, &j).ok());
  Put(j.get(), 64, 'a');
  segment_sync_result_ = Status::IOError("injected");
  EXPECT_FALSE(j->Rotate().ok());
  EXPECT_EQ(Files(), (std::vector<uint64_t>{1, 2}));
  segment_sync_result_ = Status::OK();
  ASSERT_TRUE(j->Rotate().ok());
  EXPECT_EQ(Files(), std::vector<uint64_t>{3});
}

TEST_F(JournalTest, TheBackgroundThreadRotatesPastTheFileSize) {
  Journal::Options o = Options();
  o.file_bytes = 4096;
  std::unique_ptr<Journal> j;
  ASSERT_TRUE(Journal::Open(o, 1, &j).ok());
  uint64_t pos = 0;
  for (int i = 0; i < 100; i++) pos = Put(j.get(), 64, 'a');  // 48 bytes a record
  ASSERT_TRUE(j->WaitDurable(pos).ok());
  for (int i = 0; i < 1000 && segment_syncs_ == 0; i++) {
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  EXPECT_GE(j->Stats().rotations, 1u);
  EXPECT_GE(segment_syncs_, 1);
}

TEST_F(JournalTest, RetireRemovesEveryFile) {
  std::unique_ptr<Journal> j;
  ASSERT_TRUE(Journal::Open(Options(), 1, &j).ok());
  Put(j.get(), 64, 'a');
  ASSERT_TRUE(j->Rotate().ok());
  ASSERT_TRUE(j->Retire().ok());
  EXPECT_TRUE(Files().empty());
}

TEST_F(JournalTest, ConcurrentWaitersAllBecomeDurable) {
  std::unique_ptr<Journal> j;
  ASSERT_TRUE(Journal::Open(Options(), 1, &j).ok());
  std::vector<std::thread> threads;
  std::atomic<int> failures{0};
  for (int t = 0; t < 4; t++) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < 100; i++) {
        uint64_t pos = Put(j.get(), 64 + 16 * (t * 100 + i), 'a');
        if (!j->WaitDurable(pos).ok()) failures++;
      }
    });
  }
  for (std::thread& t : threads) t.join();
  EXPECT_EQ(failures, 0);
  JournalStats s = j->Stats();
  EXPECT_EQ(s.records, 400u);
  EXPECT_LE(s.flushes, 400u);
  EXPECT_EQ(s.unflushed, 0u);
  j.reset();
  JournalReplayStats stats;
  ASSERT_TRUE(ReplayJournal(&env_, tmp_.path(), &stats).ok());
  EXPECT_EQ(stats.records, 400u);
}

TEST_F(JournalTest, FlushAsyncAnswersInOrderOnceDurable) {
  std::unique_ptr<Journal> j;
  ASSERT_TRUE(Journal::Open(Options(), 1, &j).ok());
  std::mutex mu;
  std::vector<int> order;
  std::vector<Status> outcomes(3);
  for (int i = 0; i < 3; i++) {
    uint64_t pos = Put(j.get(), 64 + 16 * i, 'a' + i);
    j->FlushAsync(pos, [&, i](Status s) {
      std::lock_guard<std::mutex> l(mu);
      order.push_back(i);
      outcomes[i] = s;
    });
  }
  j->Stop();  // answers every waiter first
  EXPECT_EQ(order, (std::vector<int>{0, 1, 2}));
  for (const Status& s : outcomes) EXPECT_TRUE(s.ok()) << s.ToString();
  EXPECT_EQ(j->Stats().unflushed, 0u);
  j.reset();
  JournalReplayStats stats;
  ASSERT_TRUE(ReplayJournal(&env_, tmp_.path(), &stats).ok());
  EXPECT_EQ(stats.records, 3u);
}

TEST_F(JournalTest, FlushAsyncAfterStopAnswersAtOnce) {
  std::unique_ptr<Journal> j;
  ASSERT_TRUE(Journal::Open(Options(), 1, &j).ok());
  j->Stop();
  bool called = false;
  j->FlushAsync(Put(j.get(), 64, 'a'), [&](Status s) {
    called = true;
    EXPECT_TRUE(s.ok()) << s.ToString();
  });
  EXPECT_TRUE(called);
  ASSERT_TRUE(j->Retire().ok());
  called = false;
  j->FlushAsync(Put(j.get(), 80, 'b'), [&](Status s) {
    called = true;
    EXPECT_TRUE(s.IsIOError()) << s.ToString();
  });
  EXPECT_TRUE(called);
}

TEST_F(JournalTest, FlushAsyncReportsAFailedFlush) {
  std::unique_ptr<Journal> j;
  ASSERT_TRUE(Journal::Open(Options(), 1, &j).ok());
  env_.fail_sync = true;
  std::promise<Status> failed;
  j->FlushAsync(Put(j.get(), 64, 'a'), [&](Status s) { failed.set_value(s); });
  Status s = failed.get_future().get();
  EXPECT_TRUE(s.IsIOError()) << s.ToString();
  env_.fail_sync = false;
  std::promise<Status> kept;
  j->FlushAsync(Put(j.get(), 64, 'b'), [&](Status s) { kept.set_value(s); });
  EXPECT_TRUE(kept.get_future().get().ok());
}

}  // namespace
}  // namespace bale
