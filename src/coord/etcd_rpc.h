// The gRPC side of the etcd client, shared by its .cc files only: the generated stubs,
// a watch's stream, and the mapping of gRPC's status to bale's (etcd_client.h's contract).
#pragma once

#include <grpcpp/grpcpp.h>

#include <memory>
#include <string_view>

#include "base/status.h"
#include "coord/etcd_watch.h"
#include "etcd/etcdserver/api/v3election/v3electionpb/v3election.grpc.pb.h"
#include "etcd/etcdserver/etcdserverpb/rpc.grpc.pb.h"

namespace bale::coord {

// UNAVAILABLE, DEADLINE_EXCEEDED, CANCELLED → Unavailable; NOT_FOUND and the election's
// "no leader" → NotFound; anything else → IOError. `what` names the call.
Status FromGrpc(const grpc::Status& s, std::string_view what);

struct EtcdWatch::Stream {
  explicit Stream(std::shared_ptr<grpc::Channel> channel)
      : stub(etcdserverpb::Watch::NewStub(channel)) {}
  std::unique_ptr<etcdserverpb::Watch::Stub> stub;
  grpc::ClientContext ctx;
  std::unique_ptr<grpc::ClientReaderWriter<etcdserverpb::WatchRequest, etcdserverpb::WatchResponse>>
      rw;
};

}  // namespace bale::coord
