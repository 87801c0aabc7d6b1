// `bale router`: the memcached and HTTP faces of `bale serve`, unchanged to clients, over
// a RemoteObjectStore that sends each request to the store node owning its partition.
// The map comes from etcd through a watch (coord_session.h); the router registers
// nothing.
#include <cstdio>
#include <thread>

#include "base/decimal.h"
#include "cli/cluster.h"
#include "cli/serve.h"
#include "cluster/map_codec.h"
#include "coord/coord_session.h"
#include "directory/directory.h"
#include "frontend/faces.h"
#include "router/remote_object_store.h"

namespace bale::cli {

CLI::App* AddRouterCommand(CLI::App* app, RouterArgs* a) {
  CLI::App* cmd = app->add_subcommand(
      "router", "the memcached and HTTP faces of a cluster: routes every key to its store node");
  AddClusterFlags(cmd, &a->cluster);
  cmd->add_option("--listen", a->listen, "address to listen on")->capture_default_str();
  cmd->add_option("--port", a->port, "memcached port (0 = ephemeral)")
      ->check(CLI::Range(0, 65535))
      ->capture_default_str();
  cmd->add_option("--http-port", a->http_port, "HTTP port (0 = off, any = ephemeral)")
      ->capture_default_str();
  cmd->add_option("--store-timeout", a->store_timeout_ms,
                  "milliseconds a store node may take to answer before the client gets an error")
      ->check(CLI::Range(10u, 600000u))
      ->capture_default_str();
  cmd->add_option("--threads", a->threads, "event-loop threads (0 = one per core)")
      ->capture_default_str();
  cmd->add_option("--max-item-size", a->max_item_size, "largest value (memcached's -I)")
      ->capture_default_str();
  cmd->add_option("--max-connections", a->max_connections, "client connections at once")
      ->capture_default_str();
  cmd->add_option("--http-max-body", a->http_max_body, "largest HTTP request body")
      ->capture_default_str();
  cmd->add_option("--http-body-budget", a->http_body_budget,
                  "memory for HTTP bodies being received, all connections together")
      ->capture_default_str();
  cmd->add_option("--http-timeout", a->http_timeout, "seconds to receive an HTTP request")
      ->capture_default_str();
  cmd->add_flag("--http-public-only", a->http_public_only,
                "serve only public URLs (/PARTITION/KEY/COOKIE), /status and /metrics over HTTP");
  cmd->add_option("--admin-from", a->admin_from, "who may call /admin/: loopback or any")
      ->check(CLI::IsMember({"loopback", "any"}))
      ->capture_default_str();
  AddSecretFlags(cmd, &a->auth, /*listens=*/true);
  AddTlsFlags(cmd, &a->tls, /*serves=*/false);
  return cmd;
}

int RunRouter(const RouterArgs& a) {
  uint64_t max_item = 0, http_max_body = 0, http_body_budget = 0;
  if (!ParseByteSize(a.max_item_size, &max_item) || max_item < 1024 || max_item > (1ull << 30)) {
    std::fprintf(stderr, "bale router: --max-item-size must be 1k..1g, got '%s'\n",
                 a.max_item_size.c_str());
    return 2;
  }
  if (!ParseByteSize(a.http_max_body, &http_max_body) || http_max_body < 1024 ||
      http_max_body > (1ull << 30)) {
    std::fprintf(stderr, "bale router: --http-max-body must be 1k..1g, got '%s'\n",
                 a.http_max_body.c_str());
    return 2;
  }
  if (!ParseByteSize(a.http_body_budget, &http_body_budget) || http_body_budget < 1024) {
    std::fprintf(stderr, "bale router: --http-body-budget must be 1k or more, got '%s'\n",
                 a.http_body_budget.c_str());
    return 2;
  }
  bool http_enabled = true;
  uint16_t http_port = 0;
  if (!ParsePortFlag("router", "--http-port", a.http_port, &http_enabled, &http_port)) return 2;
  router::RouterOptions ro;
  if (!LoadClusterSecret("router", a.auth, a.listen, &ro.cluster_secret)) return 2;
  if (!LoadTls("router", net::TlsContext::Side::kClient, a.tls, &ro.tls)) return 2;
  BlockStopSignals();

  MapHolder maps;
  coord::CoordSessionOptions co;
  if (!LoadEtcdOptions("router", a.cluster, &co.etcd)) return 2;
  co.ttl_seconds = a.cluster.lease_ttl;
  co.watch_key = MapKey(a.cluster.cluster);
  co.on_change = [&](const std::string& value, int64_t) {
    if (value.empty()) return;
    ClusterMap m;
    Status d = DecodeMap(value, "", &m);
    if (!d.ok()) {
      std::fprintf(stderr, "bale router: ignoring the map: %s\n", d.ToString().c_str());
      return;
    }
    maps.Set(std::make_shared<const ClusterMap>(std::move(m)));
  };
  coord::CoordSession session(co);
  session.Start();

  ro.store_timeout_ms = static_cast<int>(a.store_timeout_ms);
  ro.limits.max_frame = max_item + (64 << 10);
  ro.limits.max_frame = std::max<uint64_t>(ro.limits.max_frame, http_max_body + (64 << 10));
  router::RemoteObjectStore objects(&maps, ro);

  net::ServerConfig config;
  config.threads = a.threads > 0
                       ? a.threads
                       : static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
  config.max_connections = a.max_connections;
  MemcacheSettings settings;
  settings.max_item_size = static_cast<uint32_t>(max_item);
  settings.max_connections = a.max_connections;
  settings.threads = config.threads;
  HttpSettings http;
  http.max_body_bytes = http_max_body;
  http.body_budget_bytes = http_body_budget;
  http.timeout_s = a.http_timeout;
  http.admin_from_any = a.admin_from == "any";
  http.public_only = a.http_public_only;
  Faces faces(&objects, settings, http);
  net::Server server(
      config, faces.Listeners(a.listen, static_cast<uint16_t>(a.port), http_enabled, http_port));
  Status s = server.Start([&] { faces.Bound(server); });
  if (!s.ok()) {
    std::fprintf(stderr, "bale router: %s\n", s.ToString().c_str());
    session.Stop();
    return 1;
  }
  if (http_enabled) {
    std::printf("bale router: memcached protocol on %s:%u, HTTP on %s:%u, etcd %s, cluster %s\n",
                a.listen.c_str(), server.port(0), a.listen.c_str(), server.port(1),
                a.cluster.etcd.c_str(), a.cluster.cluster.c_str());
  } else {
    std::printf("bale router: memcached protocol on %s:%u, HTTP off, etcd %s, cluster %s\n",
                a.listen.c_str(), server.port(0), a.cluster.etcd.c_str(),
                a.cluster.cluster.c_str());
  }
  std::fflush(stdout);
  int sig = WaitForStopSignal();
  std::printf("bale router: signal %d, shutting down\n", sig);
  std::fflush(stdout);
  server.Stop();
  session.Stop();
  std::printf("bale router: stopped cleanly\n");
  return 0;
}

}  // namespace bale::cli
