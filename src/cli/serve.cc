#include "cli/serve.h"

#include <signal.h>
#include <unistd.h>

#include <cstdio>
#include <thread>

#include "base/decimal.h"
#include "frontend/faces.h"
#include "net/server.h"
#include "store/local_object_store.h"
#include "store/store.h"

namespace bale::cli {

bool ParsePortFlag(const char* role, const char* flag, const std::string& value, bool* enabled,
                   uint16_t* port) {
  *enabled = true;
  *port = 0;
  if (value == "any") return true;
  if (value.empty() || value.size() > 5 ||
      value.find_first_not_of("0123456789") != std::string::npos || std::stoul(value) > 65535) {
    std::fprintf(stderr, "bale %s: %s must be 0..65535 or 'any', got '%s'\n", role, flag,
                 value.c_str());
    return false;
  }
  *port = static_cast<uint16_t>(std::stoul(value));
  *enabled = *port != 0;
  return true;
}

sigset_t StopSignals() {
  sigset_t stop;
  sigemptyset(&stop);
  sigaddset(&stop, SIGINT);
  sigaddset(&stop, SIGTERM);
  return stop;
}

void BlockStopSignals() {
  sigset_t stop = StopSignals();
  pthread_sigmask(SIG_BLOCK, &stop, nullptr);
  signal(SIGPIPE, SIG_IGN);
}

int WaitForStopSignal() {
  sigset_t stop = StopSignals();
  int sig = 0;
  sigwait(&stop, &sig);
  return sig;
}

void AddServeCommand(CLI::App* app, ServeArgs* a) {
  auto* cmd =
      app->add_subcommand("serve", "run bale on this machine: store, memcached protocol and HTTP");
  cmd->add_option("--data", a->data, "data directory")->capture_default_str();
  cmd->add_option("--listen", a->listen, "IPv4 address to listen on")->capture_default_str();
  cmd->add_option("--port", a->port, "memcached protocol port (0 = any free port)")
      ->check(CLI::Range(0, 65535))
      ->capture_default_str();
  cmd->add_option("--http-port", a->http_port,
                  "HTTP port (docs/http.md); 0 = no HTTP, any = any free port")
      ->capture_default_str();
  cmd->add_option("--http-max-body", a->http_max_body,
                  "largest HTTP request body, and so object stored over HTTP (1k..1g)")
      ->capture_default_str();
  cmd->add_option("--http-body-budget", a->http_body_budget,
                  "memory for HTTP request bodies, all connections together; a request past "
                  "it is answered 503 with Retry-After (1k..1024g; one body over it is "
                  "taken when no other is held)")
      ->capture_default_str();
  cmd->add_option("--http-timeout", a->http_timeout,
                  "seconds a client has to send a whole HTTP request (408 after; 0 = no limit)")
      ->capture_default_str();
  cmd->add_flag("--http-public-only", a->http_public_only,
                "serve only public URLs (with cookies), /metrics and /status over HTTP");
  cmd->add_option("--durability", a->durability,
                  "sync: reply after fdatasync (group commit); interval: fdatasync every "
                  "--interval-ms; none: leave it to the OS")
      ->check(CLI::IsMember({"sync", "interval", "none"}))
      ->capture_default_str();
  cmd->add_option("--interval-ms", a->interval_ms, "fdatasync period for --durability interval")
      ->check(CLI::Range(1u, 3600000u))
      ->capture_default_str();
  cmd->add_option("--threads", a->threads, "event-loop threads (0 = one per core)")
      ->check(CLI::Range(0, 256))
      ->capture_default_str();
  cmd->add_option("--max-item-size", a->max_item_size,
                  "largest value accepted, memcached's forms: 1000, 512k, 2m (1k..1g)")
      ->capture_default_str();
  cmd->add_option("--max-connections", a->max_connections, "simultaneous client connections")
      ->check(CLI::Range(1u, 1000000u))
      ->capture_default_str();
  cmd->add_flag("--disable-flush-all", a->disable_flush_all, "refuse flush_all");
  cmd->add_option("--partitions", a->partitions,
                  "partitions of a new data directory (fixed once created; 0 = default " +
                      std::to_string(Store::kDefaultPartitions) + ")")
      ->check(CLI::Range(0u, 65536u));
  cmd->add_option("--segment-size", a->segment_size, "segment file size before sealing")
      ->capture_default_str();
  cmd->add_option("--idle-timeout", a->idle_timeout,
                  "close connections idle this many seconds "
                  "(0 = never)")
      ->capture_default_str();
  cmd->add_option("--io-uring", a->io_uring,
                  "on: send and receive each round's replies and requests with one io_uring "
                  "call where the kernel allows it (else plain system calls); off: never")
      ->check(CLI::IsMember({"on", "off"}))
      ->capture_default_str();
  cmd->add_option("--compaction", a->compaction,
                  "on: reclaim dead space by itself (docs/store.md); off: only when asked "
                  "(POST /admin/compact)")
      ->check(CLI::IsMember({"on", "off"}))
      ->capture_default_str();
  cmd->add_option("--compaction-dead-ratio", a->compaction_dead_ratio,
                  "compact a segment once this share of its bytes is dead")
      ->check(CLI::Range(0.05, 1.0))
      ->capture_default_str();
  cmd->add_option("--compaction-min-dead", a->compaction_min_dead,
                  "... and at least this many bytes (1k..1g)")
      ->capture_default_str();
  cmd->add_option("--compaction-rate", a->compaction_rate,
                  "bytes per second one compaction reads and writes at most (0 = unthrottled)")
      ->capture_default_str();
  cmd->add_option("--disk-reserve", a->disk_reserve,
                  "disk space set aside for a full disk, so that deletes and compaction can "
                  "still run (0 = none; docs/store.md)")
      ->capture_default_str();
  cmd->add_option("--admin-from", a->admin_from,
                  "who may call the HTTP /admin/ endpoints: loopback clients, or any")
      ->check(CLI::IsMember({"loopback", "any"}))
      ->capture_default_str();
}

int RunServe(const ServeArgs& a) {
  uint64_t max_item = 0, segment = 0;
  if (!ParseByteSize(a.max_item_size, &max_item) || max_item < 1024 || max_item > (1ull << 30)) {
    std::fprintf(stderr, "bale serve: --max-item-size must be 1k..1g, got '%s'\n",
                 a.max_item_size.c_str());
    return 2;
  }
  if (!ParseByteSize(a.segment_size, &segment) || segment < (1u << 20) || segment > (32ull << 30)) {
    std::fprintf(stderr, "bale serve: --segment-size must be 1m..32g, got '%s'\n",
                 a.segment_size.c_str());
    return 2;
  }
  uint64_t compaction_min_dead = 0, compaction_rate = 0;
  if (!ParseByteSize(a.compaction_min_dead, &compaction_min_dead) || compaction_min_dead < 1024 ||
      compaction_min_dead > (1ull << 30)) {
    std::fprintf(stderr, "bale serve: --compaction-min-dead must be 1k..1g, got '%s'\n",
                 a.compaction_min_dead.c_str());
    return 2;
  }
  if (a.compaction_rate != "0" && !ParseByteSize(a.compaction_rate, &compaction_rate)) {
    std::fprintf(stderr,
                 "bale serve: --compaction-rate must be a size (0 = unthrottled), got '%s'\n",
                 a.compaction_rate.c_str());
    return 2;
  }
  uint64_t disk_reserve = 0;
  if (a.disk_reserve != "0" &&
      (!ParseByteSize(a.disk_reserve, &disk_reserve) || disk_reserve > (64ull << 30))) {
    std::fprintf(stderr, "bale serve: --disk-reserve must be 0..64g, got '%s'\n",
                 a.disk_reserve.c_str());
    return 2;
  }
  uint64_t http_max_body = 0;
  if (!ParseByteSize(a.http_max_body, &http_max_body) || http_max_body < 1024 ||
      http_max_body > (1ull << 30)) {
    std::fprintf(stderr, "bale serve: --http-max-body must be 1k..1g, got '%s'\n",
                 a.http_max_body.c_str());
    return 2;
  }
  uint64_t http_body_budget = 0;
  if (!ParseByteSize(a.http_body_budget, &http_body_budget) || http_body_budget < 1024 ||
      http_body_budget > (1ull << 40)) {
    std::fprintf(stderr, "bale serve: --http-body-budget must be 1k..1024g, got '%s'\n",
                 a.http_body_budget.c_str());
    return 2;
  }
  bool http_enabled = true;
  uint16_t http_port = 0;
  if (!ParsePortFlag("serve", "--http-port", a.http_port, &http_enabled, &http_port)) return 2;
  BlockStopSignals();

  StoreOptions so;
  so.dir = a.data;
  so.partitions = a.partitions;
  ParseDurability(a.durability, &so.volume.durability);
  so.volume.interval_ms = a.interval_ms;
  so.volume.segment_bytes = segment;
  so.volume.compaction_bytes_per_s = compaction_rate;
  so.compaction.automatic = a.compaction == "on";
  so.disk_reserve_bytes = disk_reserve;
  so.compaction.min_dead_ratio = a.compaction_dead_ratio;
  so.compaction.min_dead_bytes = compaction_min_dead;
  // Writers that outrun the compactor compact their head themselves past 3x the trigger.
  if (so.compaction.automatic) so.volume.head_dead_limit = 3 * compaction_min_dead;
  so.log = [](const std::string& line) { std::fprintf(stderr, "bale serve: %s\n", line.c_str()); };
  std::unique_ptr<Store> store;
  Status s = Store::Open(so, &store);
  if (!s.ok()) {
    std::fprintf(stderr, "bale serve: opening %s: %s\n", a.data.c_str(), s.ToString().c_str());
    return 1;
  }
  net::ServerConfig config;
  config.threads = a.threads > 0
                       ? a.threads
                       : static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
  config.max_connections = a.max_connections;
  config.io_uring = a.io_uring == "on";
  config.idle_timeout_s = a.idle_timeout;
  MemcacheSettings settings;
  settings.max_item_size = static_cast<uint32_t>(max_item);
  settings.disable_flush_all = a.disable_flush_all;
  settings.max_connections = a.max_connections;
  settings.threads = config.threads;
  settings.idle_timeout_s = a.idle_timeout;
  settings.data_dir = a.data;
  HttpSettings http;
  http.max_body_bytes = http_max_body;
  http.body_budget_bytes = http_body_budget;
  http.timeout_s = a.http_timeout;
  http.public_only = a.http_public_only;
  http.admin_from_any = a.admin_from == "any";
  LocalObjectStore objects(store.get(), so.volume.durability);
  Faces faces(&objects, settings, http);
  net::Server server(
      config, faces.Listeners(a.listen, static_cast<uint16_t>(a.port), http_enabled, http_port));
  s = server.Start([&] { faces.Bound(server); });
  if (!s.ok()) {
    std::fprintf(stderr, "bale serve: %s\n", s.ToString().c_str());
    return 1;
  }
  StoreStats st = store->Stats();
  std::printf(
      "bale serve: memcached protocol on %s:%u, data in %s (%u partitions, %llu "
      "objects), durability %s\n",
      a.listen.c_str(), server.port(0), a.data.c_str(), st.partitions,
      static_cast<unsigned long long>(st.total.objects), a.durability.c_str());
  if (http_enabled) {
    std::printf("bale serve: HTTP on %s:%u\n", a.listen.c_str(), server.port(1));
  } else {
    std::printf("bale serve: HTTP off\n");
  }
  // After the HTTP line, which scripts expect second.
  if (server.io_uring()) {
    std::printf("bale serve: socket I/O batched with io_uring\n");
  } else if (!server.io_uring_refused().empty()) {
    std::printf("bale serve: io_uring refused (%s): plain system calls\n",
                server.io_uring_refused().c_str());
  }
  std::fflush(stdout);
  for (const std::string& line : DescribeReplay(store->replayed())) {
    std::printf("bale serve: %s\n", line.c_str());
  }
  std::fflush(stdout);
  // What the store found wrong, after the lines scripts read first. Damage is contained
  // to what it touches; this says what (docs/store.md, "What damage does").
  for (const PartitionDamage& d : store->Damage()) {
    std::string whose = d.partition == PartitionDamage::kStoreWide
                            ? "store"
                            : "partition " + std::to_string(d.partition);
    std::fprintf(stderr, "bale serve: %s: %s: %s\n", whose.c_str(), DamageKindName(d.report.kind),
                 d.report.ToString().c_str());
  }
  if (st.damaged_partitions > 0) {
    std::fprintf(stderr,
                 "bale serve: %u of %u partitions damaged (%u unavailable): the others serve; "
                 "stop the server and run bale verify for details\n",
                 st.damaged_partitions, st.partitions, st.unavailable_partitions);
  }

  int sig = WaitForStopSignal();
  std::printf("bale serve: signal %d, shutting down\n", sig);
  std::fflush(stdout);
  server.Stop();
  s = store->Close();
  if (!s.ok()) {
    std::fprintf(stderr, "bale serve: closing the store: %s\n", s.ToString().c_str());
    return 1;
  }
  std::printf("bale serve: stopped cleanly\n");
  return 0;
}

}  // namespace bale::cli
