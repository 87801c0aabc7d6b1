#include "store/verify.h"

#include <gtest/gtest.h>

#include <filesystem>
#include <sstream>

#include "format/checkpoint.h"
#include "format/superblock.h"
#include "format/volume_meta.h"
#include "store/volume.h"
#include "test_util.h"

namespace bale {
namespace {

TEST(Verify, CleanTreeHasNoProblems) {
  testing::TempDir tmp;
  for (int p = 0; p < 3; p++) {
    VolumeOptions o;
    o.dir = tmp.Sub("p" + std::to_string(p));
    o.partition = p;
    o.segment_bytes = 8192;
    o.durability = Durability::kNone;
    std::unique_ptr<Volume> v;
    ASSERT_TRUE(Volume::Open(o, &v).ok());
    for (int i = 0; i < 50; i++) {
      std::string k = "k" + std::to_string(i), val(300, 'v'), ct = "text/x-" + k;
      WriteOp op;
      op.key = k;
      op.value = val;
      op.content_type = i % 2 == 0 ? std::string_view(ct) : std::string_view();
      ASSERT_TRUE(v->Put(op).ok());
    }
  }
  std::ostringstream out;
  VerifyReport r;
  ASSERT_TRUE(VerifyTree(Env::Default(), tmp.path(), out, &r).ok());
  EXPECT_EQ(r.problems, 0u) << out.str();
  EXPECT_EQ(r.needles, 150u);
  EXPECT_GT(r.segments, 3u);
}

TEST(Verify, MissingDirectoryIsAnError) {
  std::ostringstream out;
  VerifyReport r;
  EXPECT_TRUE(VerifyTree(Env::Default(), "/nonexistent/bale", out, &r).IsNotFound());
}

// Besides the segments, verify checks each volume's checkpoint, FLUSH marker and
// sequence of segments, naming the file (and, for a file that is there, the offset).
TEST(Verify, ChecksCheckpointFlushMarkerAndSegmentSequence) {
  testing::TempDir tmp;
  VolumeOptions o;
  o.dir = tmp.Sub("p-00003");
  o.partition = 3;
  o.segment_bytes = 8192;
  o.durability = Durability::kNone;
  {
    std::unique_ptr<Volume> v;
    ASSERT_TRUE(Volume::Open(o, &v).ok());
    for (int i = 0; i < 100; i++) {
      WriteOp op;
      std::string k = "k" + std::to_string(i), val(300, 'v');
      op.key = k;
      op.value = val;
      ASSERT_TRUE(v->Put(op).ok());
    }
    ASSERT_GE(v->Segments().size(), 4u);
    // A FLUSH marker as earlier builds wrote one per partition.
    ASSERT_TRUE(WriteFileAtomic(Env::Default(), o.dir + "/" + format::kFlushFileName,
                                format::EncodeFlushMarker(format::FlushMarker{0, 0}))
                    .ok());
  }
  auto verify = [&](VerifyReport* r) {
    std::ostringstream out;
    EXPECT_TRUE(VerifyTree(Env::Default(), tmp.path(), out, r).ok());
    return out.str();
  };
  VerifyReport clean;
  std::string out = verify(&clean);
  ASSERT_EQ(clean.problems, 0u) << out;

  auto flip = [](const std::string& path, uint64_t at) {
    std::string bytes;
    ASSERT_TRUE(ReadWholeFile(Env::Default(), path, &bytes).ok());
    bytes[at] ^= 0x40;
    ASSERT_TRUE(WriteFileAtomic(Env::Default(), path, bytes).ok());
  };
  const std::string ckpt = o.dir + "/" + format::kCheckpointFileName;
  const std::string flush = o.dir + "/" + format::kFlushFileName;
  uint64_t ckpt_size = std::filesystem::file_size(ckpt);
  flip(ckpt, ckpt_size - 9);  // in the index entries: the body's checksum fails
  flip(flush, 12);
  std::filesystem::remove(o.dir + "/" + format::SegmentFileName(2, 0));
  std::filesystem::remove(o.dir + "/" + format::SegmentFileName(3, 0));
  VerifyReport r;
  out = verify(&r);
  EXPECT_EQ(r.problems, 3u) << out;
  EXPECT_EQ(r.missing_segments, 2u) << out;
  EXPECT_NE(out.find(ckpt + ": offset " + std::to_string(ckpt_size - 4) + ": Corruption"),
            std::string::npos)
      << out;
  EXPECT_NE(out.find(flush + ": offset 0: Corruption"), std::string::npos) << out;
  EXPECT_NE(out.find(o.dir + "/seg-0000000002-*.dat .. seg-0000000003-*.dat: missing"),
            std::string::npos)
      << out;
}

}  // namespace
}  // namespace bale
