// Values that carry their own check, so that every value read back can be verified.
//
// Layout of a value of n >= kMinValueSize bytes (little-endian):
//
//   +----------------+----------------+--------------------------------+
//   | check (8)      | serial (8)     | filler (n - 16)                |
//   +----------------+----------------+--------------------------------+
//   check = XXH3-64 of bytes [8, n) with XXH3-64(key) as its seed
//
// Contract: VerifyValue(key, v) is kOk only for a value MakeValue made for that key
// (up to a 2^-64 collision): a flipped byte, another key's value, or a value cut short
// or run long fails. The serial makes consecutive writes of a key differ; the filler
// is a window into a pool of random bytes that depends on it. Verification cannot tell an
// older write of the key from the newest: it catches wrong, torn and misplaced values,
// not lost updates.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

namespace bale::loadgen {

inline constexpr size_t kMinValueSize = 16;

enum class VerifyResult { kOk, kTooShort, kBadCheck };

class ValueMaker {
 public:
  // Makes values of up to max_size bytes; the filler's pool comes from `seed`.
  ValueMaker(size_t max_size, uint64_t seed);

  // Replaces *out with the value of `size` bytes (kMinValueSize <= size <= max_size)
  // numbered `serial` for `key`.
  void Make(std::string_view key, uint64_t serial, size_t size, std::string* out) const;

 private:
  std::string pool_;
};

[[nodiscard]] VerifyResult VerifyValue(std::string_view key, std::string_view value);

}  // namespace bale::loadgen
