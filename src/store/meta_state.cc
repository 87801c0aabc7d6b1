#include "store/meta_state.h"

namespace bale {

MetaState::MetaState()
    : stripes_(std::make_unique<Stripe[]>(kStripes)),
      access_(std::make_unique<std::atomic<uint64_t>[]>(kAccessSlots)) {}

bool MetaState::TokenSent(uint64_t key_hash, uint64_t version) {
  Stripe& s = stripes_[key_hash % kStripes];
  std::lock_guard<std::mutex> l(s.mu);
  const Token& t = SlotLocked(s, key_hash);
  return t.key_hash == key_hash && t.version == version;
}

bool MetaState::ClaimToken(uint64_t key_hash, uint64_t version) {
  Stripe& s = stripes_[key_hash % kStripes];
  std::lock_guard<std::mutex> l(s.mu);
  Token& t = SlotLocked(s, key_hash);
  if (t.key_hash == key_hash && t.version == version) return false;
  t = Token{key_hash, version};
  return true;
}

uint32_t MetaState::AccessTag(uint64_t key_hash, uint64_t version) {
  uint64_t x = key_hash ^ (version * 0x9E3779B97F4A7C15ull);
  uint32_t tag = static_cast<uint32_t>(x >> 32);
  return tag == 0 ? 1 : tag;
}

MetaState::Access MetaState::Fetch(uint64_t key_hash, uint64_t version, uint32_t written,
                                   uint32_t now, bool record) {
  std::atomic<uint64_t>& slot = access_[key_hash % kAccessSlots];
  uint64_t tag = AccessTag(key_hash, version);
  uint64_t e = slot.load(std::memory_order_relaxed);
  // Times are kept in 31 bits: only differences modulo 2^31 are reported.
  constexpr uint32_t kMask = 0x7FFFFFFF;
  Access before{false, now > written ? now - written : 0};
  uint32_t last = written & kMask;
  if ((e >> 32) == tag) {
    before.fetched = (e & 1) != 0;
    last = static_cast<uint32_t>(e) >> 1;
    before.idle_s = (now - last) & kMask;
  }
  if (record) {
    // As memcached's bump: the first fetch marks the object fetched, later ones move
    // its access time on.
    if (before.fetched) last = now & kMask;
    uint64_t next = (tag << 32) | (uint64_t{last} << 1) | 1;
    if (next != e) slot.store(next, std::memory_order_relaxed);
  }
  return before;
}

}  // namespace bale
