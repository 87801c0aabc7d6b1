// `bale store`: a store node. It serves the partitions the cluster map gives it over the
// internal protocol (store/store_service.h), registered in etcd under a lease
// (/bale/<cluster>/nodes/<id>) and following the map through a watch (coord_session.h).
//
// A node that holds nothing yet (new, or joined after the partitions were placed) serves
// the internal protocol from an object store with no partition: every request is
// refused (NOT_HELD). The first map that gives it partitions opens them behind the same
// listener (store/swappable_object_store.h), so routers' connections stay. Partitions
// given later (moves) need a restart for now; the node says so.
#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <cstdio>
#include <fstream>
#include <mutex>
#include <nlohmann/json.hpp>
#include <random>
#include <thread>

#include "base/decimal.h"
#include "cli/cluster.h"
#include "cli/serve.h"
#include "cluster/map_codec.h"
#include "cluster/map_holder.h"
#include "coord/coord_session.h"
#include "directory/directory.h"
#include "frontend/status_http.h"
#include "net/server.h"
#include "store/local_object_store.h"
#include "store/store.h"
#include "store/store_service.h"
#include "store/swappable_object_store.h"

namespace bale::cli {

CLI::App* AddStoreCommand(CLI::App* app, StoreArgs* a) {
  CLI::App* cmd = app->add_subcommand(
      "store", "a store node of a cluster: serves the partitions the map gives it to routers");
  AddClusterFlags(cmd, &a->cluster);
  cmd->add_option("--data", a->data, "data directory (the node's id is kept in it)")
      ->capture_default_str();
  cmd->add_option("--listen", a->listen, "address of the internal protocol")->capture_default_str();
  cmd->add_option("--port", a->port, "port of the internal protocol (0 = ephemeral)")
      ->check(CLI::Range(0, 65535))
      ->capture_default_str();
  cmd->add_option("--zone", a->zone, "zone label: placement spreads partitions over zones");
  cmd->add_option("--durability", a->durability, "sync | interval | none (as bale serve)")
      ->check(CLI::IsMember({"sync", "interval", "none"}))
      ->capture_default_str();
  cmd->add_option("--interval-ms", a->interval_ms, "fdatasync period in interval mode")
      ->capture_default_str();
  cmd->add_option("--threads", a->threads, "event-loop threads (0 = one per core)")
      ->capture_default_str();
  cmd->add_option("--segment-size", a->segment_size, "bytes per segment file")
      ->capture_default_str();
  cmd->add_option("--max-frame", a->max_frame, "largest internal frame accepted")
      ->capture_default_str();
  cmd->add_option("--http-port", a->http_port,
                  "port of /metrics and /status, on --listen (0 = off, any = ephemeral)")
      ->capture_default_str();
  AddSecretFlags(cmd, &a->auth, /*listens=*/true);
  AddTlsFlags(cmd, &a->tls, /*serves=*/true);
  return cmd;
}

namespace {

// The object store of a node that holds no partition: every request is Unavailable.
class NoPartitions final : public ObjectStore {
 public:
  class Session final : public ObjectSession {
   public:
    bool commit_pending() const override { return false; }
    Status Commit() override { return Status::OK(); }
    void TrimBuffers(size_t) override {}
  };
  std::unique_ptr<ObjectSession> NewSession() override { return std::make_unique<Session>(); }
  Status Get(ObjectSession*, std::string_view, const LookupOptions&, ObjectView*) override {
    return Refused();
  }
  void Mutate(ObjectSession*, const Mutation&, MutationCompletion* done) override { Fail(done); }
  void FlushAll(uint32_t, ObjectSession*, MutationCompletion* done) override {
    done->Done(MutationResult());  // nothing here to hide
  }
  void PutAtomic(std::span<BatchPut>, ObjectSession*, MutationCompletion* done) override {
    Fail(done);
  }
  uint32_t PartitionOf(std::string_view) const override { return 0; }
  uint32_t partitions() const override { return 0; }
  bool durability_sync() const override { return false; }
  std::string_view durability_name() const override { return "none"; }
  ObjectStats Stats() const override { return ObjectStats(); }
  std::vector<DamageReportView> Damage() const override { return {}; }
  std::vector<PartitionHealth> Health() const override { return {}; }
  bool RequestCompaction() override { return false; }

