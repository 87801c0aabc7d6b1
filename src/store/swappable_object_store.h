// SwappableObjectStore: an ObjectStore that forwards every call to the one set last, so
// that a store node can open its partitions after it started serving (a new node is
// given partitions only once it has registered) without closing the connections routers
// already hold to it.
//
// Contract: Set may be called from any thread, and the stores set must outlive this one
// (the node keeps every store it set until it exits). A session made here forwards to a
// session of the store current when it is used: the first call after a Set makes a new
// inner session on the caller's (loop) thread; a commit pending on the old one is
// committed first. One atomic load per call.
#pragma once

#include <atomic>
#include <memory>

#include "frontend/object_store.h"

namespace bale {

class SwappableObjectStore final : public ObjectStore {
 public:
  explicit SwappableObjectStore(ObjectStore* first) : current_(first) {}
  void Set(ObjectStore* store) { current_.store(store, std::memory_order_release); }
  ObjectStore* current() const { return current_.load(std::memory_order_acquire); }

  std::unique_ptr<ObjectSession> NewSession() override { return std::make_unique<Session>(this); }
  Status Get(ObjectSession* s, std::string_view key, const LookupOptions& o,
             ObjectView* view) override {
    auto* session = Follow(s);
    return session->store->Get(session->inner.get(), key, o, view);
  }
  void Prefetch(ObjectSession* s, std::string_view keys, const LookupOptions& o) override {
    auto* session = Follow(s);
    session->store->Prefetch(session->inner.get(), keys, o);
  }
  void Mutate(ObjectSession* s, const Mutation& m, MutationCompletion* done) override {
    auto* session = Follow(s);
    session->store->Mutate(session->inner.get(), m, done);
  }
  void FlushAll(uint32_t when, ObjectSession* s, MutationCompletion* done) override {
    auto* session = Follow(s);
    session->store->FlushAll(when, session->inner.get(), done);
  }
  void PutAtomic(std::span<BatchPut> items, ObjectSession* s, MutationCompletion* done) override {
    auto* session = Follow(s);
    session->store->PutAtomic(items, session->inner.get(), done);
  }
  bool Colocated(std::string_view a, std::string_view b) const override {
    return current()->Colocated(a, b);
  }
  uint32_t PartitionOf(std::string_view key) const override { return current()->PartitionOf(key); }
  uint32_t partitions() const override { return current()->partitions(); }
  bool durability_sync() const override { return current()->durability_sync(); }
  std::string_view durability_name() const override { return current()->durability_name(); }
  ObjectStats Stats() const override { return current()->Stats(); }
  std::vector<DamageReportView> Damage() const override { return current()->Damage(); }
  std::vector<PartitionHealth> Health() const override { return current()->Health(); }
  bool RequestCompaction() override { return current()->RequestCompaction(); }

 private:
  struct Session final : public ObjectSession {
    explicit Session(SwappableObjectStore* owner)
        : store(owner->current()), inner(store->NewSession()) {}
    bool commit_pending() const override { return inner->commit_pending(); }
    Status Commit() override { return inner->Commit(); }
    void TrimBuffers(size_t max_bytes) override { inner->TrimBuffers(max_bytes); }

    ObjectStore* store;
    std::unique_ptr<ObjectSession> inner;
  };

  Session* Follow(ObjectSession* s) {
    auto* session = static_cast<Session*>(s);
    ObjectStore* now = current();
    if (session->store != now) {
      if (session->inner->commit_pending()) (void)session->inner->Commit();
      session->store = now;
      session->inner = now->NewSession();
    }
    return session;
  }

  std::atomic<ObjectStore*> current_;
};

}  // namespace bale
