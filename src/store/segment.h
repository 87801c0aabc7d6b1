// Segment: one append-only file of needles (format/superblock.h, format/needle.h).
//
// Contract: a segment is created with its superblock synced, then only appended to
// until it is sealed. Append writes whole records at the end; if the OS fails part
// way, Append truncates the file back to its previous end so the segment never ends
// in a torn record it wrote itself. Reads may run concurrently with one appender:
// they only read below end(), which is published after the bytes are written.
// A segment whose superblock is damaged is opened with OpenDamaged: read-only, its
// fields taken from its name and directory and its salt recovered from its needles.
#pragma once

#include <atomic>
#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <string_view>

#include "base/env.h"
#include "base/status.h"
#include "format/needle.h"

namespace bale {

class Segment {
 public:
  // Creates the file at `path` with a synced superblock (unless `sync` is false: a
  // temporary file that its writer syncs before renaming it). The caller syncs the
  // directory.
  static Status Create(Env* env, const std::string& path, uint32_t partition, uint64_t seq,
                       uint32_t generation, uint32_t salt, std::unique_ptr<Segment>* out,
                       bool sync = true);
  // Opens an existing segment and checks its superblock; end() is the file size.
  static Status Open(Env* env, const std::string& path, bool writable,
                     std::unique_ptr<Segment>* out);
  // Opens, read-only, a segment whose superblock failed Open's checks (`why` says how):
  // partition, seq and generation are the caller's (from the directory and the file
  // name) and the salt is recovered from the needles
  // (RecoverSalt). damage() is then `why`; salt_known() says whether the salt was found.
  // Without it no record can be checked, so none may be read. Fails only if the file
  // cannot be read.
  static Status OpenDamaged(Env* env, const std::string& path, uint32_t partition, uint64_t seq,
                            uint32_t generation, std::string_view why,
                            std::unique_ptr<Segment>* out);
  // Finds the salt of this segment's needles without its superblock: two needles (of at
  // most kMaxSaltProbeBytes) whose checksums hold with the same salt (format/needle.h,
  // NeedleSaltFor) fix it; a single needle proves nothing. Walks at most the first
  // kMaxSaltProbeRecords headers, stepping over up to kMaxSaltSkipBytes that do not
  // decode.
  bool RecoverSalt(uint32_t* salt) const;
  static constexpr size_t kMaxSaltProbeBytes = 4 << 20;
  static constexpr uint64_t kMaxSaltSkipBytes = 1 << 20;
  static constexpr int kMaxSaltProbeRecords = 256;

  const std::string& path() const { return path_; }
  uint32_t partition() const { return partition_; }
  uint64_t seq() const { return seq_; }
  uint32_t generation() const { return generation_; }
  uint32_t salt() const { return salt_; }
  bool damaged() const { return !damage_.empty(); }
  const std::string& damage() const { return damage_; }  // what is wrong with the superblock
  bool salt_known() const { return salt_known_; }
  uint64_t end() const { return end_.load(std::memory_order_acquire); }

  // Appends `records` (whole, aligned needles) at end(); *offset is where they start.
  Status Append(std::string_view records, uint64_t* offset);
  // The same for records that lie in several buffers: their concatenation is appended
  // with one pwritev, and on failure cut off the same way.
  Status Append(std::span<const std::string_view> pieces, uint64_t* offset);
  // Cuts the file to `size` (recovery of a torn tail).
  Status TruncateTo(uint64_t size);
  // Copies from the mapping when there is one, unless `use_map` is false (pread: the
  // page is not mapped into this process, so it does not count in its RSS).
  Status Read(uint64_t offset, size_t n, char* buf, size_t* got, bool use_map = true) const;
  // Maps the first `length` bytes so that Read copies from memory instead of calling
  // pread (the head maps its whole size limit ahead of the appends). Best effort.
  void Map(uint64_t length) { map_ = file_->MapForRead(map_len_ = length); }
  bool mapped() const { return map_ != nullptr; }
  // A view of [offset, offset + n) in the mapping, if it covers it (bytes below end()).
  bool View(uint64_t offset, size_t n, std::string_view* out) const {
    if (map_ == nullptr || offset + n > end() || offset + n > map_len_) return false;
    *out = std::string_view(map_ + offset, n);
    return true;
  }
  int descriptor() const { return file_->Descriptor(); }
  // Asks the kernel to read [offset, offset + n) of the mapping ahead (it is mapped
  // MADV_RANDOM, so a large object would otherwise fault in a page at a time).
  void WillNeed(uint64_t offset, size_t n) const { file_->WillNeed(offset, n); }
  Status Sync() { return file_->Sync(); }

 private:
  Segment(std::unique_ptr<File> file, std::string path) : file_(std::move(file)), path_(path) {}

  std::unique_ptr<File> file_;
  std::string path_;
  uint32_t partition_ = 0;
  uint64_t seq_ = 0;
  uint32_t generation_ = 0;
  uint32_t salt_ = 0;
  std::string damage_;
  bool salt_known_ = true;
  std::atomic<uint64_t> end_{0};
  const char* map_ = nullptr;
  uint64_t map_len_ = 0;
};

// Reads the needles of a segment in order, through a large buffer.
class NeedleScanner {
 public:
  struct Record {
    uint64_t offset = 0;
    format::NeedleHeader header;
    std::string_view key;
    std::string_view content_type;
    std::string_view value;
    size_t size = 0;  // bytes on disk, padding included
  };

  NeedleScanner(const Segment* segment, uint64_t start, uint64_t limit);

  // Reads the next record. Returns NotFound at the clean end, Corruption (with the
  // offset in *bad_offset) for a record that fails its checks, IOError if reading fails.
  Status Next(Record* rec, uint64_t* bad_offset);
  // After a Corruption: looks for the next aligned offset past the bad record where a
  // valid needle starts; true if one was found (the scan goes on from there).
  bool Resync();
  uint64_t position() const { return pos_; }

 private:
  Status Fill(uint64_t offset, size_t need);

  const Segment* segment_;
  uint64_t pos_;
  uint64_t limit_;
  std::string buf_;
  uint64_t buf_offset_ = 0;  // file offset of buf_[0]
  size_t buf_len_ = 0;
};

}  // namespace bale
