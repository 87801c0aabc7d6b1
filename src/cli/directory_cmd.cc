// `bale directory`: keeps the cluster map in etcd (directory/directory.h) and shows its
// view over HTTP (/status as JSON, /metrics in Prometheus text).
#include <signal.h>

#include <cstdio>
#include <nlohmann/json.hpp>
#include <thread>

#include "cli/cluster.h"
#include "cli/serve.h"
#include "directory/directory.h"
#include "frontend/status_http.h"
#include "net/server.h"

namespace bale::cli {

void AddClusterFlags(CLI::App* cmd, ClusterArgs* a) {
  cmd->add_option("--etcd", a->etcd, "etcd endpoints, comma-separated http(s)://host:port")
      ->capture_default_str();
  cmd->add_option("--etcd-ca", a->etcd_ca,
                  "PEM CA etcd's certificate is checked against "
                  "(https:// endpoints; default: the system's roots)");
  cmd->add_option("--etcd-cert", a->etcd_cert, "PEM client certificate presented to etcd");
  cmd->add_option("--etcd-key", a->etcd_key, "PEM private key of --etcd-cert");
  cmd->add_option("--etcd-user", a->etcd_user, "etcd user (etcd's authentication)");
  cmd->add_option("--etcd-password-file", a->etcd_password_file,
                  "file holding --etcd-user's password (never on the command line)");
  cmd->add_option("--cluster", a->cluster, "the cluster's name (its keys: /bale/NAME/)")
      ->capture_default_str();
  cmd->add_option("--lease-ttl", a->lease_ttl, "seconds an etcd lease outlives its holder")
      ->check(CLI::Range(5, 600))
      ->capture_default_str();
}

CLI::App* AddDirectoryCommand(CLI::App* app, DirectoryArgs* a) {
  CLI::App* cmd = app->add_subcommand(
      "directory", "keep a cluster's map in etcd: admit store nodes, place partitions");
  AddClusterFlags(cmd, &a->cluster);
  cmd->add_option("--partitions", a->partitions,
                  "partitions of a new cluster, fixed for its life (0 = " +
                      std::to_string(kDefaultClusterPartitions) + ")")
      ->check(CLI::Range(0u, ClusterMap::kMaxPartitions))
      ->capture_default_str();
  cmd->add_option("--initial-nodes", a->initial_nodes,
                  "place partitions once this many store nodes are up")
      ->check(CLI::Range(1u, 1000u))
      ->capture_default_str();
  cmd->add_option("--http-listen", a->http_listen, "address of /status and /metrics")
      ->capture_default_str();
  cmd->add_option("--http-port", a->http_port, "port of /status and /metrics (0 = off, any)")
      ->capture_default_str();
  return cmd;
}

namespace {

StatusPage DirectoryPage(const Directory& d, std::string_view path) {
  DirectorySnapshot s = d.Snapshot();
  nlohmann::json map = nlohmann::json::parse(s.map_json, nullptr, false);
  uint64_t nodes = 0, up = 0;
  if (map.is_object() && map.contains("nodes") && map["nodes"].is_array()) {
    for (const auto& n : map["nodes"]) {
      nodes++;
      up += n.value("up", false) ? 1 : 0;
    }
  }
  if (path == "/status") {
    nlohmann::json j{{"role", "directory"},
                     {"etcd_connected", s.connected},
                     {"leading", s.leading},
                     {"leader", s.leader},
                     {"epoch", s.epoch},
                     {"nodes", nodes},
                     {"nodes_up", up},
                     {"map_writes", s.map_writes},
                     {"elections_won", s.elections_won},
                     {"etcd_requests", s.etcd_requests},
                     {"etcd_reconnects", s.etcd_reconnects},
                     {"map", map.is_discarded() ? nlohmann::json() : map}};
    return StatusPage{200, "application/json", j.dump(2) + "\n"};
  }
  if (path == "/metrics") {
    std::string m;
    auto gauge = [&](const char* name, const char* help, uint64_t v, const char* type) {
      m += std::string("# HELP ") + name + " " + help + "\n# TYPE " + name + " " + type + "\n" +
           name + " " + std::to_string(v) + "\n";
    };
    gauge("bale_directory_etcd_connected", "1 if etcd answered the last request",
          s.connected ? 1 : 0, "gauge");
    gauge("bale_directory_leading", "1 if this directory leads", s.leading ? 1 : 0, "gauge");
    gauge("bale_directory_epoch", "the cluster map's epoch", s.epoch, "gauge");
    gauge("bale_directory_nodes", "store nodes in the map", nodes, "gauge");
    gauge("bale_directory_nodes_up", "store nodes whose lease lives", up, "gauge");
    gauge("bale_directory_map_writes_total", "maps this directory wrote", s.map_writes, "counter");
    gauge("bale_directory_elections_won_total", "times this directory became leader",
          s.elections_won, "counter");
    gauge("bale_directory_etcd_requests_total", "requests sent to etcd", s.etcd_requests,
          "counter");
    gauge("bale_directory_etcd_reconnects_total", "times the etcd session was made anew",
          s.etcd_reconnects, "counter");
    return StatusPage{200, "text/plain; version=0.0.4", m};
  }
  return StatusPage{404, "text/plain", "not found: /status and /metrics are served here\n"};
}

}  // namespace

int RunDirectory(const DirectoryArgs& a) {
  bool http_enabled = true;
  uint16_t http_port = 0;
  if (!ParsePortFlag("directory", "--http-port", a.http_port, &http_enabled, &http_port)) {
    return 2;
  }
  BlockStopSignals();
  DirectoryOptions o;
  if (!LoadEtcdOptions("directory", a.cluster, &o.etcd)) return 2;
  o.cluster = a.cluster.cluster;
  o.partitions = a.partitions == 0 ? kDefaultClusterPartitions : a.partitions;
  o.plan.initial_nodes = a.initial_nodes;
  o.lease_ttl_s = a.cluster.lease_ttl;
  o.log = [](const std::string& line) {
    std::fprintf(stderr, "bale directory: %s\n", line.c_str());
  };
  std::unique_ptr<Directory> directory;
  StatusHttpService http([&](std::string_view path) { return DirectoryPage(*directory, path); });
  net::ServerConfig config;
  config.threads = 1;
  config.max_connections = 64;
  std::vector<net::Listener> listeners;
  if (http_enabled) listeners.push_back(net::Listener{a.http_listen, http_port, &http});
  net::Server server(config, std::move(listeners));
  // The directory is made once the port is known and before any request can come.
  auto make = [&] {
    o.name = a.http_listen + (http_enabled ? ":" + std::to_string(server.port(0)) : "") + " (pid " +
             std::to_string(::getpid()) + ")";
    directory = std::make_unique<Directory>(o);
  };
  if (http_enabled) {
    Status s = server.Start(make);
    if (!s.ok()) {
      std::fprintf(stderr, "bale directory: %s\n", s.ToString().c_str());
      return 1;
    }
  } else {
    make();
  }
  directory->Start();
  if (http_enabled) {
    std::printf("bale directory: HTTP on %s:%u, etcd %s, cluster %s\n", a.http_listen.c_str(),
                server.port(0), a.cluster.etcd.c_str(), a.cluster.cluster.c_str());
  } else {
    std::printf("bale directory: HTTP off, etcd %s, cluster %s\n", a.cluster.etcd.c_str(),
                a.cluster.cluster.c_str());
  }
  std::fflush(stdout);
  int sig = WaitForStopSignal();
  std::printf("bale directory: signal %d, shutting down\n", sig);
  std::fflush(stdout);
  directory->Stop();
  if (http_enabled) server.Stop();
  std::printf("bale directory: stopped cleanly\n");
  return 0;
}

}  // namespace bale::cli
