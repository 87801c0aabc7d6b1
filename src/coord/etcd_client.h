// EtcdClient: a synchronous client of etcd's v3 gRPC API (KV, Txn, Lease, Watch, Election),
// the coordination service of a bale cluster (DESIGN.md §2, issue #13).
//
// Contract:
// - Owned by one thread: every method except requests() and Abort() must be called from
//   the thread that owns the client (or under the owner's lock). requests() and Abort()
//   may be called from any thread.
// - Every call has a deadline (EtcdOptions::deadline; Campaign takes its own). Errors map
//   to Status: etcd unreachable, hung or too slow (gRPC UNAVAILABLE, DEADLINE_EXCEEDED,
//   CANCELLED) → Unavailable; a missing key, lease or leader → NotFound; anything else →
//   IOError carrying gRPC's message. Nothing throws.
// - Endpoints: Connect picks the first endpoint that answers; a call failing with
//   UNAVAILABLE is retried on the next endpoint (each endpoint once). A retried PutIf may
//   thus report "not succeeded" for a put the first attempt made: callers re-read.
// - Every RPC sent (including a keep-alive and a watch's creation) is counted in
//   requests(), so tests can show that etcd's load does not grow with client requests.
// - Abort() makes the call in flight and every later call fail with Unavailable at once
//   (until ClearAbort): a session stopping does not wait out a deadline on a hung etcd.
// - TLS: https:// endpoints are reached over TLS (gRPC's SslCredentials), the server's
//   certificate checked against EtcdOptions::ca_file (the system's roots without one) and
//   for its host name; cert_file/key_file are presented as a client certificate when
//   given (etcd's --client-cert-auth). TLS files with http:// endpoints, or a mix of
//   schemes, are InvalidArgument; so is a file that cannot be read.
// - etcd's user/password authentication (EtcdOptions::user non-empty): the client calls
//   Auth.Authenticate before its first call and sends the token it gets as the "token"
//   metadata of every call, watch and campaign; a call or watch refused for its token
//   (invalid or expired: etcd drops simple tokens after 5 idle minutes, and all of them
//   when it restarts; a watch's refusal reads "permission denied") authenticates again
//   and is retried once. A wrong user or password fails
//   the call (and Connect) with IOError "etcd authenticate: ... invalid user ID or
//   password". The password is never logged nor put in an error.
#pragma once

#include <array>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <vector>

#include "base/status.h"

namespace grpc {
class ChannelCredentials;
class ClientContext;
class Status;
}  // namespace grpc

namespace bale::coord {

class EtcdWatch;

struct EtcdOptions {
  // etcd's --endpoints form: comma-separated http://host:port or https://host:port URLs.
  std::string endpoints = "http://127.0.0.1:2379";
  std::chrono::milliseconds deadline{2000};  // per call
  // TLS (https:// endpoints): PEM files; empty: not given.
  std::string ca_file;    // the CA etcd's certificate is checked against
  std::string cert_file;  // a client certificate and its key, both or neither
  std::string key_file;
  // Authentication: empty user: none. The password itself (read from a file by the caller).
  std::string user;
  std::string password;
};

struct KeyValue {
  std::string key;
  std::string value;
  int64_t create_revision = 0;
  int64_t mod_revision = 0;
  int64_t lease = 0;
};

struct WatchEvent {
  enum class Kind { kPut, kDelete };
  Kind kind = Kind::kPut;
  std::string key;
  std::string value;  // empty for kDelete
  int64_t mod_revision = 0;
};

// The leadership Campaign won: pass it to Resign.
struct LeaderKey {
  std::string name;
  std::string key;
  int64_t rev = 0;
  int64_t lease = 0;
};

// What the client counts, by kind of RPC.
enum class EtcdRequest : int {
  kStatus,
  kRange,
  kPut,
  kDelete,
  kTxn,
  kLease,
  kKeepAlive,
  kWatch,
  kCompact,
  kElection,
  kAuthenticate,
  kCount
};

class EtcdClient {
 public:
  // Connects to the first endpoint of `options` that answers a status request.
  // InvalidArgument on a malformed endpoint list; Unavailable when none answers.
  static Status Connect(const EtcdOptions& options, std::unique_ptr<EtcdClient>* out);
  // A client that has not spoken to etcd yet (its first call connects). InvalidArgument on
  // a malformed endpoint list.
  static Status Create(const EtcdOptions& options, std::unique_ptr<EtcdClient>* out);
  ~EtcdClient();
  EtcdClient(const EtcdClient&) = delete;
  EtcdClient& operator=(const EtcdClient&) = delete;

  // KV. Get: NotFound when absent; `header_revision` (optional) is the store's revision
  // when read, from which a watch may start (+1) without missing a change.
  Status Put(std::string_view key, std::string_view value, int64_t lease_id = 0);
  Status Get(std::string_view key, std::string* value, int64_t* mod_revision,
             int64_t* header_revision = nullptr);
  // Every key starting with `prefix` (all keys when empty), in key order.
  Status Range(std::string_view prefix, std::vector<KeyValue>* out, int64_t* header_revision);
  Status Delete(std::string_view key);  // OK whether or not the key was there
  // Drops the history before `revision`: watches from before it get NotFound.
  Status Compact(int64_t revision);