 private:
  static Status Refused() { return Status::Unavailable("this store node holds no partition"); }
  static void Fail(MutationCompletion* done) {
    MutationResult r;
    r.status = MutationStatus::kUnavailable;
    r.error = Refused();
    done->Done(r);
  }
};

// The node's id: kept in DIR/NODE_ID, drawn once.
Status NodeId(const std::string& dir, std::string* id) {
  ::mkdir(dir.c_str(), 0755);
  std::string path = dir + "/NODE_ID";
  std::ifstream in(path);
  if (in && std::getline(in, *id) && !id->empty()) return Status::OK();
  std::random_device rd;
  char buf[32];
  std::snprintf(buf, sizeof(buf), "s%08x", static_cast<unsigned>(rd()));
  *id = buf;
  std::string tmp = path + ".tmp";
  {
    std::ofstream out(tmp, std::ios::trunc);
    out << *id << "\n";
    out.flush();
    if (!out) return Status::IOError("cannot write " + tmp);
  }
  if (::rename(tmp.c_str(), path.c_str()) != 0) return Status::FromErrno(path, errno);
  return Status::OK();
}

// A placeholder until the first map is read: holds nothing, epoch 0.
std::shared_ptr<const ClusterMap> EmptyMap() {
  ClusterMap m;
  (void)ClusterMap::Holding(1, {}, 0, &m);
  return std::make_shared<const ClusterMap>(std::move(m));
}

void Log(const std::string& line) { std::fprintf(stderr, "bale store: %s\n", line.c_str()); }

// /metrics (Prometheus text) and /status (JSON) of a store node.
StatusPage StorePage(const std::string& id, const StoreService& service, const ObjectStore& objects,
                     std::string_view path) {
  std::vector<StoreServiceCounters::Named> counters = service.counters().List();
  std::shared_ptr<const ClusterMap> map = service.map();
  ObjectStats stats = objects.Stats();
  if (path == "/status") {
    nlohmann::json c = nlohmann::json::object();
    for (const auto& n : counters) c[n.name] = n.value;
    nlohmann::json j{{"role", "store"},
                     {"node", id},
                     {"epoch", map->epoch()},
                     {"partitions_held", map->held().size()},
                     {"objects", stats.live_objects},
                     {"bytes", stats.live_bytes},
                     {"counters", c}};
    return StatusPage{200, "application/json", j.dump(2) + "\n"};
  }
  if (path == "/metrics") {
    std::string m;
    auto sample = [&](const std::string& name, const char* help, uint64_t v, const char* type) {
      m += "# HELP " + name + " " + help + "\n# TYPE " + name + " " + type + "\n" + name + " " +
           std::to_string(v) + "\n";
    };
    for (const auto& n : counters) {
      sample(std::string("bale_store_") + n.name + "_total", n.help, n.value, "counter");
    }
    sample("bale_store_epoch", "the node's map epoch", map->epoch(), "gauge");
    sample("bale_store_partitions_held", "partitions the map gives this node", map->held().size(),
           "gauge");
    sample("bale_store_objects", "live objects", stats.live_objects, "gauge");
    sample("bale_store_bytes", "live bytes", stats.live_bytes, "gauge");
    return StatusPage{200, "text/plain; version=0.0.4", m};
  }
  return StatusPage{404, "text/plain", "not found: /status and /metrics are served here\n"};
}

}  // namespace

// What serves: the store (when opened), its ObjectStore face, the service and server.
struct StoreNode {
  const StoreArgs& args;
  StoreOptions store_options;
  uint64_t max_frame = 0;
  NoPartitions nothing;
  SwappableObjectStore objects{&nothing};
  std::unique_ptr<Store> store;
  std::unique_ptr<LocalObjectStore> local;
  std::unique_ptr<StoreService> service;
  std::unique_ptr<StatusHttpService> http;
  std::unique_ptr<net::Server> server;
  uint16_t port = 0;
  uint16_t http_port = 0;  // 0: off

