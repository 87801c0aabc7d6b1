// LocalObjectStore: the ObjectStore (frontend/object_store.h) of `bale serve`, over the
// partitions of this node's Store. The faces see only the interface; this is where
// their requests become Volume calls.
//
// Contract: every completion is called before Mutate (FlushAll, PutAtomic) returns.
// Lookups go through Volume::Locate with the key's hash computed once, so values in
// mapped segments are not copied and carry their segment file for sendfile. Each
// read-modify-write (add, replace, cas, append, prepend, incr, decr, delete with a
// compared version) is one Volume::Update, atomic against every other write of the key.
// In kSync durability no call here waits for fdatasync: the volumes written are
// remembered by the session, and Commit syncs them (group commit); in the other modes
// the volumes' own rules apply and Commit does nothing.
// Meta semantics: the stale mark is a needle mark (format/needle.h), so it is durable;
// win tokens and fetch state are in memory (store/meta_state.h). An explicit version
// (meta E) is the needle's version itself, accepted only above the partition's last
// version (Volume::UpdateDecision::version), so versions stay monotonic per partition.
#pragma once

#include <cstdint>
#include <memory>
#include <string_view>

#include "frontend/object_store.h"
#include "store/meta_state.h"
#include "store/store.h"

namespace bale {

// Parses a stored value as memcached 1.6's incr/decr do (strtoull on the value and its
// "\r\n"): leading white space, an optional sign, decimal digits below 2^64, then the
// end, a white space (anything may follow it) or a NUL; a minus sign is refused unless
// the negated number reads as non-negative ("-0"). False if not a number.
bool ParseCounter(std::string_view value, uint64_t* out);

class LocalObjectStore final : public ObjectStore {
 public:
  // `store` outlives this. `durability` is the volumes' (StoreOptions::volume).
  LocalObjectStore(Store* store, Durability durability);

  std::unique_ptr<ObjectSession> NewSession() override;
  Status Get(ObjectSession* session, std::string_view key, const LookupOptions& options,
             ObjectView* view) override;
  void Mutate(ObjectSession* session, const Mutation& m, MutationCompletion* done) override;
  void FlushAll(uint32_t when, ObjectSession* session, MutationCompletion* done) override;
  void PutAtomic(std::span<BatchPut> items, ObjectSession* session,
                 MutationCompletion* done) override;
  uint32_t PartitionOf(std::string_view key) const override { return store_->PartitionOf(key); }
  uint32_t partitions() const override { return store_->partitions(); }
  bool durability_sync() const override { return sync_; }
  std::string_view durability_name() const override { return DurabilityName(durability_); }
  ObjectStats Stats() const override;
  std::vector<DamageReportView> Damage() const override;
  std::vector<PartitionHealth> Health() const override;
  bool RequestCompaction() override;

 private:
  class Session;

  // The mutation, as a Status (NotFound, Exists, ...) mapped by Mutate.
  Status Apply(Session* session, const Mutation& m, MutationResult* result);
  Status Write(Session* session, Volume* v, const Mutation& m, MutationResult* result);
  Status Update(Session* session, Volume* v, const Mutation& m, MutationResult* result);
  Status Touch(Session* session, Volume* v, std::string_view key, uint32_t expiry);
  // LookupOptions::vivify_expiry: creates the empty object; *created if this call did.
  Status Vivify(Session* session, std::string_view key, const LookupOptions& options,
                bool* created);
  // LookupOptions::meta: the win token and access state of the object in *m.
  void MetaLookup(uint64_t hash, const LookupOptions& options, bool vivified, ObjectMeta* m);
  static void Finish(const Status& s, MutationResult* result);

  Store* store_;
  MetaState meta_;
  Durability durability_;
  bool sync_;
};

}  // namespace bale
