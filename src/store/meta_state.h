// MetaState: what memcached keeps per item in memory only and bale keeps beside the
// index, bounded, so that the index stays ~10 bytes per object: the win token a meta
// get handed out (memcached's ITEM_TOKEN_SENT) and whether, and when, an object was
// last fetched (ITEM_FETCHED, it->time: meta flags h and l).
//
// Contract: entries are named by (key hash, object version), so a new version of an
// object (any write) starts with no token sent and no fetch, as memcached's new item
// does. Both tables are fixed-size and direct-mapped: a slot taken by another object
// forgets the older one, which then reads as "no token sent" / "not fetched, last
// accessed when written". Win tokens live in stripes under a mutex, so that of two
// concurrent claims of a present entry exactly one wins; access entries are relaxed
// atomics (approximate by design). Nothing here survives a restart. Thread-safe.
#pragma once

#include <array>
#include <atomic>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <mutex>

namespace bale {

class MetaState {
 public:
  MetaState();

  // Whether a win token was already handed out for this object version.
  bool TokenSent(uint64_t key_hash, uint64_t version);
  // Hands out the token: true if none was handed out before (the caller won).
  bool ClaimToken(uint64_t key_hash, uint64_t version);

  struct Access {
    bool fetched = false;  // fetched before
    uint32_t idle_s = 0;   // seconds since the last access (or since `written`)
  };
  // The object's access state before this access; when `record`, this access is
  // recorded (fetched, and the last access time moved on to `now`).
  Access Fetch(uint64_t key_hash, uint64_t version, uint32_t written, uint32_t now, bool record);

 private:
  static constexpr size_t kStripes = 16;
  static constexpr size_t kTokensPerStripe = 1024;
  static constexpr size_t kAccessSlots = size_t{1} << 16;
  struct Token {
    uint64_t key_hash = 0;
    uint64_t version = 0;  // 0: empty
  };
  struct Stripe {
    std::mutex mu;
    std::array<Token, kTokensPerStripe> tokens;
  };
  static uint32_t AccessTag(uint64_t key_hash, uint64_t version);
  Token& SlotLocked(Stripe& s, uint64_t key_hash) {
    return s.tokens[(key_hash >> 8) % kTokensPerStripe];
  }

  std::unique_ptr<Stripe[]> stripes_;
  // (tag << 32) | (last_access << 1) | fetched; 0: empty.
  std::unique_ptr<std::atomic<uint64_t>[]> access_;
};

}  // namespace bale
