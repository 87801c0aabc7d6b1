#include "bench/bench_util.h"

#include <sys/stat.h>
#include <unistd.h>

#include <cinttypes>
#include <cstdio>
#include <cstring>
#include <filesystem>

namespace bale::bench {

std::string KeyOf(uint64_t i) {
  char buf[32];
  std::snprintf(buf, sizeof(buf), "obj:%012" PRIu64, i);
  return buf;
}

void ValueOf(uint64_t i, uint64_t size, std::string* out) {
  out->resize(size);
  uint64_t x = i * 0x9E3779B97F4A7C15ull + 1;
  for (uint64_t k = 0; k < size; k++) {
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    (*out)[k] = static_cast<char>('a' + x % 26);
  }
  if (size >= 8) std::memcpy(out->data(), &i, 8);
}

uint64_t RssBytes() {
  FILE* f = std::fopen("/proc/self/statm", "r");
  if (f == nullptr) return 0;
  unsigned long long size = 0, resident = 0;
  int n = std::fscanf(f, "%llu %llu", &size, &resident);
  std::fclose(f);
  return n == 2 ? resident * static_cast<uint64_t>(::sysconf(_SC_PAGESIZE)) : 0;
}

uint64_t RssAnonBytes() {
  FILE* f = std::fopen("/proc/self/status", "r");
  if (f == nullptr) return 0;
  char line[256];
  unsigned long long kb = 0;
  while (std::fgets(line, sizeof(line), f) != nullptr) {
    if (std::sscanf(line, "RssAnon: %llu kB", &kb) == 1) break;
  }
  std::fclose(f);
  return kb * 1024;
}

uint64_t DiskBytes(const std::string& dir) {
  uint64_t total = 0;
  std::error_code ec;
  for (auto it = std::filesystem::recursive_directory_iterator(dir, ec);
       !ec && it != std::filesystem::recursive_directory_iterator(); it.increment(ec)) {
    struct stat st;
    if (::lstat(it->path().c_str(), &st) == 0 && S_ISREG(st.st_mode)) {
      total += static_cast<uint64_t>(st.st_blocks) * 512;
    }
  }
  return total;
}

void RemoveTree(const std::string& dir) {
  std::error_code ec;
  std::filesystem::remove_all(dir, ec);
}

void Report(std::string_view name, double value) {
  std::printf("%.*s=%.10g\n", static_cast<int>(name.size()), name.data(), value);
  std::fflush(stdout);
}

}  // namespace bale::bench
