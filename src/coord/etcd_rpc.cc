#include "coord/etcd_rpc.h"

#include <string>

namespace bale::coord {

Status FromGrpc(const grpc::Status& s, std::string_view what) {
  if (s.ok()) return Status::OK();
  std::string msg = "etcd " + std::string(what) + ": " + s.error_message();
  switch (s.error_code()) {
    case grpc::StatusCode::UNAVAILABLE:
    case grpc::StatusCode::DEADLINE_EXCEEDED:
    case grpc::StatusCode::CANCELLED:
      return Status::Unavailable(msg);
    case grpc::StatusCode::NOT_FOUND:
      return Status::NotFound(msg);
    default:
      // v3election answers "election: no leader" with gRPC's UNKNOWN.
      if (s.error_message().find("no leader") != std::string::npos) return Status::NotFound(msg);
      return Status::IOError(msg);
  }
}

}  // namespace bale::coord
