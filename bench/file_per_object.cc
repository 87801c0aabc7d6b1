// `bale bench files`: the baseline Haystack replaced, one file per object in a directory
// tree (the NAS design), written with the same durability as the engine bench and read
// back at random. Files live at dir/ab/cd/<key>, ab and cd being the top two bytes of the
// key's HashKey, so no directory holds more than objects / 65536 entries on average.
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <memory>
#include <mutex>
#include <random>
#include <thread>
#include <vector>

#include "base/checksum.h"
#include "bench/bench_util.h"

namespace bale::bench {
namespace {

// Prints "what path: <errno text>" on stderr and returns false.
bool Fail(const char* what, const std::string& path) {
  int err = errno;
  std::fprintf(stderr, "%s %s: %s\n", what, path.c_str(), std::strerror(err));
  return false;
}

// Runs fn(thread, begin, end) on `threads` threads over [0, n).
template <typename Fn>
void Split(int threads, uint64_t n, Fn fn) {
  std::vector<std::thread> ts;
  for (int t = 0; t < threads; t++) {
    uint64_t b = n * t / threads, e = n * (t + 1) / threads;
    ts.emplace_back([=] { fn(t, b, e); });
  }
  for (auto& t : ts) t.join();
}

// "/ab" for byte 0xab: one level of the directory tree.
std::string Level(unsigned byte) {
  char buf[4];
  std::snprintf(buf, sizeof(buf), "/%02x", byte & 0xff);
  return buf;
}

// The directory holding `key`'s file: root/ab/cd, from the top two bytes of its hash.
std::string DirOf(const std::string& root, std::string_view key) {
  uint64_t h = HashKey(key);
  return root + Level(static_cast<unsigned>(h >> 56)) + Level(static_cast<unsigned>(h >> 48));
}

// Creates root/00 .. root/ff/ff, the 256 x 256 directories DirOf() picks from, before the
// clock starts: a NAS has its tree already, and small runs would otherwise time mkdirs.
bool MakeTree(const BenchArgs& args) {
  std::atomic<bool> ok{true};
  Split(std::min(args.threads, 256), 256, [&](int, uint64_t b, uint64_t e) {
    for (unsigned hi = b; hi < e && ok; hi++) {
      std::string top = args.dir + Level(hi);
      if (::mkdir(top.c_str(), 0755) != 0) ok = Fail("mkdir", top);
      for (unsigned lo = 0; lo < 256 && ok; lo++) {
        std::string leaf = top + Level(lo);
        if (::mkdir(leaf.c_str(), 0755) != 0) ok = Fail("mkdir", leaf);
      }
    }
  });
  return ok;
}

// Writes all of `data`, retrying short writes and EINTR. Leaves errno set on failure.
bool WriteAll(int fd, std::string_view data) {
  while (!data.empty()) {
    ssize_t n = ::write(fd, data.data(), data.size());
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) {
      if (n == 0) errno = EIO;
      return false;
    }
    data.remove_prefix(static_cast<size_t>(n));
  }
  return true;
}

// Stores one object: create or truncate its file, write the value, fdatasync under kSync,
// close. The directory entry is not fsynced: the baseline gets the benefit of the doubt.
bool PutFile(const std::string& path, std::string_view value, bool sync) {
  int fd = ::open(path.c_str(), O_CREAT | O_WRONLY | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0) return Fail("open", path);
  bool ok = WriteAll(fd, value) || Fail("write", path);
  if (ok && sync && ::fdatasync(fd) != 0) ok = Fail("fdatasync", path);
  if (::close(fd) != 0 && ok) ok = Fail("close", path);
  return ok;
}

// kInterval: calls syncfs() on the file system holding the data every interval_ms until
// Stop(), which syncs once more, so every put is durable when Stop() returns.
class IntervalSyncer {
 public:
  IntervalSyncer(int dir_fd, const std::string& dir, uint32_t interval_ms)
      : fd_(dir_fd), dir_(dir), interval_(std::max<uint32_t>(interval_ms, 1)) {
    thread_ = std::thread([this] { Run(); });
  }
  ~IntervalSyncer() { Stop(); }

  // Returns false if any syncfs() failed (each failure is printed).
  bool Stop() {
    if (!thread_.joinable()) return ok_;
    {
      std::lock_guard<std::mutex> l(mu_);
      stop_ = true;
    }
    cv_.notify_all();
    thread_.join();
    SyncOnce();
    return ok_;
  }

 private:
  void Run() {
    std::unique_lock<std::mutex> l(mu_);
    while (!cv_.wait_for(l, interval_, [this] { return stop_; })) {
      l.unlock();
      SyncOnce();
      l.lock();
    }
  }

  void SyncOnce() {
    if (::syncfs(fd_) != 0) ok_ = Fail("syncfs", dir_);
  }

