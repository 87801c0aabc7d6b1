#include "directory/directory.h"

#include <chrono>

#include "cluster/map_codec.h"
#include "coord/etcd_watch.h"

namespace bale {

using std::chrono::milliseconds;
using Clock = std::chrono::steady_clock;

std::string ClusterPrefix(std::string_view cluster) {
  return "/bale/" + std::string(cluster) + "/";
}
std::string MapKey(std::string_view cluster) { return ClusterPrefix(cluster) + "map"; }
std::string NodesPrefix(std::string_view cluster) { return ClusterPrefix(cluster) + "nodes/"; }
std::string ElectionName(std::string_view cluster) { return ClusterPrefix(cluster) + "directory"; }

void Directory::Start() {
  stop_.store(false);
  thread_ = std::thread([this] { Run(); });
}

void Directory::Stop() {
  if (!thread_.joinable()) return;
  stop_.store(true, std::memory_order_release);
  {
    std::lock_guard<std::mutex> l(mu_);
    if (client_ != nullptr) client_->Abort();
  }
  wait_cv_.notify_all();
  thread_.join();
}

DirectorySnapshot Directory::Snapshot() const {
  std::lock_guard<std::mutex> l(mu_);
  DirectorySnapshot s = snap_;
  if (client_ != nullptr) s.etcd_requests += client_->requests();
  return s;
}

void Directory::Run() {
  uint64_t requests_before = 0;  // of clients already closed
  bool said_unreachable = false;
  while (!stopping()) {
    std::unique_ptr<coord::EtcdClient> etcd;
    Status s = coord::EtcdClient::Connect(options_.etcd, &etcd);
    if (!s.ok()) {
      if (!said_unreachable) Log("etcd unreachable: " + s.ToString() + " (retrying every second)");
      said_unreachable = true;
      std::unique_lock<std::mutex> l(wait_mu_);
      wait_cv_.wait_for(l, milliseconds(1000), [this] { return stopping(); });
      continue;
    }
    said_unreachable = false;
    {
      std::lock_guard<std::mutex> l(mu_);
      client_ = etcd.get();
      snap_.connected = true;
      if (stopping()) etcd->Abort();
    }
    Session(etcd.get());
    std::lock_guard<std::mutex> l(mu_);
    client_ = nullptr;
    requests_before += etcd->requests();
    snap_.etcd_requests = requests_before;
    snap_.connected = false;
    snap_.leading = false;
    if (!stopping()) snap_.etcd_reconnects++;
  }
}

void Directory::Session(coord::EtcdClient* etcd) {
  // The lease of the last session if it still lives (etcd came back before it expired):
  // its election key is then still ours, and leadership resumes at once.
  int64_t ttl = 0;
  if (lease_ == 0 || !etcd->KeepAliveOnce(lease_, &ttl).ok()) {
    lease_ = 0;
    if (!etcd->GrantLease(options_.lease_ttl_s, &lease_, &ttl).ok()) return;
  }
  const int64_t lease = lease_;
  milliseconds period(std::max<int64_t>(1000, ttl * 1000 / 3));
  while (!stopping()) {
    coord::LeaderKey key;
    Status s = etcd->Campaign(ElectionName(options_.cluster), options_.name, lease, period, &key);
    if (s.ok()) {
      // etcd names the campaign's key after the lease, and removes the key of a campaign
      // that ended at its deadline a moment after that call returned: a campaign on the
      // same lease right after may have its key removed under it. Lead only when etcd
      // names this directory as the leader.
      std::string leader;
      if (!etcd->Leader(ElectionName(options_.cluster), &leader).ok() || leader != options_.name) {
        std::unique_lock<std::mutex> l(wait_mu_);
        wait_cv_.wait_for(l, milliseconds(200), [this] { return stopping(); });
        continue;
      }
      Lead(etcd, lease);  // until stopped, or the lease or etcd is lost: a new session
      break;
    }
    if (stopping() || !s.IsUnavailable()) break;
    {  // let etcd remove the cancelled campaign's key before campaigning again
      std::unique_lock<std::mutex> l(wait_mu_);
      wait_cv_.wait_for(l, milliseconds(200), [this] { return stopping(); });
    }
    // The campaign's deadline passed (another directory leads): renew the lease, note the
    // leader, and campaign again.
    int64_t left = 0;
    if (!etcd->KeepAliveOnce(lease, &left).ok()) return;  // a new session
    std::string leader;
    if (etcd->Leader(ElectionName(options_.cluster), &leader).ok()) {
      std::lock_guard<std::mutex> l(mu_);
      snap_.leader = leader;
    }
  }
  if (stopping()) {
    // The client was aborted; a short-lived one gives the lease back, so that a standby
    // takes over now rather than when the lease would have expired.
    coord::EtcdOptions quick = options_.etcd;
    quick.deadline = milliseconds(1000);
    std::unique_ptr<coord::EtcdClient> last;
    if (coord::EtcdClient::Connect(quick, &last).ok()) (void)last->RevokeLease(lease);
  }
}

void Directory::Lead(coord::EtcdClient* etcd, int64_t lease) {
  {
    std::lock_guard<std::mutex> l(mu_);
    snap_.leading = true;
    snap_.leader = options_.name;
    snap_.elections_won++;
  }
  Log("leading the cluster '" + options_.cluster + "'");
  milliseconds period(std::max<int64_t>(1000, options_.lease_ttl_s * 1000 / 3));
  Clock::time_point next_keepalive = Clock::now() + period;
  bool keep_leading = true;
  while (!stopping() && keep_leading) {
    int64_t revision = 0;
    Status s = Reconcile(etcd, &revision);
    if (s.IsUnavailable()) break;
    std::unique_ptr<coord::EtcdWatch> watch;
    if (s.ok()) s = etcd->Watch(ClusterPrefix(options_.cluster), true, revision + 1, &watch);
    if (!s.ok()) {
      if (s.IsUnavailable()) break;
      Log("reconciling the map: " + s.ToString());
      std::unique_lock<std::mutex> l(wait_mu_);
      wait_cv_.wait_for(l, period, [this] { return stopping(); });
      continue;
    }
    while (!stopping()) {
      auto wait = std::chrono::duration_cast<milliseconds>(next_keepalive - Clock::now());
      std::vector<coord::WatchEvent> events;
      int64_t watched = 0;
      Status w = watch->Next(std::max(wait, milliseconds(0)), &events, &watched);
      if (stopping()) break;
      if (Clock::now() >= next_keepalive) {
        int64_t left = 0;
        Status k = etcd->KeepAliveOnce(lease, &left);
        if (!k.ok()) {
          Log("lost the lease that leadership rests on: " + k.ToString());
          keep_leading = false;
          break;
        }
        next_keepalive = Clock::now() + period;
      }
      if (!w.ok()) break;  // re-read everything and watch again
      if (!events.empty()) {
        Status r = Reconcile(etcd, &revision);
        if (r.IsUnavailable()) {
          keep_leading = false;
          break;
        }
      }
    }
  }
  std::lock_guard<std::mutex> l(mu_);
  snap_.leading = false;
}

Status Directory::Reconcile(coord::EtcdClient* etcd, int64_t* revision) {
  std::vector<coord::KeyValue> kvs;
  Status s = etcd->Range(NodesPrefix(options_.cluster), &kvs, revision);
  if (!s.ok()) return s;
  std::vector<ClusterNode> registered;
  for (const coord::KeyValue& kv : kvs) {
    ClusterNode n;
    Status d = DecodeNode(kv.value, &n);
    if (d.ok()) {
      registered.push_back(std::move(n));
    } else {
      Log("ignoring " + kv.key + ": " + d.ToString());
    }
  }
  std::string text;
  int64_t map_revision = 0;
  ClusterMap current;
  s = etcd->Get(MapKey(options_.cluster), &text, &map_revision);
  bool fresh = s.IsNotFound();
  if (fresh) {
    current = NewClusterMap(options_.partitions);
  } else if (!s.ok()) {
    return s;
  } else {
    s = DecodeMap(text, "", &current);
    if (!s.ok()) return Status::Corruption(MapKey(options_.cluster) + ": " + s.ToString());
    if (current.partition_count() != options_.partitions && !said_partitions_) {
      Log("the cluster has " + std::to_string(current.partition_count()) +
          " partitions, fixed when it was created: --partitions " +
          std::to_string(options_.partitions) + " is ignored");
      said_partitions_ = true;
    }
  }
  ClusterMap next;
  bool changed = NextMap(current, registered, options_.plan, &next);
  if (!changed && !fresh) {
    std::lock_guard<std::mutex> l(mu_);
    snap_.map_json = text;
    snap_.epoch = current.epoch();
    return Status::OK();
  }
  if (!changed) next = current;
  std::string encoded = EncodeMap(next);
  bool succeeded = false;
  int64_t written = 0;
  s = etcd->PutIf(MapKey(options_.cluster), encoded, fresh ? 0 : map_revision, &succeeded,
                  &written);
  if (!s.ok()) return s;
  if (!succeeded) return Status::OK();  // changed meanwhile: the watch brings it back
  uint32_t up = 0, placed = 0;
  for (const ClusterNode& n : next.nodes()) up += n.up ? 1 : 0;
  for (uint32_t p = 0; p < next.partition_count(); p++) placed += next.OwnerOf(p) ? 1 : 0;
  Log("map epoch " + std::to_string(next.epoch()) + ": " + std::to_string(up) + " of " +
      std::to_string(next.nodes().size()) + " nodes up, " + std::to_string(placed) + " of " +
      std::to_string(next.partition_count()) + " partitions placed");
  std::lock_guard<std::mutex> l(mu_);
  snap_.map_json = std::move(encoded);
  snap_.epoch = next.epoch();
  snap_.map_writes++;
  return Status::OK();
}

}  // namespace bale
