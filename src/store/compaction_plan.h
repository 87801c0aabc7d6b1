// CompactionPlan: what one compaction decided, for another volume to carry out.
//
// A compaction (Volume::Compact, store/compaction.cc) decides each record's fate by its
// own clock and index; two replicas deciding for themselves could end with different
// bytes. Instead the primary compacts and hands out the plan it carried out, and a
// replica whose segment holds the same records carries out that plan
// (Volume::ApplyCompaction): the same records kept, in the same order, with the same
// headers, keys, content types and values, so the copies differ at most in their
// checksums (each segment keeps its own salt; with equal salts, not even there).
//
// Contract:
// - It names the segment (seq, generation: the copy becomes generation + 1), the clock
//   the decisions were made with (unix seconds), the segment's end offset the plan
//   covers and one action per record from the superblock to that end, in scan order.
// - Actions are run-length encoded: consecutive records with one action are one run;
//   each k*Expiry record takes the next value of expiries(), in order.
// - In memory only for now: nothing here is a wire or disk layout (one would go in
//   src/format/ with its drawing).
#pragma once

#include <cstddef>
#include <cstdint>
#include <vector>

namespace bale {

class CompactionPlan {
 public:
  enum class Action : uint8_t {
    kDrop,             // not copied
    kKeep,             // copied as it is
    kTombstone,        // copied as a tombstone (kind changed, no content type or value)
    kKeepExpiry,       // copied with expiry E: a value needle (or a touch record's object,
                       // read through it) merged with its live touch record
    kTombstoneExpiry,  // a tombstone with expiry E (an expired merged value)
  };
  struct Run {
    Action action;
    uint32_t count;
  };

  uint64_t seq = 0;
  uint32_t generation = 0;
  uint32_t now = 0;  // the clock the decisions were made with
  uint64_t end = 0;  // the segment offset the plan covers up to

  uint64_t records() const { return records_; }
  const std::vector<Run>& runs() const { return runs_; }
  const std::vector<uint32_t>& expiries() const { return expiries_; }

  // Appends the next record's action (`expiry`: for the k*Expiry actions).
  void Add(Action action, uint32_t expiry = 0) {
    if (!runs_.empty() && runs_.back().action == action && runs_.back().count < UINT32_MAX) {
      runs_.back().count++;
    } else {
      runs_.push_back({action, 1});
    }
    if (HasExpiry(action)) expiries_.push_back(expiry);
    records_++;
  }
  void Clear() { *this = CompactionPlan(); }
  static bool HasExpiry(Action a) {
    return a == Action::kKeepExpiry || a == Action::kTombstoneExpiry;
  }

  // Reads the actions back in order.
  class Cursor {
   public:
    explicit Cursor(const CompactionPlan& plan) : plan_(plan) {}
    // False when every record's action has been read.
    bool Next(Action* action, uint32_t* expiry) {
      while (run_ < plan_.runs_.size() && used_ == plan_.runs_[run_].count) {
        run_++;
        used_ = 0;
      }
      if (run_ == plan_.runs_.size()) return false;
      used_++;
      *action = plan_.runs_[run_].action;
      *expiry = HasExpiry(*action) ? plan_.expiries_[expiry_++] : 0;
      return true;
    }

   private:
    const CompactionPlan& plan_;
    size_t run_ = 0;
    uint32_t used_ = 0;
    size_t expiry_ = 0;
  };

 private:
  uint64_t records_ = 0;
  std::vector<Run> runs_;
  std::vector<uint32_t> expiries_;
};

}  // namespace bale
