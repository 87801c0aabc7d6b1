#include "store/store.h"

#include <gtest/gtest.h>
#include <sys/wait.h>
#include <unistd.h>

#include <sstream>

#include "store/verify.h"
#include "test_util.h"

namespace bale {
namespace {

StoreOptions SmallStore(const std::string& dir) {
  StoreOptions o;
  o.dir = dir;
  o.partitions = 2;
  o.volume.durability = Durability::kNone;
  return o;
}

TEST(StoreLock, SecondOpenIsRefusedNamingTheDirectoryAndPid) {
  testing::TempDir tmp;
  std::unique_ptr<Store> first, second;
  ASSERT_TRUE(Store::Open(SmallStore(tmp.path()), &first).ok());
  Status s = Store::Open(SmallStore(tmp.path()), &second);
  ASSERT_TRUE(s.IsBusy()) << s.ToString();
  EXPECT_NE(s.message().find(tmp.path()), std::string_view::npos) << s.ToString();
  EXPECT_NE(s.message().find(std::to_string(::getpid())), std::string_view::npos) << s.ToString();
  EXPECT_EQ(second, nullptr);

  // verify is refused as well while the store is open, and allowed once it is closed.
  std::ostringstream out;
  VerifyReport r;
  EXPECT_TRUE(VerifyTree(Env::Default(), tmp.path(), out, &r).IsBusy());
  first.reset();
  EXPECT_TRUE(VerifyTree(Env::Default(), tmp.path(), out, &r).ok());
  ASSERT_TRUE(Store::Open(SmallStore(tmp.path()), &second).ok());
}

TEST(StoreLock, AnotherProcessIsRefusedWhileTheOwnerLives) {
  testing::TempDir tmp;
  std::unique_ptr<Store> owner;
  ASSERT_TRUE(Store::Open(SmallStore(tmp.path()), &owner).ok());
  pid_t child = ::fork();
  ASSERT_GE(child, 0);
  if (child == 0) {
    std::unique_ptr<Store> other;
    Status s = Store::Open(SmallStore(tmp.path()), &other);
    std::string pid = "process " + std::to_string(::getppid());
    ::_exit(s.IsBusy() && s.message().find(pid) != std::string_view::npos ? 0 : 1);
  }
  int status = 0;
  ASSERT_EQ(::waitpid(child, &status, 0), child);
  ASSERT_TRUE(WIFEXITED(status));
  EXPECT_EQ(WEXITSTATUS(status), 0) << "the child opened a store the parent owns";
}

}  // namespace
}  // namespace bale