  // Puts `value` only if the key's mod_revision is `expected_mod_revision` (0: only if the
  // key is absent), in one transaction. On success `new_revision` is the put's revision;
  // otherwise `succeeded` is false and `new_revision` the key's current mod_revision (0
  // when absent). OK either way: the status says only whether etcd answered.
  Status PutIf(std::string_view key, std::string_view value, int64_t expected_mod_revision,
               bool* succeeded, int64_t* new_revision, int64_t lease_id = 0);

  // Leases. etcd may grant a longer TTL than asked (its minimum); read granted_ttl.
  Status GrantLease(int64_t ttl_seconds, int64_t* id, int64_t* granted_ttl);
  // Renews the lease once: `ttl` is its TTL again. NotFound when the lease is gone.
  Status KeepAliveOnce(int64_t id, int64_t* ttl);
  Status RevokeLease(int64_t id);  // NotFound when the lease is gone

  // A watch of `key` (or every key under it when `prefix`) from `start_revision` (0: from
  // now). Unavailable when the stream cannot be set up; NotFound when start_revision was
  // compacted (read everything with Range, then watch from its header revision + 1).
  Status Watch(std::string_view key, bool prefix, int64_t start_revision,
               std::unique_ptr<EtcdWatch>* out);

  // Election (v3election). Campaign blocks until this caller leads `name` or `deadline`
  // passes (Unavailable); leadership lasts as long as `lease_id`, which the caller keeps
  // alive. Leader: NotFound when nobody leads.
  Status Campaign(std::string_view name, std::string_view value, int64_t lease_id,
                  std::chrono::milliseconds deadline, LeaderKey* out);
  Status Leader(std::string_view name, std::string* value);
  Status Resign(const LeaderKey& leader);

  // Thread-safe. RPCs sent, in all or of one kind.
  uint64_t requests() const;
  uint64_t requests(EtcdRequest kind) const {
    return requests_[static_cast<int>(kind)].load(std::memory_order_relaxed);
  }
  // Thread-safe. Cancels the call in flight; later calls fail with Unavailable until
  // ClearAbort (owner thread only).
  void Abort();
  void ClearAbort();
  // The deadline of later calls (Campaign's excepted).
  void set_deadline(std::chrono::milliseconds d) { deadline_ = d; }
  const std::string& endpoint() const;  // the one in use, host:port

  struct Stubs;  // the channels and generated stubs (etcd_client.cc)

 private:
  EtcdClient(const EtcdOptions& options, std::vector<std::string> endpoints,
             std::shared_ptr<grpc::ChannelCredentials> creds);
  // Runs `rpc` with a fresh context and the client's deadline, retrying on the next
  // endpoint when it fails with UNAVAILABLE.
  template <typename Rpc>
  Status Call(EtcdRequest kind, std::string_view what, Rpc&& rpc);
  // Call's attempts, without authenticating first.
  template <typename Rpc>
  grpc::Status Attempt(EtcdRequest kind, Rpc&& rpc);
  // Gets a token for options_.user (when there is one and no token yet, or `again`).
  Status Authenticate(bool again);
  // Watch's attempt (Watch authenticates again once when etcd refuses the token).
  Status WatchOnce(std::string_view key, bool prefix, int64_t start_revision,
                   std::unique_ptr<EtcdWatch>* out);
  // Adds the token's metadata to a call's context (when there is a token).
  void AddToken(grpc::ClientContext* ctx) const;
  // Registers `ctx` as the call in flight (false when aborted); Unregister clears it.
  bool Register(grpc::ClientContext* ctx);
  // After UNAVAILABLE: makes endpoint i's channel afresh (at most once a second).
  void ResetChannel(size_t i);
  void Unregister();
  void Count(EtcdRequest kind) {
    requests_[static_cast<int>(kind)].fetch_add(1, std::memory_order_relaxed);
  }

  const EtcdOptions options_;
  std::chrono::milliseconds deadline_;
  const std::vector<std::string> endpoints_;  // host:port
  const std::shared_ptr<grpc::ChannelCredentials> creds_;
  size_t current_ = 0;  // index into endpoints_ and stubs_
  std::vector<std::unique_ptr<Stubs>> stubs_;
  std::string token_;  // etcd's auth token (options_.user), owner thread only
  std::array<std::atomic<uint64_t>, static_cast<int>(EtcdRequest::kCount)> requests_{};

  std::mutex inflight_mu_;
  grpc::ClientContext* inflight_ = nullptr;  // guarded by inflight_mu_
  bool aborted_ = false;                     // guarded by inflight_mu_
};

// Splits etcd's --endpoints form into host:port strings; *tls (optional): they are
// https://. InvalidArgument when an entry is not http://host:port or https://host:port,
// or when the schemes are mixed.
Status ParseEndpoints(std::string_view endpoints, std::vector<std::string>* out,
                      bool* tls = nullptr);

// The key just past every key starting with `prefix` (etcd's range_end for a prefix).
std::string PrefixEnd(std::string_view prefix);

}  // namespace bale::coord
