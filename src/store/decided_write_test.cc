// Decide, then append: a primary volume's decided writes applied to a replica volume.
#include "store/decided_write.h"

#include <gtest/gtest.h>

#include <atomic>
#include <string>
#include <vector>

#include "format/superblock.h"
#include "same_object.h"
#include "store/volume.h"
#include "test_util.h"

namespace bale {
namespace {

using testing::ExpectSameObject;
using testing::TempDir;

struct Pair {
  TempDir dir;
  std::atomic<uint32_t> now{1700000000};
  std::unique_ptr<Volume> primary, replica;
  DecidedWrite d;

  VolumeOptions Options(const std::string& name) {
    VolumeOptions o;
    o.dir = dir.Sub(name);
    o.durability = Durability::kNone;
    o.clock = [this] { return now.load(); };
    return o;
  }
  void Open() {
    ASSERT_TRUE(Volume::Open(Options("primary"), &primary).ok());
    ASSERT_TRUE(Volume::Open(Options("replica"), &replica).ok());
  }
  // What the primary just decided, appended to the replica.
  void Forward() {
    Status s = replica->AppendDecided(d);
    ASSERT_TRUE(s.ok()) << s.ToString();
  }
  void Write(std::vector<WriteOp> ops) {
    ASSERT_TRUE(primary->Write(ops, /*wait=*/true, &d).ok());
    Forward();
  }
};

std::string Big(size_t n, char seed) {
  std::string v(n, '\0');
  for (size_t i = 0; i < n; i++) v[i] = static_cast<char>(seed + i * 31 % 251);
  return v;
}

WriteOp Set(std::string_view key, std::string_view value, std::string_view content_type = {},
            uint32_t expiry = 0) {
  WriteOp op;
  op.key = key;
  op.value = value;
  op.content_type = content_type;
  op.flags = 7;
  op.expiry = expiry;
  return op;
}

// The head segments' needles are the same bytes but for their checksums, which are
// seeded with each segment's own salt.
void ExpectSameNeedles(const std::string& a_dir, const std::string& b_dir) {
  std::string a, b;
  std::string name = "/" + format::SegmentFileName(1, 0);
  ASSERT_TRUE(ReadWholeFile(Env::Default(), a_dir + name, &a).ok());
  ASSERT_TRUE(ReadWholeFile(Env::Default(), b_dir + name, &b).ok());
  ASSERT_EQ(a.size(), b.size());
  int needles = 0;
  for (size_t at = format::kSuperblockSize; at < a.size(); needles++) {
    format::NeedleHeader h;
    ASSERT_TRUE(format::DecodeNeedleHeader(std::string_view(a).substr(at), &h).ok());
    size_t n = format::NeedleSize(h);
    EXPECT_EQ(a.substr(at, 4), b.substr(at, 4)) << at;
    EXPECT_EQ(a.substr(at + 8, n - 8), b.substr(at + 8, n - 8)) << at;
    at += n;
  }
  EXPECT_GT(needles, 0);
}

TEST(DecidedWrite, ReplicaAppendsWhatThePrimaryDecided) {
  Pair p;
  p.Open();
  const std::string large = Big(Volume::kDirectValueBytes + 4097, 'x');  // spliced
  p.Write({Set("a", "1"), Set("b", "two", "text/plain", 1700000100), Set("big", large)});
  EXPECT_EQ(p.d.records().size(), 3u);
  p.Write({Set("a", "overwritten"), WriteOp{.key = "b", .tombstone = true}});
  // add of a taken key: nothing appended, nothing forwarded but an empty decision.
  WriteOp add = Set("a", "no");
  add.only_if_absent = true;
  ASSERT_TRUE(p.primary->Write(std::span<WriteOp>(&add, 1), true, &p.d).ok());
  EXPECT_TRUE(add.status.IsExists());
  EXPECT_TRUE(p.d.empty());
  p.Forward();
  // Update (append), as memcached's append would.
  uint64_t version = 0;
  std::string v;
  ASSERT_TRUE(p.primary
                  ->Update(
                      "a",
                      [&v](const ReadResult* cur, UpdateDecision* d) {
                        v = std::string(cur->value()) + "+more";
                        d->action = UpdateDecision::Action::kPut;
                        d->value = v;
                        d->flags = cur->header().flags;
                        d->cookie = cur->header().cookie;
                      },
                      &version, true, &p.d)
                  .ok());
  EXPECT_EQ(p.d.max_version(), version);
  p.Forward();
  // Touch: a small record naming the value's needle.
  p.now += 10;
  ASSERT_TRUE(p.primary->Touch("big", 1700000500, true, &p.d).ok());
  ASSERT_TRUE(p.d.has_touch());
  p.Forward();

  for (std::string_view key : {"a", "b", "big", "never"})
    ExpectSameObject(p.primary.get(), p.replica.get(), key);
  ReadResult r;
  ASSERT_TRUE(p.replica->Get("big", &r).ok());
  EXPECT_EQ(r.value(), large);
  EXPECT_EQ(r.header().expiry, 1700000500u);
  ExpectSameNeedles(p.Options("primary").dir, p.Options("replica").dir);

  // The replica's own writes never reuse a version the primary handed out.
  WriteOp own = Set("own", "x");
  ASSERT_TRUE(p.replica->Put(own).ok());
  EXPECT_GT(own.version, p.primary->Stats().last_version);

  // And all of it survives the replica's restart (recovery reads what was appended).
  ASSERT_TRUE(p.replica->Close().ok());
  p.replica.reset();
  ASSERT_TRUE(Volume::Open(p.Options("replica"), &p.replica).ok());
  for (std::string_view key : {"a", "b", "big"})
    ExpectSameObject(p.primary.get(), p.replica.get(), key);
}

TEST(DecidedWrite, TravelsAsBytes) {
  Pair p;
  p.Open();
  const std::string large = Big(Volume::kDirectValueBytes * 2, 'q');
  std::vector<WriteOp> ops = {Set("k1", "v1", "image/png"), Set("k2", large)};
  ASSERT_TRUE(p.primary->Write(ops, true, &p.d).ok());
  std::string wire;
  p.d.AppendTo(&wire);
  EXPECT_EQ(wire.size(), p.d.size());
  DecidedWrite received;
  ASSERT_TRUE(received.Assign(p.d.salt(), wire).ok());
  ASSERT_EQ(received.records().size(), 2u);
  EXPECT_EQ(received.max_version(), p.d.max_version());
  std::string again;
  received.AppendTo(&again);
  EXPECT_EQ(again, wire);  // the same bytes, byte for byte
  ASSERT_TRUE(p.replica->AppendDecided(received).ok());
  ExpectSameObject(p.primary.get(), p.replica.get(), "k1");
  ExpectSameObject(p.primary.get(), p.replica.get(), "k2");

  // Own() copies the spliced value in: the same bytes without the caller's memory.
  DecidedWrite owned = p.d;
  owned.Own();
  std::string owned_bytes;
  owned.AppendTo(&owned_bytes);
  EXPECT_EQ(owned_bytes, wire);

  // A flipped bit is caught before anything is appended.
  wire[wire.size() / 2] ^= 1;
  EXPECT_TRUE(received.Assign(p.d.salt(), wire).IsCorruption());
  EXPECT_TRUE(received.empty());
  EXPECT_TRUE(received.Assign(p.d.salt(), std::string_view(wire).substr(0, 20)).IsCorruption());
}

TEST(DecidedWrite, TouchOfAnObjectTheReplicaLacksAppendsNothing) {
  Pair p;
  p.Open();
  std::vector<WriteOp> ops = {Set("t", "v")};
  ASSERT_TRUE(p.primary->Write(ops, true, &p.d).ok());  // not forwarded
  ASSERT_TRUE(p.primary->Touch("t", 1700009999, true, &p.d).ok());
  uint64_t before = p.replica->Stats().disk_bytes;
  EXPECT_TRUE(p.replica->AppendDecided(p.d).IsCorruption());
  EXPECT_EQ(p.replica->Stats().disk_bytes, before);
  ReadResult r;
  EXPECT_TRUE(p.replica->Get("t", &r).IsNotFound());
}

TEST(DecidedWrite, UnavailableVolumesRefuse) {
  Pair p;
  p.Open();
  std::vector<WriteOp> ops = {Set("k", "v")};
  ASSERT_TRUE(p.primary->Write(ops, true, &p.d).ok());
  std::unique_ptr<Volume> not_held = Volume::NotHeld(p.Options("other"));
  EXPECT_TRUE(not_held->AppendDecided(p.d).IsUnavailable());
  EXPECT_TRUE(not_held->Damage().empty());
}

}  // namespace
}  // namespace bale