  // Serves the internal protocol (from an object store with no partition until Open),
  // and /metrics and /status on `http_port_flag` when on.
  Status Listen(std::shared_ptr<const ClusterMap> map, const std::string& id, StoreAuth auth,
                std::shared_ptr<const net::TlsContext> tls, bool http_on, uint16_t http_port_flag) {
    proto::FrameLimits limits;
    limits.max_frame = max_frame;
    service = std::make_unique<StoreService>(&objects, map, limits, std::move(auth));
    net::ServerConfig config;
    config.threads = args.threads > 0
                         ? args.threads
                         : static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
    config.max_connections = 4096;
    std::vector<net::Listener> listeners{net::Listener{
        args.listen, static_cast<uint16_t>(args.port), service.get(), std::move(tls)}};
    if (http_on) {
      http = std::make_unique<StatusHttpService>(
          [this, id](std::string_view path) { return StorePage(id, *service, objects, path); });
      listeners.push_back(net::Listener{args.listen, http_port_flag, http.get()});
    }
    server = std::make_unique<net::Server>(config, std::move(listeners));
    Status s = server->Start();
    if (!s.ok()) return s;
    port = server->port(0);
    if (http_on) http_port = server->port(1);
    return Status::OK();
  }

  // Opens the partitions `map` gives this node and serves them from now on.
  Status Open(const ClusterMap& map) {
    StoreOptions so = store_options;
    so.cluster_map = map;
    Status s = Store::Open(so, &store);
    if (!s.ok()) return s;
    for (const std::string& line : DescribeReplay(store->replayed())) Log(line);
    local = std::make_unique<LocalObjectStore>(store.get(), so.volume.durability);
    objects.Set(local.get());
    return Status::OK();
  }

