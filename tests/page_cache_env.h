// PageCacheEnv: an Env that can forget what was written but not flushed, as a machine
// that loses power loses its page cache.
//
// Every write, and every cut of a file (Truncate), remembers what it replaced, per file
// path, until that file is synced (File::Sync, fdatasync). LosePageCache() puts back
// every file as it was at its last sync: the bytes it replaced are written back in
// reverse order and the file is cut to its synced size. Then the Env is frozen: every
// later call that would change a file fails with EIO and changes nothing, so the code
// under test (its destructors included) cannot write after the "power loss". Reads
// keep working.
//
// Simplifications: directory operations (create, rename, remove) count as durable at
// once, and a file that existed before its first write counts as synced at its size
// then. Thread-safe (one mutex around every write and its record).
#pragma once

#include <atomic>
#include <map>
#include <mutex>
#include <string>
#include <vector>

#include "base/env.h"

namespace bale::testing {

class PageCacheEnv final : public Env {
 public:
  // Puts every file back as of its last sync, then freezes the Env. Returns the number
  // of files that lost something.
  size_t LosePageCache() {
    std::lock_guard<std::mutex> l(mu_);
    size_t lost = 0;
    for (auto& [path, state] : unsynced_) {
      if (state.undo.empty()) continue;
      std::unique_ptr<File> f;
      if (!base_->Open(path, OpenMode::kReadWrite, &f).ok()) continue;  // removed since
      for (auto it = state.undo.rbegin(); it != state.undo.rend(); ++it) {
        (void)f->PWrite(it->offset, it->old_bytes);
      }
      (void)f->Truncate(state.synced_size);
      (void)f->Sync();
      lost++;
    }
    unsynced_.clear();
    frozen_ = true;
    return lost;
  }
  bool frozen() const { return frozen_; }

  Status Open(const std::string& path, OpenMode mode, std::unique_ptr<File>* out) override {
    if (frozen_ && mode != OpenMode::kRead) return Frozen();
    std::unique_ptr<File> f;
    BALE_RETURN_IF_ERROR(base_->Open(path, mode, &f));
    if (mode == OpenMode::kCreate) {
      std::lock_guard<std::mutex> l(mu_);
      unsynced_[path] = Unsynced{};  // created empty: synced at size 0
    }
    *out = std::make_unique<TrackedFile>(this, path, std::move(f));
    return Status::OK();
  }
  Status Rename(const std::string& a, const std::string& b) override {
    if (frozen_) return Frozen();
    std::lock_guard<std::mutex> l(mu_);
    auto it = unsynced_.find(a);
    if (it != unsynced_.end()) {
      unsynced_[b] = std::move(it->second);
      unsynced_.erase(it);
    } else {
      unsynced_.erase(b);
    }
    return base_->Rename(a, b);
  }
  Status Remove(const std::string& p) override {
    if (frozen_) return Frozen();
    std::lock_guard<std::mutex> l(mu_);
    unsynced_.erase(p);
    return base_->Remove(p);
  }
  Status CreateDir(const std::string& p) override {
    if (frozen_) return Frozen();
    return base_->CreateDir(p);
  }
  Status SyncDir(const std::string& p) override {
    if (frozen_) return Frozen();
    return base_->SyncDir(p);
  }
  Status ListDir(const std::string& p, std::vector<std::string>* n) override {
    return base_->ListDir(p, n);
  }
  bool Exists(const std::string& p) override { return base_->Exists(p); }

 private:
  struct Undo {
    uint64_t offset;
    std::string old_bytes;
  };
  struct Unsynced {
    uint64_t synced_size = 0;
    std::vector<Undo> undo;
  };
  static Status Frozen() { return Status::IOError("the machine lost power (PageCacheEnv)"); }

  // Before a change of [offset, offset + n) of `f`: remembers the bytes there (up to
  // the file's end). Under mu_.
  void RememberLocked(const std::string& path, File* f, uint64_t offset, uint64_t n) {
    uint64_t size = 0;
    (void)f->Size(&size);
    auto [it, fresh] = unsynced_.try_emplace(path);
    if (fresh) it->second.synced_size = size;  // existed before: durable as it is
    Undo u{offset, {}};
    if (offset < size) {
      u.old_bytes.resize(std::min<uint64_t>(n, size - offset));
      size_t got = 0;
      (void)f->PRead(offset, u.old_bytes.size(), u.old_bytes.data(), &got);
      u.old_bytes.resize(got);
    }
    it->second.undo.push_back(std::move(u));
  }

  class TrackedFile final : public File {
   public:
    TrackedFile(PageCacheEnv* env, std::string path, std::unique_ptr<File> f)
        : env_(env), path_(std::move(path)), f_(std::move(f)) {}
    Status PRead(uint64_t o, size_t n, char* b, size_t* got) override {
      return f_->PRead(o, n, b, got);
    }
    Status PWrite(uint64_t o, std::string_view d) override {
      std::lock_guard<std::mutex> l(env_->mu_);
      if (env_->frozen_) return Frozen();
      env_->RememberLocked(path_, f_.get(), o, d.size());
      return f_->PWrite(o, d);
    }
    Status PWritev(uint64_t o, std::span<const std::string_view> pieces) override {
      std::lock_guard<std::mutex> l(env_->mu_);
      if (env_->frozen_) return Frozen();
      uint64_t n = 0;
      for (std::string_view p : pieces) n += p.size();
      env_->RememberLocked(path_, f_.get(), o, n);
      return f_->PWritev(o, pieces);
    }
    Status Sync() override {
      std::lock_guard<std::mutex> l(env_->mu_);
      if (env_->frozen_) return Frozen();
      BALE_RETURN_IF_ERROR(f_->Sync());
      uint64_t size = 0;
      BALE_RETURN_IF_ERROR(f_->Size(&size));
      env_->unsynced_[path_] = Unsynced{size, {}};
      return Status::OK();
    }
    Status Truncate(uint64_t s) override {
      std::lock_guard<std::mutex> l(env_->mu_);
      if (env_->frozen_) return Frozen();
      uint64_t size = 0;
      BALE_RETURN_IF_ERROR(f_->Size(&size));
      if (s < size) env_->RememberLocked(path_, f_.get(), s, size - s);
      return f_->Truncate(s);
    }
    Status Size(uint64_t* s) override { return f_->Size(s); }
    Status Allocate(uint64_t size) override {
      if (env_->frozen_) return Frozen();
      return f_->Allocate(size);
    }

   private:
    PageCacheEnv* env_;
    std::string path_;
    std::unique_ptr<File> f_;
  };

  Env* base_ = Env::Default();
  std::mutex mu_;
  std::atomic<bool> frozen_{false};
  std::map<std::string, Unsynced> unsynced_;  // by path
};

}  // namespace bale::testing
