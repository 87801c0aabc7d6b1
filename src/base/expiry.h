// Expiry times as memcached defines them, turned into the absolute unix seconds that
// needles store (0 = never). In base/ so that the faces (memcached exptimes, HTTP
// X-Bale-Expires) and the store (what is live) share it.
//
// exptime 0 never expires; a negative exptime is already expired; up to 30 days
// (2592000 s) it is relative to now; beyond that it is an absolute unix time, already
// expired if not in the future.
#pragma once

#include <cstdint>

namespace bale {

inline constexpr int64_t kMaxRelativeExptime = 60 * 60 * 24 * 30;

inline uint32_t ExpiryFromMemcached(int64_t exptime, uint32_t now) {
  if (exptime == 0) return 0;
  if (exptime < 0) return 1;  // in the past: expired at once
  int64_t at = exptime <= kMaxRelativeExptime ? int64_t{now} + exptime : exptime;
  if (at <= 0) return 1;
  return at > int64_t{UINT32_MAX} ? UINT32_MAX : static_cast<uint32_t>(at);
}

inline bool IsExpired(uint32_t expiry, uint32_t now) { return expiry != 0 && expiry <= now; }

}  // namespace bale
