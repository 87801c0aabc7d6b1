// Test helper: two volumes (a primary and its replica) answer the same for a key.
#pragma once

#include <gtest/gtest.h>

#include <string_view>

#include "store/volume.h"

namespace bale::testing {

// The same object, version, cookie, expiry, flags, mtime and content type, or the same
// miss.
inline void ExpectSameObject(Volume* a, Volume* b, std::string_view key) {
  ReadResult ra, rb;
  Status sa = a->Get(key, &ra), sb = b->Get(key, &rb);
  ASSERT_EQ(sa.ToString(), sb.ToString()) << key;
  if (!sa.ok()) return;
  EXPECT_EQ(ra.value(), rb.value()) << key;
  EXPECT_EQ(ra.content_type(), rb.content_type()) << key;
  EXPECT_EQ(ra.header().version, rb.header().version) << key;
  EXPECT_EQ(ra.header().cookie, rb.header().cookie) << key;
  EXPECT_EQ(ra.header().expiry, rb.header().expiry) << key;
  EXPECT_EQ(ra.header().flags, rb.header().flags) << key;
  EXPECT_EQ(ra.header().mtime, rb.header().mtime) << key;
}

}  // namespace bale::testing
