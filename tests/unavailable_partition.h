// A partition that cannot answer, for tests of what the faces answer then: its FLUSH
// marker damaged (a read there could show flushed objects: the store answers
// Unavailable instead). OpenWithPartitionOneUnavailable: a store of two partitions,
// partition 1 so.
#pragma once

#include <gtest/gtest.h>

#include <memory>
#include <string>

#include "base/env.h"
#include "format/volume_meta.h"
#include "store/store.h"

namespace bale::testing {

// Damages the FLUSH marker of the partition in `partition_dir` (its byte `at` flipped),
// as earlier builds wrote it: the partition opens unavailable.
inline void DamageFlushMarker(const std::string& partition_dir, size_t at = 0) {
  const std::string flush = partition_dir + "/FLUSH";
  ASSERT_TRUE(
      WriteFileAtomic(Env::Default(), flush, format::EncodeFlushMarker(format::FlushMarker{}))
          .ok());
  std::string bytes;
  ASSERT_TRUE(ReadWholeFile(Env::Default(), flush, &bytes).ok());
  bytes[at] ^= 1;
  ASSERT_TRUE(WriteFileAtomic(Env::Default(), flush, bytes).ok());
}

// Opens the store in `dir` with *a in partition 0 and *b in partition 1, each stored as
// "v-<key>" before partition 1's marker was damaged.
inline void OpenWithPartitionOneUnavailable(const std::string& dir, std::unique_ptr<Store>* store,
                                            std::string* a, std::string* b) {
  StoreOptions o;
  o.dir = dir;
  o.partitions = 2;
  o.volume.durability = Durability::kNone;
  ASSERT_TRUE(Store::Open(o, store).ok());
  a->clear();
  b->clear();
  for (int i = 0; a->empty() || b->empty(); i++) {
    std::string k = "k" + std::to_string(i);
    *((*store)->PartitionOf(k) == 0 ? a : b) = k;
  }
  for (const std::string* k : {a, b}) {
    WriteOp op;
    op.key = *k;
    std::string value = "v-" + *k;  // op.value is a view: the string must outlive the Put
    op.value = value;
    ASSERT_TRUE((*store)->VolumeFor(*k)->Put(op).ok());
  }
  ASSERT_TRUE((*store)->Close().ok());
  store->reset();
  ASSERT_NO_FATAL_FAILURE(DamageFlushMarker(dir + "/p-00001"));
  ASSERT_TRUE(Store::Open(o, store).ok());
}

}  // namespace bale::testing
