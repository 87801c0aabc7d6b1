// CoordSession: a process's standing presence in etcd (issue #13). One thread owns an
// EtcdClient and keeps, for as long as the session runs:
// - a lease (ttl_seconds, at least 5), kept alive every TTL/3, with the session's leased keys
//   put under it (a store node's `/bale/<cluster>/nodes/<id>` registration): while the process
//   lives the keys are there, and they vanish one TTL after it dies or hangs;
// - a watch of one key (the cluster map's), calling on_change(value, mod_revision) on the
//   session's thread once at start (("", 0) when the key is absent) and then each time the
//   key changes (a delete is ("", 0) too). A change made while etcd was away is reported once
//   etcd is back; a value is never reported twice in a row.
//
// Contract:
// - Start() returns at once; the thread connects (and reconnects) on its own, retrying with
//   a backoff of at most max_backoff. connected() says whether etcd answers now.
//   reconnects() counts the times it came back after being lost.
// - After etcd comes back, the leased keys are put again (under a new lease if the old one
//   expired meanwhile), so a node's registration reappears.
// - Stop() is prompt (well under a second, even with etcd hung): it aborts the call in flight,
//   joins the thread, and, when etcd answers, revokes the lease so the keys go at once.
// - requests() counts every RPC sent to etcd: with nothing changing it grows only by the
//   keep-alives (one per TTL/3), whatever the process's own load.
// - UpdateKey(key, value) changes (or adds) a leased key; the session's thread puts it.
// - Every public method is thread-safe; on_change runs on the session's thread only.
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <thread>

#include "base/status.h"
#include "coord/etcd_client.h"

namespace bale::coord {

class EtcdWatch;

struct CoordSessionOptions {
  EtcdOptions etcd;
  int64_t ttl_seconds = 10;  // raised to 5 if lower
  std::map<std::string, std::string> leased_keys;
  std::string watch_key;  // empty: watch nothing
  std::function<void(const std::string& value, int64_t mod_revision)> on_change;
  std::chrono::milliseconds max_backoff{1000};
};

class CoordSession {
 public:
  explicit CoordSession(CoordSessionOptions options);
  ~CoordSession();  // Stop()
  CoordSession(const CoordSession&) = delete;
  CoordSession& operator=(const CoordSession&) = delete;

  void Start();
  void Stop();

  bool connected() const { return connected_.load(); }
  uint64_t reconnects() const { return reconnects_.load(); }
  uint64_t requests() const;
  std::string last_error() const;  // why etcd was last lost (or could not be used)
  int64_t lease_id() const { return lease_id_.load(); }
  // Puts `key` = `value` under the session's lease (now if connected, else once it is).
  void UpdateKey(const std::string& key, const std::string& value);

 private:
  void Run();
  // One connected stretch: returns when etcd is lost (the status says how) or on Stop.
  Status Serve();
  Status EnsureLease();
  Status PutKeys();
  Status ReadWatchedKey(int64_t* header_revision);
  Status OpenWatch(int64_t start_revision);
  Status KeepAlive();
  void Report(const std::string& value, int64_t mod_revision);
  // Waits up to `d` for Stop (or, with `or_update`, an UpdateKey); true when stopping.
  bool WaitStop(std::chrono::milliseconds d, bool or_update);

  const CoordSessionOptions options_;
  const int64_t ttl_seconds_;
  std::thread thread_;
  std::unique_ptr<EtcdClient> client_;  // the session thread's, set under mu_
  std::unique_ptr<EtcdWatch> watch_;    // the session thread's, set under mu_

  mutable std::mutex mu_;
  std::condition_variable cv_;
  bool stopping_ = false;                    // guarded by mu_
  std::map<std::string, std::string> keys_;  // guarded by mu_
  bool keys_dirty_ = false;                  // guarded by mu_: UpdateKey since the last put
  std::string last_error_;                   // guarded by mu_

  std::atomic<bool> connected_{false};
  std::atomic<uint64_t> reconnects_{0};
  std::atomic<int64_t> lease_id_{0};
  int64_t granted_ttl_ = 0;
  bool ever_connected_ = false;
  bool reported_ = false;  // on_change was called at least once
  int64_t reported_revision_ = 0;
  std::chrono::steady_clock::time_point next_keepalive_;
};

}  // namespace bale::coord