  Status Shut() {
    if (server) server->Stop();
    server.reset();
    service.reset();
    http.reset();
    Status s;
    if (store) s = store->Close();
    return s;
  }
};

int RunStore(const StoreArgs& a) {
  uint64_t segment = 0, max_frame = 0;
  if (!ParseByteSize(a.segment_size, &segment) || segment < (1u << 20) || segment > (32ull << 30)) {
    std::fprintf(stderr, "bale store: --segment-size must be 1m..32g, got '%s'\n",
                 a.segment_size.c_str());
    return 2;
  }
  if (!ParseByteSize(a.max_frame, &max_frame) || max_frame < (1u << 20) ||
      max_frame > (2ull << 30)) {
    std::fprintf(stderr, "bale store: --max-frame must be 1m..2g, got '%s'\n", a.max_frame.c_str());
    return 2;
  }
  bool http_on = false;
  uint16_t http_port = 0;
  if (!ParsePortFlag("store", "--http-port", a.http_port, &http_on, &http_port)) return 2;
  StoreAuth auth;
  if (!LoadClusterSecret("store", a.auth, a.listen, &auth.secret)) return 2;
  bool auth_on = !auth.secret.empty();
  std::shared_ptr<const net::TlsContext> tls;
  if (!LoadTls("store", net::TlsContext::Side::kServer, a.tls, &tls)) return 2;
  std::string security =
      std::string(tls == nullptr ? "plain TCP" : "TLS") +
      (tls != nullptr && tls->verifies_peer() ? " with client certificates" : "") +
      (auth_on ? ", cluster handshake required" : ", no cluster secret");
  BlockStopSignals();
  std::string id;
  Status s = NodeId(a.data, &id);
  if (!s.ok()) {
    std::fprintf(stderr, "bale store: %s\n", s.ToString().c_str());
    return 1;
  }
  StoreNode node{a};
  node.max_frame = max_frame;
  node.store_options.dir = a.data;
  ParseDurability(a.durability, &node.store_options.volume.durability);
  node.store_options.volume.interval_ms = a.interval_ms;
  node.store_options.volume.segment_bytes = segment;
  node.store_options.log = [](const std::string& line) { Log(line); };

  // The map as etcd has it now, so that a node that holds partitions opens them before
  // it registers (a restart serves at once).
  MapHolder maps;
  std::atomic<bool> map_moved{false};
  coord::CoordSessionOptions co;
  if (!LoadEtcdOptions("store", a.cluster, &co.etcd)) return 2;
  co.ttl_seconds = a.cluster.lease_ttl;
  co.watch_key = MapKey(a.cluster.cluster);
  // The service takes a new map at once (routers fence on it), unless the map gives this
  // node its first partitions: the main thread opens them, then sets the map.
  std::mutex serve_mu;  // guards node.service and opened
  bool opened = false;
  co.on_change = [&](const std::string& value, int64_t) {
    if (value.empty()) return;
    ClusterMap m;
    Status d = DecodeMap(value, id, &m);
    if (!d.ok()) return Log("ignoring the map: " + d.ToString());
    auto map = std::make_shared<const ClusterMap>(std::move(m));
    maps.Set(map);
    {
      std::lock_guard<std::mutex> l(serve_mu);
      if (node.service && (opened || map->held().empty())) node.service->SetMap(map);
    }
    map_moved.store(true);
  };
  coord::CoordSession session(co);
  session.Start();
  std::shared_ptr<const ClusterMap> first = maps.WaitNewer(1, std::chrono::seconds(5));
  if (first == nullptr) first = EmptyMap();

  if (!first->held().empty()) s = node.Open(*first);
  if (s.ok()) {
    std::lock_guard<std::mutex> l(serve_mu);
    s = node.Listen(first, id, std::move(auth), tls, http_on, http_port);
    opened = !first->held().empty();
  }
  if (!s.ok()) {
    std::fprintf(stderr, "bale store: %s\n", s.ToString().c_str());
    session.Stop();
    (void)node.Shut();
    return 1;
  }
  ClusterNode self{id, a.listen, node.port, a.zone, true};
  session.UpdateKey(NodesPrefix(a.cluster.cluster) + id, EncodeNode(self));
  std::string http_line;
  if (node.http_port != 0) {
    http_line = ", HTTP on " + a.listen + ":" + std::to_string(node.http_port);
  }
  std::printf(
      "bale store: node %s serves the internal protocol on %s:%u, data in %s (%zu partitions "
      "held), %s%s\n",
      id.c_str(), a.listen.c_str(), node.port, a.data.c_str(), first->held().size(),
      security.c_str(), http_line.c_str());
  std::fflush(stdout);

  size_t warned_held = first->held().size();
  sigset_t stop = StopSignals();
  timespec tick{0, 100 * 1000 * 1000};
  int sig = -1;
  while ((sig = sigtimedwait(&stop, nullptr, &tick)) < 0) {
    if (!map_moved.exchange(false)) continue;
    std::shared_ptr<const ClusterMap> map = maps.Get();
    if (!opened && !map->held().empty()) {
      // The first partitions for this node: open them, then serve them.
      s = node.Open(*map);
      if (!s.ok()) {
        std::fprintf(stderr, "bale store: opening %zu partitions: %s\n", map->held().size(),
                     s.ToString().c_str());
        session.Stop();
        (void)node.Shut();
        return 1;
      }
      {
        std::lock_guard<std::mutex> l(serve_mu);
        opened = true;
        node.service->SetMap(maps.Get());
      }
      warned_held = map->held().size();
      std::printf("bale store: node %s holds %zu partitions (map epoch %llu)\n", id.c_str(),
                  map->held().size(), static_cast<unsigned long long>(map->epoch()));
      std::fflush(stdout);
      continue;
    }
    if (opened && map->held().size() != warned_held) {
      warned_held = map->held().size();
      Log("the map now gives this node " + std::to_string(map->held().size()) +
          " partitions; those not opened at start need a restart");
    }
  }
  std::printf("bale store: signal %d, shutting down\n", sig);
  std::fflush(stdout);
  session.Stop();  // gives the lease back: the directory marks the node down at once
  s = node.Shut();
  if (!s.ok()) {
    std::fprintf(stderr, "bale store: closing the store: %s\n", s.ToString().c_str());
    return 1;
  }
  std::printf("bale store: stopped cleanly\n");
  return 0;
}

}  // namespace bale::cli
