// DecidedWrite: the exact needle records one write appends to a volume.
//
// A write is two steps (store/volume.h): decide, under the volume's write lock (look at
// the current object, assign version, cookie, expiry and mtime, encode the needles),
// then append exactly those bytes to the head segment and point the index at them. A
// DecidedWrite is what the first step produces and the second consumes, so that a
// replica can append what a primary decided (Volume::AppendDecided).
//
// Contract:
// - It holds whole needles (format/needle.h) back to back, each at an offset within
//   the append (Record::rel) that is a multiple of kNeedleAlign, checksums seeded with
//   salt(): the salt of the segment they were encoded for. A volume whose head has
//   another salt re-encodes them with its own (the bytes differ only in the CRC field);
//   a volume with the same salt appends them byte for byte.
// - A value larger than kDirectValueBytes is not copied in: the record's header, key and
//   content type are, and the value is a view of the caller's memory, spliced in by the
//   append (pwritev). A DecidedWrite is therefore valid only as long as the memory of
//   the values it was decided from (WriteOp::value, UpdateDecision::value) is; Assign
//   and Own make one that owns all of its bytes.
// - Reused across writes: Begin keeps the buffers' capacity (no allocation per write
//   once they have grown). Not thread-safe; a volume uses its own under its write lock.
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "base/status.h"
#include "format/needle.h"

namespace bale {

class DecidedWrite {
 public:
  // Values larger than this are spliced from the caller's memory (see the contract).
  static constexpr size_t kDirectValueBytes = 64 << 10;

  struct Record {
    format::NeedleHeader header;  // as encoded, lengths included
    uint64_t rel = 0;             // offset of the needle within the append
    uint64_t size = 0;            // bytes on disk, padding included
    size_t at = 0;                // where its bytes start in the encoded buffer
    int32_t splice = -1;          // its value's splice, or -1 when the value is inline
  };

  uint32_t salt() const { return salt_; }
  // Bytes the append writes (needles with padding, spliced values included).
  uint64_t size() const { return bytes_.size() + spliced_bytes_; }
  bool empty() const { return records_.empty(); }
  std::span<const Record> records() const { return records_; }
  // The largest version among the records (0 when empty).
  uint64_t max_version() const { return max_version_; }
  bool has_touch() const { return has_touch_; }
  // Key, content type and value of records()[i]: views into this object or, for a
  // spliced value, into the caller's memory.
  void View(size_t i, std::string_view* key, std::string_view* content_type,
            std::string_view* value) const;
  // The append as buffers in order: encoded bytes and spliced values. Views valid as
  // long as this object (and the spliced memory) is unchanged.
  void Pieces(std::vector<std::string_view>* out) const;
  // Appends the records to *out as they go on disk (for sending them elsewhere).
  void AppendTo(std::string* out) const;

  // Empties it for a write whose needles carry `salt`; keeps the buffers.
  void Begin(uint32_t salt);
  // Encodes one needle at the end (h's lengths are taken from key, content_type and
  // value); returns its offset within the append. The caller has checked the lengths.
  uint64_t Add(const format::NeedleHeader& h, std::string_view key, std::string_view content_type,
               std::string_view value);
  // Makes this the records of `bytes` (whole needles back to back, as AppendTo wrote
  // them, checksums seeded with `salt`), copied in. Corruption, leaving it empty, when
  // a record fails its checks.
  Status Assign(uint32_t salt, std::string_view bytes);
  // Copies spliced values in, so that the caller's memory may go.
  void Own();

 private:
  struct Splice {
    size_t at;  // offset in bytes_ where the value goes
    std::string_view value;
  };
  uint32_t salt_ = 0;
  std::string bytes_;
  std::vector<Splice> splices_;
  uint64_t spliced_bytes_ = 0;
  std::vector<Record> records_;
  uint64_t max_version_ = 0;
  bool has_touch_ = false;
};

}  // namespace bale
