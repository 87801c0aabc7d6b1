// `bale admin`: what an operator asks of a cluster. status (the map's epoch, the leading
// directory, and the nodes), nodes (address, zone, state, partitions, objects, bytes) and
// partitions (owner and its state), as tables or --json. Objects and bytes come from each
// node (a STATS frame); a node that does not answer shows "-".
#include <cstdio>
#include <nlohmann/json.hpp>

#include "cli/cluster.h"
#include "cluster/map_codec.h"
#include "coord/etcd_client.h"
#include "directory/directory.h"
#include "router/remote_object_store.h"

namespace bale::cli {

CLI::App* AddAdminCommand(CLI::App* app, AdminArgs* a) {
  CLI::App* cmd = app->add_subcommand("admin", "operator commands on a cluster");
  AddClusterFlags(cmd, &a->cluster);
  cmd->add_option("what", a->what, "status | nodes | partitions")
      ->check(CLI::IsMember({"status", "nodes", "partitions"}))
      ->capture_default_str();
  cmd->add_flag("--json", a->json, "print JSON instead of a table");
  cmd->add_option("--store-timeout", a->store_timeout_ms, "milliseconds to wait for each node")
      ->capture_default_str();
  AddSecretFlags(cmd, &a->auth, /*listens=*/false);
  AddTlsFlags(cmd, &a->tls, /*serves=*/false);
  return cmd;
}

namespace {

// A node's figure, or "-" when it did not answer.
std::string Dash(const std::optional<ObjectStats>& node, uint64_t ObjectStats::*field) {
  return node ? std::to_string((*node).*field) : "-";
}

}  // namespace

int RunAdmin(const AdminArgs& a) {
  std::string secret;
  if (!LoadClusterSecret("admin", a.auth, "", &secret)) return 2;
  std::shared_ptr<const net::TlsContext> tls;
  if (!LoadTls("admin", net::TlsContext::Side::kClient, a.tls, &tls)) return 2;
  coord::EtcdOptions eo;
  if (!LoadEtcdOptions("admin", a.cluster, &eo)) return 2;
  std::unique_ptr<coord::EtcdClient> etcd;
  Status s = coord::EtcdClient::Connect(eo, &etcd);
  if (!s.ok()) {
    std::fprintf(stderr, "bale admin: etcd %s: %s\n", a.cluster.etcd.c_str(), s.ToString().c_str());
    return 1;
  }
  std::string text;
  int64_t revision = 0;
  s = etcd->Get(MapKey(a.cluster.cluster), &text, &revision);
  if (s.IsNotFound()) {
    std::fprintf(stderr,
                 "bale admin: cluster '%s' has no map in etcd yet (is a bale directory running "
                 "with --cluster %s?)\n",
                 a.cluster.cluster.c_str(), a.cluster.cluster.c_str());
    return 1;
  }
  ClusterMap map;
  if (s.ok()) s = DecodeMap(text, "", &map);
  if (!s.ok()) {
    std::fprintf(stderr, "bale admin: reading the map: %s\n", s.ToString().c_str());
    return 1;
  }
  std::string leader;
  if (!etcd->Leader(ElectionName(a.cluster.cluster), &leader).ok()) leader = "";
  std::vector<std::optional<ObjectStats>> figures =
      router::AskNodeStats(map, static_cast<int>(a.store_timeout_ms), secret, {}, tls);
  std::vector<uint32_t> held(map.nodes().size(), 0);
  for (uint32_t o : map.owners()) {
    if (o != ClusterMap::kNoOwner) held[o]++;
  }
  uint32_t up = 0, unowned = 0;
  for (const ClusterNode& n : map.nodes()) up += n.up ? 1 : 0;
  for (uint32_t o : map.owners()) unowned += o == ClusterMap::kNoOwner ? 1 : 0;

  nlohmann::json nodes = nlohmann::json::array();
  for (size_t i = 0; i < map.nodes().size(); i++) {
    const ClusterNode& n = map.nodes()[i];
    nlohmann::json j{{"id", n.id},
                     {"address", n.host + ":" + std::to_string(n.port)},
                     {"zone", n.zone},
                     {"state", n.up ? "up" : "down"},
                     {"partitions", held[i]},
                     {"answered", figures[i].has_value()}};
    if (figures[i]) {
      j["objects"] = figures[i]->live_objects;
      j["bytes"] = figures[i]->live_bytes;
    }
    nodes.push_back(std::move(j));
  }
  if (a.json) {
    nlohmann::json out{{"cluster", a.cluster.cluster},
                       {"epoch", map.epoch()},
                       {"partitions", map.partition_count()},
                       {"unplaced_partitions", unowned},
                       {"leader", leader},
                       {"nodes", nodes}};
    if (a.what == "partitions") {
      nlohmann::json parts = nlohmann::json::array();
      for (uint32_t p = 0; p < map.partition_count(); p++) {
        const ClusterNode* o = map.OwnerOf(p);
        parts.push_back({{"partition", p},
                         {"owner", o ? o->id : ""},
                         {"state", o ? (o->up ? "up" : "down") : "unplaced"}});
      }
      out["partition_owners"] = std::move(parts);
    }
    std::printf("%s\n", out.dump(2).c_str());
    return 0;
  }
  if (a.what == "status") {
    std::printf("cluster %s: map epoch %llu, %u partitions (%u unplaced), %u of %zu nodes up\n",
                a.cluster.cluster.c_str(), static_cast<unsigned long long>(map.epoch()),
                map.partition_count(), unowned, up, map.nodes().size());
    std::printf("directory leader: %s\n", leader.empty() ? "(none)" : leader.c_str());
  }
  if (a.what == "status" || a.what == "nodes") {
    std::printf("%-12s %-22s %-8s %-5s %10s %12s %14s\n", "NODE", "ADDRESS", "ZONE", "STATE",
                "PARTITIONS", "OBJECTS", "BYTES");
    for (size_t i = 0; i < map.nodes().size(); i++) {
      const ClusterNode& n = map.nodes()[i];
      std::printf("%-12s %-22s %-8s %-5s %10u %12s %14s\n", n.id.c_str(),
                  (n.host + ":" + std::to_string(n.port)).c_str(),
                  n.zone.empty() ? "-" : n.zone.c_str(), n.up ? "up" : "down", held[i],
                  Dash(figures[i], &ObjectStats::live_objects).c_str(),
                  Dash(figures[i], &ObjectStats::live_bytes).c_str());
    }
    return 0;
  }
  std::printf("%-9s %-12s %-22s %s\n", "PARTITION", "OWNER", "ADDRESS", "STATE");
  for (uint32_t p = 0; p < map.partition_count(); p++) {
    const ClusterNode* o = map.OwnerOf(p);
    std::printf("%-9u %-12s %-22s %s\n", p, o ? o->id.c_str() : "-",
                o ? (o->host + ":" + std::to_string(o->port)).c_str() : "-",
                o ? (o->up ? "up" : "down") : "unplaced");
  }
  return 0;
}

}  // namespace bale::cli
