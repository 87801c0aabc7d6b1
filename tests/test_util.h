// Test helpers: a scratch directory and an Env that injects faults.
#pragma once

#include <stdlib.h>

#include <atomic>
#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "base/env.h"

namespace bale::testing {

// Flips the bits `mask` of the byte at `offset` in the file at `path` (damage).
inline void XorByte(const std::string& path, uint64_t offset, uint8_t mask) {
  std::fstream f(path, std::ios::in | std::ios::out | std::ios::binary);
  f.seekg(static_cast<std::streamoff>(offset));
  char c = 0;
  f.read(&c, 1);
  c ^= static_cast<char>(mask);
  f.seekp(static_cast<std::streamoff>(offset));
  f.write(&c, 1);
}

// A fresh directory under $TMPDIR (or /tmp), removed when the object goes away. Its
// name is unique (mkdtemp), so tests running at once, from one build or several, never
// share one. Aborts, naming the directory, if it cannot be made.
class TempDir {
 public:
  TempDir() {
    const char* base = getenv("TMPDIR");
    std::string tmpl = std::string(base && *base ? base : "/tmp") + "/bale-test-XXXXXX";
    if (mkdtemp(tmpl.data()) == nullptr) {
      std::perror(("TempDir: mkdtemp " + tmpl).c_str());
      std::abort();
    }
    path_ = tmpl;
  }
  ~TempDir() {
    std::error_code ec;
    std::filesystem::remove_all(path_, ec);
  }
  const std::string& path() const { return path_; }
  std::string Sub(const std::string& name) const { return path_ + "/" + name; }

 private:
  std::string path_;
};

// Wraps the default Env. Knobs (all thread-safe):
// - write_budget: bytes that may still be written; a PWrite or PWritev that would go
//   past it writes the bytes that fit, then fails with ENOSPC (a short write on a full
//   disk). Negative = unlimited.
// - fail_sync: fdatasync fails with EIO.
// - sync_dir_failures: the next this many SyncDir calls fail with EIO (after a rename,
//   the point where WriteFileAtomic cannot tell whether the rename will last).
// - syncs: counts File::Sync calls.
// - pwrites, pwritevs: count File::PWrite and File::PWritev calls.
class FaultEnv final : public Env {
 public:
  std::atomic<int64_t> write_budget{-1};
  std::atomic<bool> fail_sync{false};
  std::atomic<int> sync_dir_failures{0};
  std::atomic<uint64_t> syncs{0};
  std::atomic<uint64_t> pwrites{0};
  std::atomic<uint64_t> pwritevs{0};

  Status Open(const std::string& path, OpenMode mode, std::unique_ptr<File>* out) override {
    std::unique_ptr<File> f;
    BALE_RETURN_IF_ERROR(base_->Open(path, mode, &f));
    *out = std::make_unique<FaultFile>(this, std::move(f));
    return Status::OK();
  }
  Status Rename(const std::string& a, const std::string& b) override { return base_->Rename(a, b); }
  Status Remove(const std::string& p) override { return base_->Remove(p); }
  Status CreateDir(const std::string& p) override { return base_->CreateDir(p); }
  Status SyncDir(const std::string& p) override {
    int n = sync_dir_failures.load();
    while (n > 0 && !sync_dir_failures.compare_exchange_weak(n, n - 1)) {
    }
    if (n > 0) return Status::FromErrno("fsync dir (injected)", EIO);
    return base_->SyncDir(p);
  }
  Status ListDir(const std::string& p, std::vector<std::string>* n) override {
    return base_->ListDir(p, n);
  }
  bool Exists(const std::string& p) override { return base_->Exists(p); }

 private:
  class FaultFile final : public File {
   public:
    FaultFile(FaultEnv* env, std::unique_ptr<File> f) : env_(env), f_(std::move(f)) {}
    Status PRead(uint64_t o, size_t n, char* b, size_t* got) override {
      return f_->PRead(o, n, b, got);
    }
    Status PWrite(uint64_t o, std::string_view d) override {
      env_->pwrites++;
      int64_t budget = env_->write_budget.load();
      if (budget >= 0 && static_cast<int64_t>(d.size()) > budget) {
        env_->write_budget = 0;
        if (budget > 0) (void)f_->PWrite(o, d.substr(0, budget));
        return Status::FromErrno("pwrite (injected)", ENOSPC);
      }
      if (budget >= 0) env_->write_budget -= static_cast<int64_t>(d.size());
      return f_->PWrite(o, d);
    }
    Status PWritev(uint64_t o, std::span<const std::string_view> pieces) override {
      env_->pwritevs++;
      size_t total = 0;
      for (std::string_view p : pieces) total += p.size();
      int64_t budget = env_->write_budget.load();
      if (budget >= 0 && static_cast<int64_t>(total) > budget) {
        env_->write_budget = 0;
        std::vector<std::string_view> fit;  // the first `budget` bytes of the pieces
        for (size_t left = static_cast<size_t>(budget), i = 0; left > 0; i++) {
          fit.push_back(pieces[i].substr(0, left));
          left -= fit.back().size();
        }
        if (!fit.empty()) (void)f_->PWritev(o, fit);
        return Status::FromErrno("pwritev (injected)", ENOSPC);
      }
      if (budget >= 0) env_->write_budget -= static_cast<int64_t>(total);
      return f_->PWritev(o, pieces);
    }
    Status Sync() override {
      env_->syncs++;
      if (env_->fail_sync) return Status::FromErrno("fdatasync (injected)", EIO);
      return f_->Sync();
    }
    Status Truncate(uint64_t s) override { return f_->Truncate(s); }
    Status Size(uint64_t* s) override { return f_->Size(s); }

   private:
    FaultEnv* env_;
    std::unique_ptr<File> f_;
  };

  Env* base_ = Env::Default();
};

}  // namespace bale::testing
