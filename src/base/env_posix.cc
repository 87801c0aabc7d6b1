// The POSIX implementation of Env.
#include <dirent.h>
#include <fcntl.h>
#include <sys/file.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <sys/uio.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>

#include "base/env.h"

namespace bale {
namespace {

class PosixFile final : public File {
 public:
  PosixFile(int fd, std::string path) : fd_(fd), path_(std::move(path)) {}
  ~PosixFile() override {
    if (map_ != nullptr) ::munmap(map_, map_len_);
    ::close(fd_);
  }

  int Descriptor() const override { return fd_; }
  void WillNeed(uint64_t offset, uint64_t n) override {
    if (map_ == nullptr || offset >= map_len_) return;
    uint64_t page = static_cast<uint64_t>(::sysconf(_SC_PAGESIZE));
    uint64_t start = offset & ~(page - 1);
    uint64_t end = std::min<uint64_t>(offset + n, map_len_);
    (void)::madvise(static_cast<char*>(map_) + start, end - start, MADV_WILLNEED);
  }
  const char* MapForRead(uint64_t length) override {
    if (map_ != nullptr) return length <= map_len_ ? static_cast<const char*>(map_) : nullptr;
    void* p = ::mmap(nullptr, length, PROT_READ, MAP_SHARED, fd_, 0);
    if (p == MAP_FAILED) return nullptr;
    // Reads are random and small (Haystack's pattern): no readahead, no fault-around.
    (void)::madvise(p, length, MADV_RANDOM);
    map_ = p;
    map_len_ = length;
    return static_cast<const char*>(map_);
  }

  Status PRead(uint64_t offset, size_t n, char* buf, size_t* got) override {
    size_t done = 0;
    while (done < n) {
      ssize_t r = ::pread(fd_, buf + done, n - done, static_cast<off_t>(offset + done));
      if (r < 0) {
        if (errno == EINTR) continue;
        return Status::FromErrno("pread " + path_, errno);
      }
      if (r == 0) break;
      done += static_cast<size_t>(r);
    }
    *got = done;
    return Status::OK();
  }

  Status PWrite(uint64_t offset, std::string_view data) override {
    size_t done = 0;
    while (done < data.size()) {
      ssize_t r =
          ::pwrite(fd_, data.data() + done, data.size() - done, static_cast<off_t>(offset + done));
      if (r < 0) {
        if (errno == EINTR) continue;
        return Status::FromErrno("pwrite " + path_, errno);
      }
      done += static_cast<size_t>(r);
    }
    return Status::OK();
  }

  Status PWritev(uint64_t offset, std::span<const std::string_view> pieces) override {
    constexpr size_t kMaxIov = 64;  // per call; well below IOV_MAX
    size_t i = 0, skip = 0;         // the first byte not yet written is pieces[i][skip]
    for (;;) {
      while (i < pieces.size() && skip == pieces[i].size()) {
        i++;
        skip = 0;
      }
      if (i == pieces.size()) return Status::OK();
      struct iovec iov[kMaxIov];
      int n = 0;
      for (size_t j = i; j < pieces.size() && n < static_cast<int>(kMaxIov); j++) {
        size_t from = j == i ? skip : 0;
        if (pieces[j].size() == from) continue;
        iov[n].iov_base = const_cast<char*>(pieces[j].data() + from);
        iov[n].iov_len = pieces[j].size() - from;
        n++;
      }
      ssize_t r = ::pwritev(fd_, iov, n, static_cast<off_t>(offset));
      if (r < 0) {
        if (errno == EINTR) continue;
        return Status::FromErrno("pwritev " + path_, errno);
      }
      if (r == 0) return Status::IOError("pwritev " + path_ + ": wrote nothing");
      offset += static_cast<uint64_t>(r);
      for (size_t left = static_cast<size_t>(r); left > 0;) {  // a short write: go on
        size_t step = std::min(left, pieces[i].size() - skip);
        skip += step;
        left -= step;
        if (skip == pieces[i].size()) {
          i++;
          skip = 0;
        }
      }
    }
  }

  Status Sync() override {
    if (::fdatasync(fd_) != 0) return Status::FromErrno("fdatasync " + path_, errno);
    return Status::OK();
  }

  Status Allocate(uint64_t size) override {
    int err = ::posix_fallocate(fd_, 0, static_cast<off_t>(size));
    if (err != 0) return Status::FromErrno("fallocate " + path_, err);
    return Status::OK();
  }

  Status Truncate(uint64_t size) override {
    if (::ftruncate(fd_, static_cast<off_t>(size)) != 0) {
      return Status::FromErrno("ftruncate " + path_, errno);
    }
    return Status::OK();
  }

  Status Size(uint64_t* size) override {
    struct stat st;
    if (::fstat(fd_, &st) != 0) return Status::FromErrno("fstat " + path_, errno);
    *size = static_cast<uint64_t>(st.st_size);
    return Status::OK();
  }

 private:
  int fd_;
  std::string path_;
  void* map_ = nullptr;
  size_t map_len_ = 0;
};

class PosixEnv final : public Env {
 public:
  Status Open(const std::string& path, OpenMode mode, std::unique_ptr<File>* out) override {
    int flags = O_CLOEXEC;
    switch (mode) {
      case OpenMode::kRead:
        flags |= O_RDONLY;
        break;
      case OpenMode::kReadWrite:
        flags |= O_RDWR;
        break;
      case OpenMode::kCreate:
        flags |= O_RDWR | O_CREAT | O_TRUNC;
        break;
    }
    int fd = ::open(path.c_str(), flags, 0644);
    if (fd < 0) {
      if (errno == ENOENT) return Status::NotFound(path);
      return Status::FromErrno("open " + path, errno);
    }
    *out = std::make_unique<PosixFile>(fd, path);
    return Status::OK();
  }

