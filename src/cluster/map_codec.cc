#include "cluster/map_codec.h"

#include <nlohmann/json.hpp>

namespace bale {
namespace {

using nlohmann::json;

json NodeJson(const ClusterNode& n) {
  return json{{"id", n.id}, {"host", n.host}, {"port", n.port}, {"zone", n.zone}};
}

Status NodeFromJson(const json& j, ClusterNode* out) {
  if (!j.is_object() || !j.contains("id") || !j.contains("host") || !j.contains("port")) {
    return Status::Corruption("a node needs id, host and port");
  }
  if (!j["id"].is_string() || !j["host"].is_string() || !j["port"].is_number_unsigned()) {
    return Status::Corruption("a node's id and host are strings, its port a number");
  }
  uint64_t port = j["port"].get<uint64_t>();
  if (port == 0 || port > 65535) return Status::Corruption("a node's port must be 1..65535");
  ClusterNode n;
  n.id = j["id"].get<std::string>();
  n.host = j["host"].get<std::string>();
  n.port = static_cast<uint16_t>(port);
  if (n.id.empty()) return Status::Corruption("a node's id is empty");
  if (j.contains("zone") && j["zone"].is_string()) n.zone = j["zone"].get<std::string>();
  if (j.contains("up") && j["up"].is_boolean()) n.up = j["up"].get<bool>();
  *out = std::move(n);
  return Status::OK();
}

Status MapFromJson(const json& j, std::string_view self, ClusterMap* out) {
  if (!j.is_object()) return Status::Corruption("the map is not a JSON object");
  for (const char* field : {"epoch", "partitions", "nodes", "owners"}) {
    if (!j.contains(field)) return Status::Corruption(std::string("the map has no ") + field);
  }
  if (!j["epoch"].is_number_unsigned() || !j["partitions"].is_number_unsigned() ||
      !j["nodes"].is_array() || !j["owners"].is_array()) {
    return Status::Corruption("the map's epoch, partitions, nodes or owners has the wrong type");
  }
  uint64_t partitions = j["partitions"].get<uint64_t>();
  if (partitions == 0 || partitions > ClusterMap::kMaxPartitions) {
    return Status::Corruption("the map's partition count is out of range");
  }
  std::vector<ClusterNode> nodes;
  for (const json& jn : j["nodes"]) {
    ClusterNode n;
    Status s = NodeFromJson(jn, &n);
    if (!s.ok()) return s;
    nodes.push_back(std::move(n));
  }
  std::vector<uint32_t> owners;
  for (const json& o : j["owners"]) {
    if (!o.is_number_integer()) return Status::Corruption("an owner is not a number");
    int64_t v = o.get<int64_t>();
    if (v < -1 || v >= static_cast<int64_t>(nodes.size())) {
      return Status::Corruption("an owner is not one of the map's nodes");
    }
    owners.push_back(v < 0 ? ClusterMap::kNoOwner : static_cast<uint32_t>(v));
  }
  Status s = ClusterMap::Assigned(static_cast<uint32_t>(partitions), j["epoch"].get<uint64_t>(),
                                  std::move(nodes), std::move(owners), self, out);
  if (!s.ok()) return Status::Corruption(s.message());
  return Status::OK();
}

}  // namespace

std::string EncodeMap(const ClusterMap& map) {
  json nodes = json::array();
  for (const ClusterNode& n : map.nodes()) {
    json jn = NodeJson(n);
    jn["up"] = n.up;
    nodes.push_back(std::move(jn));
  }
  json owners = json::array();
  for (uint32_t o : map.owners()) {
    owners.push_back(o == ClusterMap::kNoOwner ? int64_t{-1} : int64_t{o});
  }
  json j{{"epoch", map.epoch()},
         {"partitions", map.partition_count()},
         {"nodes", std::move(nodes)},
         {"owners", std::move(owners)}};
  return j.dump();
}

Status DecodeMap(std::string_view text, std::string_view self, ClusterMap* out) {
  json j = json::parse(text, nullptr, /*allow_exceptions=*/false);
  if (j.is_discarded()) return Status::Corruption("the map is not valid JSON");
  return MapFromJson(j, self, out);
}

std::string EncodeNode(const ClusterNode& node) { return NodeJson(node).dump(); }

Status DecodeNode(std::string_view text, ClusterNode* out) {
  json j = json::parse(text, nullptr, /*allow_exceptions=*/false);
  if (j.is_discarded()) return Status::Corruption("the node's registration is not valid JSON");
  return NodeFromJson(j, out);
}

}  // namespace bale
