// One SET or GET on a store node over a router's StoreConnection (router/store_client.h),
// for the tests of the internal link's security (store_auth_test.cc, store_tls_test.cc).
//
// Contract: `objects` names the key's partition; the call waits at most timeout_ms.
// CallSet: the node's answer, or kUnavailable when the call failed. CallGet: OK with
// the value, the call's error, or the node's error reply.
#pragma once

#include <gtest/gtest.h>

#include <cstdint>
#include <string>
#include <string_view>

#include "frontend/object_store.h"
#include "proto/internal_frame.h"
#include "router/store_client.h"

namespace bale::testing {

inline MutationStatus CallSet(router::StoreConnection* conn, const ObjectStore& objects,
                              uint64_t epoch, std::string_view key, std::string_view value,
                              int timeout_ms) {
  Mutation m;
  m.key = key;
  m.value = value;
  router::StoreCall call;
  call.conn = conn;
  proto::AppendMutate(&call.request, 0, epoch, objects.PartitionOf(key), m);
  if (!router::RunCall(call, timeout_ms).ok()) return MutationStatus::kUnavailable;
  MutationResult r;
  EXPECT_TRUE(proto::DecodeMutationResult(call.reply, &r));
  return r.status;
}

inline Status CallGet(router::StoreConnection* conn, const ObjectStore& objects, uint64_t epoch,
                      std::string_view key, std::string* value, int timeout_ms) {
  router::StoreCall call;
  call.conn = conn;
  proto::AppendGet(&call.request, 0, epoch, objects.PartitionOf(key),
                   proto::GetRequest::From(key, LookupOptions()));
  Status s = router::RunCall(call, timeout_ms);
  if (!s.ok()) return s;
  ObjectView v;
  if (!proto::DecodeValue(call.reply, &v)) return proto::ReplyStatus(call.reply);
  *value = std::string(v.value);
  return Status::OK();
}

}  // namespace bale::testing
