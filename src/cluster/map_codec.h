// The cluster map's text form: how a ClusterMap is kept in etcd (key
// /bale/<cluster>/map) and shown by `bale admin ... --json`, and how a store node
// describes itself in its registration key (/bale/<cluster>/nodes/<id>).
//
//   {"epoch": 7, "partitions": 256,
//    "nodes": [{"id": "s1", "host": "127.0.0.1", "port": 7001, "zone": "a", "up": true}, ...],
//    "owners": [0, 2, 1, ..., -1]}        one per partition: an index into nodes, -1 = none
//
// Contract: DecodeMap(EncodeMap(m), self) gives back m as seen from `self`; bad JSON, a
// missing field or an inconsistent map is Corruption (never an exception); unknown fields
// are ignored, so a newer directory may add some.
#pragma once

#include <string>
#include <string_view>

#include "base/status.h"
#include "cluster/cluster_map.h"

namespace bale {

std::string EncodeMap(const ClusterMap& map);
[[nodiscard]] Status DecodeMap(std::string_view text, std::string_view self, ClusterMap* out);

// A node's registration: {"id":..., "host":..., "port":..., "zone":...} (`up` is not
// part of it: a registration exists only while the node's lease lives).
std::string EncodeNode(const ClusterNode& node);
[[nodiscard]] Status DecodeNode(std::string_view text, ClusterNode* out);

}  // namespace bale
