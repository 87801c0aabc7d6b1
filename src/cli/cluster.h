// The cluster's roles as subcommands: `bale directory`, `bale store`, `bale router` and
// `bale admin` (docs/cluster.md). Each Add*Command declares its flags (and --help); each
// Run* runs the role until SIGINT or SIGTERM and returns the exit code.
#pragma once

#include <CLI/CLI.hpp>
#include <cstdint>
#include <memory>
#include <string>

#include "coord/etcd_client.h"
#include "net/tls.h"

namespace bale::cli {

// Flags every clustered role has.
struct ClusterArgs {
  std::string etcd = "http://127.0.0.1:2379";  // etcd's --endpoints form
  std::string cluster = "bale";
  int64_t lease_ttl = 10;  // seconds
  // etcd's TLS (https:// endpoints) and authentication (docs/cluster.md, "Security").
  std::string etcd_ca, etcd_cert, etcd_key;
  std::string etcd_user, etcd_password_file;
};

// The cluster secret's flags (docs/cluster.md, "Security"): never the secret itself on
// the command line or in the environment, only a file holding it.
struct SecretArgs {
  std::string secret_file;  // --cluster-secret-file
  bool insecure = false;    // --insecure (store, router): listen beyond loopback without
};

// TLS on the internal links (docs/cluster.md, "Security"): PEM files. A store serves TLS
// with --tls-cert and --tls-key (and with --tls-ca asks every client for a certificate
// that CA signed); a router or admin speaks TLS to the stores with --tls-ca (checking
// their certificates) and presents --tls-cert/--tls-key when given.
struct TlsArgs {
  net::TlsFiles files;
};

struct DirectoryArgs {
  ClusterArgs cluster;
  uint32_t partitions = 0;  // 0: kDefaultClusterPartitions
  uint32_t initial_nodes = 1;
  std::string http_listen = "127.0.0.1";
  std::string http_port = "8070";  // "0" = off, "any" = ephemeral
};

struct StoreArgs {
  ClusterArgs cluster;
  std::string data = "./store-data";
  std::string listen = "127.0.0.1";
  int port = 7070;  // 0 = ephemeral
  std::string zone;
  std::string durability = "interval";
  uint32_t interval_ms = 1000;
  int threads = 0;
  std::string segment_size = "1g";
  std::string max_frame = "65m";
  std::string http_port = "0";  // /metrics and /status; "0" = off, "any" = ephemeral
  SecretArgs auth;
  TlsArgs tls;
};

struct RouterArgs {
  ClusterArgs cluster;
  std::string listen = "127.0.0.1";
  int port = 11211;
  std::string http_port = "8080";  // "0" = off, "any" = ephemeral
  uint32_t store_timeout_ms = 1000;
  int threads = 0;
  std::string max_item_size = "1m";
  uint32_t max_connections = 1024;
  std::string http_max_body = "64m";
  std::string http_body_budget = "256m";
  uint32_t http_timeout = 30;
  bool http_public_only = false;
  std::string admin_from = "loopback";
  SecretArgs auth;
  TlsArgs tls;
};

struct AdminArgs {
  ClusterArgs cluster;
  std::string what = "status";  // status | nodes | partitions
  bool json = false;
  uint32_t store_timeout_ms = 1000;
  SecretArgs auth;
  TlsArgs tls;
};

CLI::App* AddDirectoryCommand(CLI::App* app, DirectoryArgs* args);
int RunDirectory(const DirectoryArgs& args);
CLI::App* AddStoreCommand(CLI::App* app, StoreArgs* args);
int RunStore(const StoreArgs& args);
CLI::App* AddRouterCommand(CLI::App* app, RouterArgs* args);
int RunRouter(const RouterArgs& args);
CLI::App* AddAdminCommand(CLI::App* app, AdminArgs* args);
int RunAdmin(const AdminArgs& args);

// Shared by the roles.
void AddClusterFlags(CLI::App* cmd, ClusterArgs* args);
// The etcd client's options from the flags: endpoints, TLS files, user and the password
// read from --etcd-password-file (trailing newlines trimmed). False (with why on stderr,
// never the password) when they cannot be used.
bool LoadEtcdOptions(const char* role, const ClusterArgs& args, coord::EtcdOptions* out);
// --cluster-secret-file, and --insecure when `listens` (a role with a port of its own).
void AddSecretFlags(CLI::App* cmd, SecretArgs* args, bool listens);
// 127.0.0.0/8, ::1 or localhost.
bool IsLoopbackHost(const std::string& host);
// The secret from --cluster-secret-file (read once, trailing newlines trimmed) into
// *secret, or empty without one. The safe default: a role listening on a non-loopback
// `listen` address (empty: none) without a secret refuses to start unless --insecure,
// which is then logged. False (with why on stderr, never the secret) to refuse.
bool LoadClusterSecret(const char* role, const SecretArgs& args, const std::string& listen,
                       std::string* secret);
// --tls-cert, --tls-key, --tls-ca; `serves`: the store's side (its listener).
void AddTlsFlags(CLI::App* cmd, TlsArgs* args, bool serves);
// The TLS context the flags ask for into *tls (null when none was given). False (with
// why on stderr: an unreadable file, a key that does not match its certificate, a
// missing flag) to refuse to start.
bool LoadTls(const char* role, net::TlsContext::Side side, const TlsArgs& args,
             std::shared_ptr<const net::TlsContext>* tls);

}  // namespace bale::cli
