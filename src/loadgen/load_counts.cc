#include "loadgen/load_counts.h"

namespace bale::loadgen {

std::string_view ErrorKindName(ErrorKind k) {
  static constexpr std::string_view kNames[kErrorKinds] = {
      "connect", "timeout", "server_error", "client_error", "protocol", "verify", "closed"};
  return kNames[static_cast<int>(k)];
}

uint64_t Counts::ErrorTotal() const {
  uint64_t total = 0;
  for (uint64_t e : errors) total += e;
  return total;
}

void Counts::Add(const Counts& o) {
  gets += o.gets;
  sets += o.sets;
  answered += o.answered;
  hits += o.hits;
  verified += o.verified;
  misses += o.misses;
  stored += o.stored;
  for (int i = 0; i < kErrorKinds; ++i) errors[i] += o.errors[i];
  late_sends += o.late_sends;
}

}  // namespace bale::loadgen
