#include "store/segment.h"

#include <cstring>
#include <vector>

#include "format/coding.h"
#include "format/superblock.h"

namespace bale {

Status Segment::Create(Env* env, const std::string& path, uint32_t partition, uint64_t seq,
                       uint32_t generation, uint32_t salt, std::unique_ptr<Segment>* out,
                       bool sync) {
  std::unique_ptr<File> f;
  BALE_RETURN_IF_ERROR(env->Open(path, OpenMode::kCreate, &f));
  format::Superblock sb{partition, seq, generation, salt};
  Status s = f->PWrite(0, format::EncodeSuperblock(sb));
  if (s.ok() && sync) s = f->Sync();
  if (!s.ok()) {
    f.reset();
    (void)env->Remove(path);
    return s;
  }
  std::unique_ptr<Segment> seg(new Segment(std::move(f), path));
  seg->partition_ = partition;
  seg->seq_ = seq;
  seg->generation_ = generation;
  seg->salt_ = salt;
  seg->end_.store(format::kSuperblockSize);
  *out = std::move(seg);
  return Status::OK();
}

Status Segment::Open(Env* env, const std::string& path, bool writable,
                     std::unique_ptr<Segment>* out) {
  std::unique_ptr<File> f;
  BALE_RETURN_IF_ERROR(env->Open(path, writable ? OpenMode::kReadWrite : OpenMode::kRead, &f));
  uint64_t size = 0;
  BALE_RETURN_IF_ERROR(f->Size(&size));
  char buf[format::kSuperblockSize];
  size_t got = 0;
  BALE_RETURN_IF_ERROR(f->PRead(0, sizeof(buf), buf, &got));
  format::Superblock sb;
  Status s = format::DecodeSuperblock(std::string_view(buf, got), &sb);
  if (!s.ok()) return Status::Corruption(path + ": " + std::string(s.message()));
  std::unique_ptr<Segment> seg(new Segment(std::move(f), path));
  seg->partition_ = sb.partition;
  seg->seq_ = sb.seq;
  seg->generation_ = sb.generation;
  seg->salt_ = sb.salt;
  seg->end_.store(size);
  *out = std::move(seg);
  return Status::OK();
}

Status Segment::OpenDamaged(Env* env, const std::string& path, uint32_t partition, uint64_t seq,
                            uint32_t generation, std::string_view why,
                            std::unique_ptr<Segment>* out) {
  std::unique_ptr<File> f;
  BALE_RETURN_IF_ERROR(env->Open(path, OpenMode::kRead, &f));
  uint64_t size = 0;
  BALE_RETURN_IF_ERROR(f->Size(&size));
  std::unique_ptr<Segment> seg(new Segment(std::move(f), path));
  seg->partition_ = partition;
  seg->seq_ = seq;
  seg->generation_ = generation;
  seg->damage_ = why.empty() ? std::string("damaged superblock") : std::string(why);
  seg->end_.store(size);
  seg->salt_known_ = seg->RecoverSalt(&seg->salt_);
  *out = std::move(seg);
  return Status::OK();
}

bool Segment::RecoverSalt(uint32_t* salt) const {
  const uint64_t end = this->end();
  std::vector<uint32_t> seen;
  std::string buf;
  uint64_t pos = format::kSuperblockSize;
  uint64_t skipped = 0;  // bytes stepped over looking for a header that decodes
  for (int records = 0; records < kMaxSaltProbeRecords && pos + format::kNeedleHeaderSize <= end;) {
    char head[format::kNeedleHeaderSize];
    size_t got = 0;
    format::NeedleHeader h;
    if (!file_->PRead(pos, sizeof(head), head, &got).ok() || got != sizeof(head)) return false;
    if (!format::DecodeNeedleHeader(std::string_view(head, got), &h).ok() ||
        format::NeedleSize(h) > end - pos) {
      pos += format::kNeedleAlign;
      if ((skipped += format::kNeedleAlign) > kMaxSaltSkipBytes) return false;
      continue;
    }
    records++;
    size_t raw = format::NeedleRawSize(h);
    if (raw <= kMaxSaltProbeBytes) {
      buf.resize(raw);
      if (!file_->PRead(pos, raw, buf.data(), &got).ok() || got != raw) return false;
      uint32_t candidate = format::NeedleSaltFor(buf, h);
      for (uint32_t s : seen) {
        if (s == candidate) {
          *salt = candidate;
          return true;
        }
      }
      seen.push_back(candidate);
    }
    pos += format::NeedleSize(h);
  }
  return false;
}

Status Segment::Append(std::string_view records, uint64_t* offset) {
  return Append(std::span<const std::string_view>(&records, 1), offset);
}

Status Segment::Append(std::span<const std::string_view> pieces, uint64_t* offset) {
  uint64_t at = end_.load(std::memory_order_relaxed);
  uint64_t bytes = 0;
  for (std::string_view p : pieces) bytes += p.size();
  Status s = pieces.size() == 1 ? file_->PWrite(at, pieces[0]) : file_->PWritev(at, pieces);
  if (!s.ok()) {
    // Part of the batch may have landed: cut it off so the file ends on a record, and
    // sync the cut, so that a power loss cannot bring whole needles of it back.
    if (file_->Truncate(at).ok()) (void)file_->Sync();
    return s;
  }
  end_.store(at + bytes, std::memory_order_release);
  *offset = at;
  return Status::OK();
}

Status Segment::TruncateTo(uint64_t size) {
  BALE_RETURN_IF_ERROR(file_->Truncate(size));
  end_.store(size, std::memory_order_release);
  return Status::OK();
}

Status Segment::Read(uint64_t offset, size_t n, char* buf, size_t* got, bool use_map) const {
  uint64_t end = end_.load(std::memory_order_acquire);
  if (use_map && map_ != nullptr && offset + n <= end && offset + n <= map_len_) {
    std::memcpy(buf, map_ + offset, n);  // below end(): the bytes are in the file
    *got = n;
    return Status::OK();
  }
  return file_->PRead(offset, n, buf, got);
}

// --- NeedleScanner ---------------------------------------------------------------

namespace {
constexpr size_t kScanBuffer = 1 << 20;
}

NeedleScanner::NeedleScanner(const Segment* segment, uint64_t start, uint64_t limit)
    : segment_(segment), pos_(start), limit_(limit) {}

Status NeedleScanner::Fill(uint64_t offset, size_t need) {
  if (offset >= buf_offset_ && offset + need <= buf_offset_ + buf_len_) return Status::OK();
  size_t want = need > kScanBuffer ? need : kScanBuffer;
  if (offset + want > limit_) want = static_cast<size_t>(limit_ - offset);
  if (buf_.size() < want) buf_.resize(want);
  size_t got = 0;
  BALE_RETURN_IF_ERROR(segment_->Read(offset, want, buf_.data(), &got));
  buf_offset_ = offset;
  buf_len_ = got;
  return Status::OK();
}

Status NeedleScanner::Next(Record* rec, uint64_t* bad_offset) {
  *bad_offset = pos_;
  if (pos_ >= limit_) return Status::NotFound();
  if (limit_ - pos_ < format::kNeedleHeaderSize) return Status::Corruption("truncated header");
  BALE_RETURN_IF_ERROR(Fill(pos_, format::kNeedleHeaderSize));
  if (buf_offset_ + buf_len_ < pos_ + format::kNeedleHeaderSize) {
    return Status::Corruption("truncated header");
  }
  std::string_view head(buf_.data() + (pos_ - buf_offset_), format::kNeedleHeaderSize);
  BALE_RETURN_IF_ERROR(format::DecodeNeedleHeader(head, &rec->header));
  size_t size = format::NeedleSize(rec->header);
  if (size > limit_ - pos_) return Status::Corruption("truncated needle");
  BALE_RETURN_IF_ERROR(Fill(pos_, size));
  if (buf_offset_ + buf_len_ < pos_ + size) return Status::Corruption("truncated needle");
  std::string_view whole(buf_.data() + (pos_ - buf_offset_), size);
  BALE_RETURN_IF_ERROR(format::VerifyNeedle(segment_->salt(), whole, rec->header, &rec->key,
                                            &rec->content_type, &rec->value));
  rec->offset = pos_;
  rec->size = size;
  pos_ += size;
  return Status::OK();
}

bool NeedleScanner::Resync() {
  uint64_t bad = pos_;
  for (uint64_t at = bad + format::kNeedleAlign; at + format::kNeedleHeaderSize <= limit_;
       at += format::kNeedleAlign) {
    if (!Fill(at, 4).ok() || buf_offset_ + buf_len_ < at + 4) return false;
    if (format::GetU32(buf_.data() + (at - buf_offset_)) != format::kNeedleMagic) continue;
    pos_ = at;
    Record rec;
    uint64_t ignored;
    if (Next(&rec, &ignored).ok()) {
      pos_ = at;
      return true;
    }
  }
  pos_ = bad;
  return false;
}

}  // namespace bale
