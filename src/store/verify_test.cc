#include "store/verify.h"

#include <gtest/gtest.h>

#include <sstream>

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

}  // namespace
}  // namespace bale
