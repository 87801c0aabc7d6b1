// Crash test: a child process writes in kSync mode from several threads and reports
// each acknowledged write on a pipe; the parent SIGKILLs it after a random number of
// acknowledgements, reopens the volume and checks that every acknowledged write reads
// back exactly (or a later write of the same key does) and that no value is ever torn.
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdio>
#include <map>
#include <random>
#include <thread>

#include "base/checksum.h"
#include "store/volume.h"
#include "test_util.h"

namespace bale {
namespace {

constexpr int kThreads = 4;
constexpr int kKeysPerThread = 40;
constexpr int kKills = 24;

VolumeOptions CrashOptions(const std::string& dir) {
  VolumeOptions o;
  o.dir = dir;
  o.durability = Durability::kSync;
  o.segment_bytes = 256 << 10;    // seals happen during the run
  o.checkpoint_bytes = 96 << 10;  // so do checkpoints
  return o;
}

// The value written for (key, generation): self-describing and of varying length, so a
// torn or mixed value cannot pass for a whole one.
std::string ValueFor(const std::string& key, uint64_t gen) {
  std::string v = key + "|" + std::to_string(gen) + "|";
  size_t len = 20 + (HashKey(v) % 3000);
  uint64_t x = HashKey(v);
  while (v.size() < len) {
    x = x * 6364136223846793005ull + 1442695040888963407ull;
    v.push_back(static_cast<char>('A' + (x >> 59)));
  }
  return v;
}

[[noreturn]] void ChildWriter(const std::string& dir, int round, int ack_fd) {
  std::unique_ptr<Volume> v;
  if (!Volume::Open(CrashOptions(dir), &v).ok()) _exit(3);
  std::vector<std::thread> ts;
  for (int t = 0; t < kThreads; t++) {
    ts.emplace_back([&, t] {
      std::mt19937 rng(round * 100 + t);
      for (uint64_t n = 0;; n++) {
        std::string key = "t" + std::to_string(t) + "-" + std::to_string(rng() % kKeysPerThread);
        uint64_t gen = uint64_t(round) * 1000000 + n;
        std::string val = ValueFor(key, gen);
        WriteOp op;
        op.key = key;
        op.value = val;
        if (!v->Put(op).ok()) _exit(4);
        char line[128];
        int len = std::snprintf(line, sizeof(line), "%s %llu\n", key.c_str(),
                                static_cast<unsigned long long>(gen));
        if (write(ack_fd, line, len) != len) _exit(5);
      }
    });
  }
  for (auto& t : ts) t.join();
  _exit(0);
}

TEST(Crash, KillNineDuringSyncWritesLosesNothingAcknowledged) {
  testing::TempDir tmp;
  std::string dir = tmp.Sub("vol");
  std::map<std::string, uint64_t> acked;  // key -> highest acknowledged generation
  std::mt19937 rng(12345);
  for (int round = 1; round <= kKills; round++) {
    int fds[2];
    ASSERT_EQ(pipe(fds), 0);
    pid_t pid = fork();
    ASSERT_GE(pid, 0);
    if (pid == 0) {
      close(fds[0]);
      ChildWriter(dir, round, fds[1]);
    }
    close(fds[1]);
    FILE* acks = fdopen(fds[0], "r");
    int kill_after = 1 + static_cast<int>(rng() % 300);
    char key[64];
    unsigned long long gen;
    int seen = 0;
    while (std::fscanf(acks, "%63s %llu", key, &gen) == 2) {
      acked[key] = std::max<uint64_t>(acked[key], gen);
      if (++seen == kill_after) kill(pid, SIGKILL);
    }
    fclose(acks);  // the pipe is drained: every ack the child sent has been counted
    int status = 0;
    ASSERT_EQ(waitpid(pid, &status, 0), pid);
    ASSERT_TRUE(WIFSIGNALED(status)) << "child exited with " << WEXITSTATUS(status);

    std::unique_ptr<Volume> v;
    Status s = Volume::Open(CrashOptions(dir), &v);
    ASSERT_TRUE(s.ok()) << s.ToString();
    ReadResult r;
    for (int t = 0; t < kThreads; t++) {
      for (int k = 0; k < kKeysPerThread; k++) {
        std::string name = "t" + std::to_string(t) + "-" + std::to_string(k);
        Status gs = v->Get(name, &r);
        auto it = acked.find(name);
        if (gs.IsNotFound()) {
          ASSERT_TRUE(it == acked.end()) << "round " << round << ": lost " << name;
          continue;
        }
        ASSERT_TRUE(gs.ok()) << gs.ToString();
        std::string value(r.value());
        size_t bar = value.find('|', name.size() + 1);
        ASSERT_NE(bar, std::string::npos) << "torn value for " << name;
        uint64_t got = std::stoull(value.substr(name.size() + 1, bar - name.size() - 1));
        ASSERT_EQ(value, ValueFor(name, got)) << "torn or mixed value for " << name;
        if (it != acked.end()) {
          ASSERT_GE(got, it->second) << "round " << round << ": " << name << " went back";
        }
      }
    }
    EXPECT_EQ(v->Stats().corrupt_records, 0u);
  }
}

}  // namespace
}  // namespace bale