  Status FreeBytes(const std::string& path, uint64_t* bytes) override {
    struct statvfs fs;
    if (::statvfs(path.c_str(), &fs) != 0) return Status::FromErrno("statvfs " + path, errno);
    *bytes = static_cast<uint64_t>(fs.f_bavail) * fs.f_frsize;
    return Status::OK();
  }

  Status Rename(const std::string& from, const std::string& to) override {
    if (::rename(from.c_str(), to.c_str()) != 0) return Status::FromErrno("rename " + from, errno);
    return Status::OK();
  }

  Status Remove(const std::string& path) override {
    if (::unlink(path.c_str()) != 0 && errno != ENOENT) {
      return Status::FromErrno("unlink " + path, errno);
    }
    return Status::OK();
  }

  Status CreateDir(const std::string& path) override {
    if (::mkdir(path.c_str(), 0755) == 0 || errno == EEXIST) return Status::OK();
    if (errno != ENOENT) return Status::FromErrno("mkdir " + path, errno);
    auto slash = path.find_last_of('/');
    if (slash == std::string::npos || slash == 0) return Status::FromErrno("mkdir " + path, ENOENT);
    BALE_RETURN_IF_ERROR(CreateDir(path.substr(0, slash)));  // parents first, as mkdir -p
    if (::mkdir(path.c_str(), 0755) != 0 && errno != EEXIST) {
      return Status::FromErrno("mkdir " + path, errno);
    }
    return Status::OK();
  }

  Status SyncDir(const std::string& path) override {
    int fd = ::open(path.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0) return Status::FromErrno("open dir " + path, errno);
    int rc = ::fsync(fd);
    int err = errno;
    ::close(fd);
    if (rc != 0) return Status::FromErrno("fsync dir " + path, err);
    return Status::OK();
  }

  Status ListDir(const std::string& path, std::vector<std::string>* names) override {
    names->clear();
    DIR* d = ::opendir(path.c_str());
    if (d == nullptr) {
      if (errno == ENOENT) return Status::NotFound(path);
      return Status::FromErrno("opendir " + path, errno);
    }
    while (struct dirent* e = ::readdir(d)) {
      std::string_view n(e->d_name);
      if (n != "." && n != "..") names->emplace_back(n);
    }
    ::closedir(d);
    return Status::OK();
  }

  bool Exists(const std::string& path) override { return ::access(path.c_str(), F_OK) == 0; }
};

class PosixFileLock final : public FileLock {
 public:
  explicit PosixFileLock(int fd) : fd_(fd) {}
  ~PosixFileLock() override { ::close(fd_); }  // closing the descriptor releases it

 private:
  int fd_;
};

}  // namespace

Status Env::LockFile(const std::string& path, std::unique_ptr<FileLock>* out) {
  int fd = ::open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644);
  if (fd < 0) return Status::FromErrno("open " + path, errno);
  if (::flock(fd, LOCK_EX | LOCK_NB) != 0) {
    int err = errno;
    char buf[32] = {};
    ssize_t n = ::pread(fd, buf, sizeof(buf) - 1, 0);
    ::close(fd);
    if (err != EWOULDBLOCK) return Status::FromErrno("lock " + path, err);
    std::string pid(buf, n > 0 ? static_cast<size_t>(n) : 0);
    while (!pid.empty() && (pid.back() == '\n' || pid.back() == ' ' || pid.back() == '\0')) {
      pid.pop_back();
    }
    return Status::Busy(path + " is locked by process " + (pid.empty() ? "(unknown pid)" : pid));
  }
  // The pid, padded to a fixed width and written over the old one without truncating:
  // the file's block is reused, so a full disk does not stop a restart. The lock is what
  // excludes; a pid that cannot be written only makes a refusal's message poorer.
  char pid[24];
  int n = std::snprintf(pid, sizeof(pid), "%-20d\n", static_cast<int>(::getpid()));
  (void)!::pwrite(fd, pid, static_cast<size_t>(n), 0);
  *out = std::make_unique<PosixFileLock>(fd);
  return Status::OK();
}

Env* Env::Default() {
  static PosixEnv env;
  return &env;
}

Status WriteFileAtomic(Env* env, const std::string& path, std::string_view data) {
  std::string tmp = path + ".tmp";
  std::unique_ptr<File> f;
  BALE_RETURN_IF_ERROR(env->Open(tmp, OpenMode::kCreate, &f));
  Status s = f->PWrite(0, data);
  if (s.ok()) s = f->Sync();
  f.reset();
  if (s.ok()) s = env->Rename(tmp, path);
  if (!s.ok()) {
    (void)env->Remove(tmp);
    return s;
  }
  std::string dir = ".";
  if (auto slash = path.rfind('/'); slash != std::string::npos) dir = path.substr(0, slash);
  return env->SyncDir(dir);
}

Status ReadWholeFile(Env* env, const std::string& path, std::string* out) {
  std::unique_ptr<File> f;
  BALE_RETURN_IF_ERROR(env->Open(path, OpenMode::kRead, &f));
  uint64_t size = 0;
  BALE_RETURN_IF_ERROR(f->Size(&size));
  out->resize(size);
  size_t got = 0;
  BALE_RETURN_IF_ERROR(f->PRead(0, size, out->data(), &got));
  out->resize(got);
  return Status::OK();
}

}  // namespace bale
