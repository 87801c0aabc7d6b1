// NeedleIndex: key -> location of the key's newest needle, in ~10 bytes per object.
//
// Contract: the index does not hold keys. It maps a 32-bit tag (upper bits of the key's
// hash) to locations; several entries may share a tag, and callers confirm a
// candidate by comparing the key stored in the needle on disk. An entry is identified
// by (tag, location), which is unique because a location holds one needle.
//
// Layout: one open-addressing table of format::IndexEntry with Robin Hood linear
// probing and backward-shift deletion; the home slot of a tag is (tag * capacity) >>
// 32, so capacity need not be a power of two and grows by 1.25x at 90% load, keeping
// the table between 72% and 90% full. The table lives in anonymous mmap memory, so its
// RSS is exactly what it touches and a shrink returns memory to the OS.
//
// Not thread-safe: the owning Volume serializes writers and excludes them from readers.
#pragma once

#include <cstddef>
#include <cstdint>

#include "format/index_entry.h"

namespace bale {

struct Location {
  uint16_t slot = 0;          // segment slot in the volume
  uint32_t offset_units = 0;  // offset / format::kNeedleAlign
  bool operator==(const Location&) const = default;
};

class NeedleIndex {
 public:
  NeedleIndex() = default;
  ~NeedleIndex();
  NeedleIndex(const NeedleIndex&) = delete;
  NeedleIndex& operator=(const NeedleIndex&) = delete;

  // Calls fn(Location) for each entry with `tag` until fn returns true.
  template <typename Fn>
  void ForEachCandidate(uint32_t tag, Fn&& fn) const;

  void Insert(uint32_t tag, Location loc);
  // Moves the entry (tag, from) to `to`; false if there is no such entry.
  bool Replace(uint32_t tag, Location from, Location to);
  // Removes the entry (tag, loc); false if there is no such entry.
  bool Erase(uint32_t tag, Location loc);
  bool Contains(uint32_t tag, Location loc) const { return Find(tag, loc) != kNone; }

  size_t size() const { return size_; }
  size_t capacity() const { return capacity_; }
  size_t MemoryBytes() const { return mapped_bytes_; }

  // Raw table access for checkpoints.
  const format::IndexEntry* table() const { return table_; }
  // Makes an empty table of `capacity` slots for LoadRaw-style filling.
  format::IndexEntry* ResetForLoad(size_t capacity, size_t size);
  void Clear();

 private:
  static constexpr size_t kNone = ~size_t{0};
  static constexpr size_t kMinCapacity = 1024;

  size_t Home(uint32_t tag) const { return (uint64_t{tag} * capacity_) >> 32; }
  size_t Distance(size_t pos, uint32_t tag) const {
    size_t home = Home(tag);
    return pos >= home ? pos - home : pos + capacity_ - home;
  }
  size_t Next(size_t pos) const { return pos + 1 == capacity_ ? 0 : pos + 1; }
  size_t Find(uint32_t tag, Location loc) const;
  void InsertNoGrow(format::IndexEntry e);
  void EraseAt(size_t pos);
  void Rehash(size_t new_capacity);

  format::IndexEntry* table_ = nullptr;
  size_t capacity_ = 0;
  size_t size_ = 0;
  size_t mapped_bytes_ = 0;
};

template <typename Fn>
void NeedleIndex::ForEachCandidate(uint32_t tag, Fn&& fn) const {
  if (capacity_ == 0) return;
  size_t pos = Home(tag);
  for (size_t dist = 0;; dist++) {
    const format::IndexEntry& e = table_[pos];
    if (e.empty() || Distance(pos, e.tag) < dist) return;
    if (e.tag == tag && fn(Location{static_cast<uint16_t>(e.slot_plus1 - 1), e.offset_units})) {
      return;
    }
    pos = Next(pos);
  }
}

}  // namespace bale
