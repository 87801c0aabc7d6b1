#include "coord/coord_session.h"

#include <algorithm>
#include <utility>
#include <vector>

#include "coord/etcd_watch.h"

namespace bale::coord {

using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;

namespace {

constexpr int64_t kMinTtlSeconds = 5;
// How long revoking the lease on Stop may take: a hung etcd must not hold Stop up.
constexpr std::chrono::milliseconds kRevokeDeadline = 300ms;
constexpr std::chrono::milliseconds kFirstBackoff = 100ms;

}  // namespace

CoordSession::CoordSession(CoordSessionOptions options)
    : options_(std::move(options)),
      ttl_seconds_(std::max(options_.ttl_seconds, kMinTtlSeconds)),
      keys_(options_.leased_keys) {}

CoordSession::~CoordSession() { Stop(); }

void CoordSession::Start() {
  std::lock_guard lock(mu_);
  if (thread_.joinable() || stopping_) return;
  Status s = EtcdClient::Create(options_.etcd, &client_);
  if (!s.ok()) {
    client_.reset();  // a malformed endpoint list: the thread ends at once
    last_error_ = s.ToString();
  }
  thread_ = std::thread([this] { Run(); });
}

void CoordSession::Stop() {
  {
    std::lock_guard lock(mu_);
    stopping_ = true;
    if (client_) client_->Abort();
    if (watch_) watch_->Interrupt();
    cv_.notify_all();
  }
  if (thread_.joinable()) thread_.join();
}

std::string CoordSession::last_error() const {
  std::lock_guard lock(mu_);
  return last_error_;
}

uint64_t CoordSession::requests() const {
  std::lock_guard lock(mu_);
  return client_ ? client_->requests() : 0;
}

void CoordSession::UpdateKey(const std::string& key, const std::string& value) {
  std::lock_guard lock(mu_);
  keys_[key] = value;
  keys_dirty_ = true;
  if (watch_) watch_->Interrupt();
  cv_.notify_all();
}

bool CoordSession::WaitStop(std::chrono::milliseconds d, bool or_update) {
  std::unique_lock lock(mu_);
  cv_.wait_for(lock, d, [&] { return stopping_ || (or_update && keys_dirty_); });
  return stopping_;
}

void CoordSession::Run() {
  auto backoff = kFirstBackoff;
  while (client_ != nullptr && !WaitStop(0ms, false)) {
    Status s = Serve();  // returns when etcd is lost, or on Stop
    bool was_connected = connected_.exchange(false);
    {
      std::lock_guard lock(mu_);
      watch_.reset();
      last_error_ = s.ToString();
    }
    if (was_connected) backoff = kFirstBackoff;
    if (WaitStop(backoff, false)) break;
    backoff = std::min(2 * backoff, options_.max_backoff);
  }
  {
    std::lock_guard lock(mu_);
    watch_.reset();
  }
  connected_ = false;
  if (client_ != nullptr && lease_id_.load() != 0) {
    // A clean stop: the node's keys go now, not one TTL later.
    client_->ClearAbort();
    client_->set_deadline(kRevokeDeadline);
    (void)client_->RevokeLease(lease_id_.load());
    lease_id_ = 0;
  }
}

Status CoordSession::Serve() {
  BALE_RETURN_IF_ERROR(EnsureLease());
  BALE_RETURN_IF_ERROR(PutKeys());
  int64_t header_revision = 0;
  BALE_RETURN_IF_ERROR(ReadWatchedKey(&header_revision));
  if (!options_.watch_key.empty()) BALE_RETURN_IF_ERROR(OpenWatch(header_revision + 1));
  if (ever_connected_) reconnects_++;
  ever_connected_ = true;
  connected_ = true;
  while (true) {
    {
      std::lock_guard lock(mu_);
      if (stopping_) return Status::OK();
    }
    if (Clock::now() >= next_keepalive_) BALE_RETURN_IF_ERROR(KeepAlive());
    bool dirty = false;
    {
      std::lock_guard lock(mu_);
      dirty = keys_dirty_;
    }
    if (dirty) BALE_RETURN_IF_ERROR(PutKeys());
    auto wait =
        std::chrono::duration_cast<std::chrono::milliseconds>(next_keepalive_ - Clock::now());
    wait = std::max(wait, 0ms);
    if (watch_ == nullptr) {
      WaitStop(wait, true);
      continue;
    }
    std::vector<WatchEvent> events;
    int64_t revision = 0;
    Status s = watch_->Next(wait, &events, &revision);
    if (s.IsNotFound()) {  // compacted: read the key afresh and watch from there
      BALE_RETURN_IF_ERROR(ReadWatchedKey(&header_revision));
      BALE_RETURN_IF_ERROR(OpenWatch(header_revision + 1));
      continue;
    }
    BALE_RETURN_IF_ERROR(s);
    for (const WatchEvent& e : events) {
      if (e.kind == WatchEvent::Kind::kDelete) {
        Report("", 0);
      } else {
        Report(e.value, e.mod_revision);
      }
    }
  }
}

Status CoordSession::EnsureLease() {
  if (lease_id_.load() != 0) {
    Status s = KeepAlive();  // the lease may have outlived etcd's absence
    if (!s.IsNotFound()) return s;
  }
  int64_t id = 0;
  BALE_RETURN_IF_ERROR(client_->GrantLease(ttl_seconds_, &id, &granted_ttl_));
  lease_id_ = id;
  next_keepalive_ = Clock::now() + std::chrono::milliseconds(granted_ttl_ * 1000 / 3);
  return Status::OK();
}

Status CoordSession::KeepAlive() {
  int64_t ttl = 0;
  Status s = client_->KeepAliveOnce(lease_id_.load(), &ttl);
  if (s.IsNotFound()) {
    // The lease expired (etcd was away longer than its TTL): a new one, the keys again.
    lease_id_ = 0;
    BALE_RETURN_IF_ERROR(EnsureLease());
    return PutKeys();
  }
  BALE_RETURN_IF_ERROR(s);
  granted_ttl_ = ttl;
  next_keepalive_ = Clock::now() + std::chrono::milliseconds(ttl * 1000 / 3);
  return Status::OK();
}

Status CoordSession::PutKeys() {
  std::map<std::string, std::string> keys;
  {
    std::lock_guard lock(mu_);
    keys = keys_;
    keys_dirty_ = false;
  }
  for (const auto& [key, value] : keys) {
    Status s = client_->Put(key, value, lease_id_.load());
    if (!s.ok()) {
      std::lock_guard lock(mu_);
      keys_dirty_ = true;  // put them again once etcd answers
      return s;
    }
  }
  return Status::OK();
}

Status CoordSession::ReadWatchedKey(int64_t* header_revision) {
  if (options_.watch_key.empty()) return Status::OK();
  std::string value;
  int64_t mod_revision = 0;
  Status s = client_->Get(options_.watch_key, &value, &mod_revision, header_revision);
  if (s.IsNotFound()) {
    Report("", 0);
    return Status::OK();
  }
  BALE_RETURN_IF_ERROR(s);
  Report(value, mod_revision);
  return Status::OK();
}

Status CoordSession::OpenWatch(int64_t start_revision) {
  std::unique_ptr<EtcdWatch> watch;
  {
    std::lock_guard lock(mu_);
    watch_.reset();
  }
  BALE_RETURN_IF_ERROR(client_->Watch(options_.watch_key, false, start_revision, &watch));
  std::lock_guard lock(mu_);
  watch_ = std::move(watch);
  if (stopping_) watch_->Interrupt();
  return Status::OK();
}

void CoordSession::Report(const std::string& value, int64_t mod_revision) {
  if (reported_ && mod_revision == reported_revision_) return;
  reported_ = true;
  reported_revision_ = mod_revision;
  if (options_.on_change) options_.on_change(value, mod_revision);
}

}  // namespace bale::coord
