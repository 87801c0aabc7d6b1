#include "store/needle_index.h"

#include <sys/mman.h>

#include <cassert>
#include <cstdlib>
#include <utility>

namespace bale {
namespace {

using format::IndexEntry;

IndexEntry* MapTable(size_t capacity, size_t* mapped) {
  *mapped = capacity * sizeof(IndexEntry);
  void* p = ::mmap(nullptr, *mapped, PROT_READ | PROT_WRITE,
                   MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
  if (p == MAP_FAILED) std::abort();  // out of address space: nothing sane to do
  return static_cast<IndexEntry*>(p);
}

}  // namespace

NeedleIndex::~NeedleIndex() { Clear(); }

void NeedleIndex::Clear() {
  if (table_ != nullptr) ::munmap(table_, mapped_bytes_);
  table_ = nullptr;
  capacity_ = size_ = mapped_bytes_ = 0;
}

IndexEntry* NeedleIndex::ResetForLoad(size_t capacity, size_t size) {
  Clear();
  if (capacity == 0) return nullptr;
  table_ = MapTable(capacity, &mapped_bytes_);
  capacity_ = capacity;
  size_ = size;
  return table_;
}

size_t NeedleIndex::Find(uint32_t tag, Location loc) const {
  if (capacity_ == 0) return kNone;
  size_t pos = Home(tag);
  for (size_t dist = 0;; dist++) {
    const IndexEntry& e = table_[pos];
    if (e.empty() || Distance(pos, e.tag) < dist) return kNone;
    if (e.tag == tag && e.slot_plus1 == loc.slot + 1 && e.offset_units == loc.offset_units) {
      return pos;
    }
    pos = Next(pos);
  }
}

void NeedleIndex::Insert(uint32_t tag, Location loc) {
  assert(loc.slot < format::kMaxSegmentSlots);
  if ((size_ + 1) * 10 > capacity_ * 9) {
    size_t grown = capacity_ + capacity_ / 4;
    Rehash(grown < kMinCapacity ? kMinCapacity : grown);
  }
  InsertNoGrow(IndexEntry{tag, static_cast<uint16_t>(loc.slot + 1), loc.offset_units});
  size_++;
}

void NeedleIndex::InsertNoGrow(IndexEntry e) {
  size_t pos = Home(e.tag);
  size_t dist = 0;
  for (;;) {
    IndexEntry& cur = table_[pos];
    if (cur.empty()) {
      cur = e;
      return;
    }
    size_t cur_dist = Distance(pos, cur.tag);
    if (cur_dist < dist) {  // Robin Hood: the richer entry moves on
      std::swap(cur, e);
      dist = cur_dist;
    }
    pos = Next(pos);
    dist++;
  }
}

bool NeedleIndex::Replace(uint32_t tag, Location from, Location to) {
  size_t pos = Find(tag, from);
  if (pos == kNone) return false;
  table_[pos].slot_plus1 = static_cast<uint16_t>(to.slot + 1);
  table_[pos].offset_units = to.offset_units;
  return true;
}

bool NeedleIndex::Erase(uint32_t tag, Location loc) {
  size_t pos = Find(tag, loc);
  if (pos == kNone) return false;
  EraseAt(pos);
  size_--;
  return true;
}

void NeedleIndex::EraseAt(size_t pos) {
  size_t next = Next(pos);
  while (!table_[next].empty() && Distance(next, table_[next].tag) > 0) {
    table_[pos] = table_[next];
    pos = next;
    next = Next(next);
  }
  table_[pos] = IndexEntry{0, 0, 0};
}

void NeedleIndex::Rehash(size_t new_capacity) {
  IndexEntry* old = table_;
  size_t old_capacity = capacity_;
  size_t old_mapped = mapped_bytes_;
  table_ = MapTable(new_capacity, &mapped_bytes_);
  capacity_ = new_capacity;
  for (size_t i = 0; i < old_capacity; i++) {
    if (!old[i].empty()) InsertNoGrow(old[i]);
  }
  if (old != nullptr) ::munmap(old, old_mapped);
}

}  // namespace bale
