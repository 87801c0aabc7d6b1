// Shared pieces of bale's benchmarks: arguments, keys and values, timing, RSS, and the
// `name=value` output format that bench/run_engine.sh parses.
#pragma once

#include <chrono>
#include <cstdint>
#include <string>
#include <string_view>

#include "store/volume.h"

namespace bale::bench {

struct BenchArgs {
  uint64_t objects = 1000000;
  uint64_t value_size = 100;
  uint64_t gets = 0;  // random gets to time; 0 = min(objects, 2,000,000)
  std::string dir;
  Durability durability = Durability::kInterval;
  uint32_t interval_ms = 1000;
  int threads = 1;    // writer and reader threads
  bool keep = false;  // keep the data directory afterwards
};

// The key of object i: "obj:" and 12 decimal digits (16 bytes).
std::string KeyOf(uint64_t i);
// A deterministic value of `size` bytes for object i (its first bytes encode i).
void ValueOf(uint64_t i, uint64_t size, std::string* out);
// Resident set size of this process in bytes (from /proc/self/statm).
uint64_t RssBytes();
// The anonymous part of it (RssAnon in /proc/self/status): memory the process owns, as
// opposed to page-cache pages of files it has mapped.
uint64_t RssAnonBytes();
// Bytes the files under `dir` occupy on disk (allocated blocks), recursively.
uint64_t DiskBytes(const std::string& dir);
void RemoveTree(const std::string& dir);
// Prints "name=value" on its own line.
void Report(std::string_view name, double value);

class Stopwatch {
 public:
  Stopwatch() : start_(std::chrono::steady_clock::now()) {}
  double Seconds() const {
    return std::chrono::duration<double>(std::chrono::steady_clock::now() - start_).count();
  }

 private:
  std::chrono::steady_clock::time_point start_;
};

// `bale bench engine`: bale's volume. Returns a process exit code.
int RunEngineBench(const BenchArgs& args);
// `bale bench files`: the one-file-per-object baseline (bench/file_per_object.cc).
int RunFilePerObjectBench(const BenchArgs& args);

}  // namespace bale::bench