  const int fd_;
  const std::string dir_;
  const std::chrono::milliseconds interval_;
  std::mutex mu_;
  std::condition_variable cv_;
  bool stop_ = false;  // guarded by mu_
  std::atomic<bool> ok_{true};
  std::thread thread_;
};

// Writes objects [0, args.objects) on args.threads threads, each a contiguous slice.
bool WriteObjects(const BenchArgs& args) {
  std::atomic<bool> ok{true};
  bool sync = args.durability == Durability::kSync;
  Split(args.threads, args.objects, [&](int, uint64_t b, uint64_t e) {
    std::string value;
    for (uint64_t i = b; i < e && ok; i++) {
      std::string key = KeyOf(i);
      ValueOf(i, args.value_size, &value);
      if (!PutFile(DirOf(args.dir, key) + "/" + key, value, sync)) ok = false;
    }
  });
  return ok;
}

// Times the writers into *put_s. Under kInterval a syncer runs alongside them; its final
// syncfs comes after the clock stops, as the engine bench stops its clock before Close.
bool TimedPuts(const BenchArgs& args, double* put_s) {
  int dir_fd = ::open(args.dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (dir_fd < 0) return Fail("open", args.dir);
  std::unique_ptr<IntervalSyncer> syncer;
  if (args.durability == Durability::kInterval) {
    syncer = std::make_unique<IntervalSyncer>(dir_fd, args.dir, args.interval_ms);
  }
  Stopwatch put_time;
  bool ok = WriteObjects(args);
  *put_s = put_time.Seconds();
  if (syncer != nullptr && !syncer->Stop()) ok = false;
  ::close(dir_fd);
  return ok;
}

// Reads the whole file at `path` into *buf (grown as needed); *len gets its size.
bool ReadFile(const std::string& path, std::vector<char>* buf, size_t* len) {
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return Fail("open", path);
  bool ok = true;
  *len = 0;
  for (;;) {
    if (*len == buf->size()) buf->resize(std::max<size_t>(4096, buf->size() * 2));
    ssize_t n = ::read(fd, buf->data() + *len, buf->size() - *len);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) ok = Fail("read", path);
    if (n <= 0) break;
    *len += static_cast<size_t>(n);
  }
  ::close(fd);
  return ok;
}

// `gets` reads of keys drawn uniformly (the engine bench's seeds, so the same keys), each
// checked against ValueOf. Returns false on the first error or mismatch in any thread.
bool RandomGets(const BenchArgs& args, uint64_t gets) {
  std::atomic<uint64_t> bad{0};
  Split(args.threads, gets, [&](int t, uint64_t b, uint64_t e) {
    std::mt19937_64 rng(42 + t);
    std::vector<char> buf(args.value_size + 1);
    std::string want;
    for (uint64_t n = b; n < e && bad == 0; n++) {
      uint64_t i = rng() % args.objects;
      std::string key = KeyOf(i);
      std::string path = DirOf(args.dir, key) + "/" + key;
      size_t len = 0;
      if (!ReadFile(path, &buf, &len)) {
        bad++;
        continue;
      }
      ValueOf(i, args.value_size, &want);
      if (std::string_view(buf.data(), len) != want && bad++ == 0) {
        std::fprintf(stderr, "get %s: wrong bytes (%zu read, %zu expected)\n", path.c_str(), len,
                     want.size());
      }
    }
  });
  return bad == 0;
}

// The whole run, with the data directory already emptied; cleanup is the caller's.
int Run(const BenchArgs& args) {
  std::error_code ec;
  std::filesystem::create_directories(args.dir, ec);
  if (ec) {
    std::fprintf(stderr, "mkdir %s: %s\n", args.dir.c_str(), ec.message().c_str());
    return 1;
  }
  if (!MakeTree(args)) return 1;
  uint64_t gets = args.gets != 0 ? args.gets : std::min<uint64_t>(args.objects, 2000000);
  double put_s = 0;
  if (!TimedPuts(args, &put_s)) return 1;
  Stopwatch get_time;
  if (!RandomGets(args, gets)) return 1;
  double get_s = get_time.Seconds();

  Report("objects", static_cast<double>(args.objects));
  Report("value_size", static_cast<double>(args.value_size));
  Report("put_per_s", args.objects / put_s);
  Report("get_per_s", gets / get_s);
  Report("disk_bytes_per_object", static_cast<double>(DiskBytes(args.dir)) / args.objects);
  return 0;
}

}  // namespace

int RunFilePerObjectBench(const BenchArgs& args) {
  if (args.objects == 0 || args.threads < 1 || args.dir.empty()) {
    std::fprintf(stderr, "bench files: need --objects >= 1, --threads >= 1 and --dir\n");
    return 1;
  }
  RemoveTree(args.dir);
  int rc = Run(args);
  if (!args.keep) RemoveTree(args.dir);
  return rc;
}

}  // namespace bale::bench
