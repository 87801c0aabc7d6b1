// LoadConfig: what `bale bench load` is asked to do, parsed from its flags.
//
// Contract: ParseLoadFlags turns the flags as typed (LoadFlags) into a LoadConfig or
// returns InvalidArgument naming the flag and what is wrong; it never throws and never
// exits. The parts (--servers, --protocol, durations, --value-size, --mix, --key-dist)
// have parsers of their own, each with the same contract. Forms:
//   --servers     HOST:PORT[,HOST:PORT...]
//   durations     "10s", "1.5s", "500ms", "2m", "1h"; a bare number is seconds
//   --value-size  "100", "4k", "1m" (powers of 1024), or "uniform:MIN-MAX" of those;
//                 every size at least kMinValueSize (the value's check and serial)
//   --mix         "get:90,set:10": weights, not necessarily summing to 100
//   --key-dist    "uniform", "zipf" (exponent 0.99) or "zipf:S" with S > 0
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "base/status.h"
#include "loadgen/key_chooser.h"
#include "loadgen/rng.h"
#include "loadgen/wire.h"

namespace bale::loadgen {

struct ServerAddress {
  std::string host;
  uint16_t port = 0;
  std::string ToString() const { return host + ":" + std::to_string(port); }
};

struct ValueSizeDist {
  uint64_t min = 100;
  uint64_t max = 100;
  uint64_t Next(Rng& rng) const { return min == max ? min : min + rng.Below(max - min + 1); }
};

struct OpMix {
  uint32_t get = 90;
  uint32_t set = 10;
  Op Next(Rng& rng) const { return rng.Below(uint64_t{get} + set) < get ? Op::kGet : Op::kSet; }
};

struct LoadConfig {
  std::vector<ServerAddress> servers;
  Protocol protocol = Protocol::kText;
  double rate = 0;  // requests per second over every connection; 0: flat out (closed loop)
  int connections = 4;
  int threads = 1;
  double duration_s = 10;
  double warmup_s = 0;
  ValueSizeDist value_size;
  OpMix mix;
  uint64_t keys = 10000;
  KeyDist key_dist;
  std::string key_prefix = "load:";
  bool prefill = false;
  int pipeline = 1;  // flat out: requests outstanding per connection
  bool json = false;
  double timeout_s = 5;
  uint64_t seed = 1;
};

// The flags as typed on the command line (src/cli wires them with CLI11).
struct LoadFlags {
  std::string servers = "127.0.0.1:11211";
  std::string protocol = "text";
  double rate = 0;
  int connections = 4;
  int threads = 1;
  std::string duration = "10s";
  std::string warmup = "0s";
  std::string value_size = "100";
  std::string mix = "get:90,set:10";
  uint64_t keys = 10000;
  std::string key_dist = "uniform";
  std::string key_prefix = "load:";
  bool prefill = false;
  int pipeline = 1;
  bool json = false;
  std::string timeout = "5s";
  uint64_t seed = 1;
};

[[nodiscard]] Status ParseLoadFlags(const LoadFlags& flags, LoadConfig* config);

[[nodiscard]] Status ParseServers(std::string_view s, std::vector<ServerAddress>* out);
[[nodiscard]] Status ParseProtocol(std::string_view s, Protocol* out);
[[nodiscard]] Status ParseDuration(std::string_view s, double* seconds);
[[nodiscard]] Status ParseValueSize(std::string_view s, ValueSizeDist* out);
[[nodiscard]] Status ParseMix(std::string_view s, OpMix* out);
[[nodiscard]] Status ParseKeyDist(std::string_view s, KeyDist* out);

// Names for reports: "uniform:16-4096" or "100"; "get:90,set:10"; "zipf:0.99".
std::string ValueSizeName(const ValueSizeDist& d);
std::string MixName(const OpMix& m);
std::string KeyDistName(const KeyDist& d);

}  // namespace bale::loadgen
