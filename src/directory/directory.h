// Directory: the `bale directory` role's loop. It keeps the cluster map in etcd.
//
// Contract:
// - One thread (started by Start, joined by Stop) owns the etcd client. Several
//   directories may run; etcd's election (name /bale/<cluster>/directory) picks the one
//   that leads, for as long as its lease lives; the others wait in Campaign and take
//   over when the leader's lease ends (stopped, killed, or cut off from etcd).
// - The leader creates the map on first start (/bale/<cluster>/map, map_codec.h) with
//   `partitions` partitions (fixed for the cluster's life: a later --partitions that
//   differs is ignored and logged), then folds node registrations
//   (/bale/<cluster>/nodes/<id>, written by store nodes under their leases) into it with
//   NextMap (map_plan.h). Every change is a transaction conditioned on the map's
//   mod_revision as read, so two leaders can never both change one epoch.
// - It learns of changes only through a watch of /bale/<cluster>/ (plus a keep-alive
//   every TTL/3): etcd requests grow with membership changes, never with client traffic.
// - Snapshot() may be called from any thread (the HTTP /status and /metrics).
#pragma once

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <mutex>
#include <string>
#include <thread>

#include "coord/etcd_client.h"
#include "directory/map_plan.h"

namespace bale {

struct DirectoryOptions {
  coord::EtcdOptions etcd;
  std::string cluster = "bale";
  uint32_t partitions = kDefaultClusterPartitions;  // of a new cluster
  PlanOptions plan;
  int64_t lease_ttl_s = 10;
  std::string name;  // this directory, as /status names the leader (e.g. its HTTP address)
  std::function<void(const std::string&)> log;
};

// Keys of a cluster in etcd.
std::string ClusterPrefix(std::string_view cluster);  // "/bale/<cluster>/"
std::string MapKey(std::string_view cluster);         // ".../map"
std::string NodesPrefix(std::string_view cluster);    // ".../nodes/"
std::string ElectionName(std::string_view cluster);   // ".../directory"

struct DirectorySnapshot {
  bool connected = false;  // etcd answered the last request
  bool leading = false;
  std::string leader;    // the leader's name, as last read
  std::string map_json;  // the map as last read or written (empty: none yet)
  uint64_t epoch = 0;
  uint64_t map_writes = 0;  // maps this directory wrote
  uint64_t elections_won = 0;
  uint64_t etcd_requests = 0;
  uint64_t etcd_reconnects = 0;
};

class Directory {
 public:
  explicit Directory(DirectoryOptions options) : options_(std::move(options)) {}
  ~Directory() { Stop(); }
  Directory(const Directory&) = delete;
  Directory& operator=(const Directory&) = delete;

  void Start();
  // Prompt: aborts the etcd call in flight, resigns if leading, revokes the lease.
  void Stop();
  DirectorySnapshot Snapshot() const;

 private:
  void Run();
  // One connected session with its own lease: campaign, then lead until stopped or the
  // lease or etcd is lost (the next session starts afresh).
  void Session(coord::EtcdClient* etcd);
  void Lead(coord::EtcdClient* etcd, int64_t lease);
  // Reads the nodes and the map, writes the next map if it changed. OK when done.
  [[nodiscard]] Status Reconcile(coord::EtcdClient* etcd, int64_t* revision);
  void Log(const std::string& line) const {
    if (options_.log) options_.log(line);
  }
  bool stopping() const { return stop_.load(std::memory_order_acquire); }

  const DirectoryOptions options_;
  std::thread thread_;
  std::atomic<bool> stop_{false};
  std::mutex wait_mu_;
  std::condition_variable wait_cv_;
  bool said_partitions_ = false;  // the thread's: --partitions differs, logged once
  int64_t lease_ = 0;             // the thread's: the lease leadership rests on (0: none)

  mutable std::mutex mu_;
  DirectorySnapshot snap_;               // guarded by mu_
  coord::EtcdClient* client_ = nullptr;  // guarded by mu_: Abort on Stop
};

}  // namespace bale
