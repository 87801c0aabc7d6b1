#include "store/verify.h"

#include <algorithm>
#include <filesystem>
#include <map>
#include <memory>
#include <set>

#include "format/checkpoint.h"
#include "format/store_flush.h"
#include "format/store_meta.h"
#include "format/superblock.h"
#include "format/volume_meta.h"
#include "store/damage.h"
#include "store/segment.h"

namespace bale {
namespace {

struct SegmentFile {
  uint64_t seq = 0;
  uint32_t generation = 0;
  std::string path;
  bool operator<(const SegmentFile& o) const { return path < o.path; }
};

// What the walk found in one directory.
struct VolumeDir {
  std::vector<SegmentFile> segments;
  bool checkpoint = false;
  bool flush = false;
};

void Problem(std::ostream& out, VerifyReport* r, const std::string& line) {
  out << line << "\n";
  r->problems++;
}

// `partition`, when known (the directory is named p-NNNNN), must be the superblock's.
void VerifySegment(Env* env, const SegmentFile& file, const uint32_t* partition, std::ostream& out,
                   VerifyReport* r) {
  const std::string& path = file.path;
  std::unique_ptr<Segment> seg;
  Status s = Segment::Open(env, path, false, &seg);
  if (s.ok() && (seg->seq() != file.seq || seg->generation() != file.generation ||
                 (partition != nullptr && seg->partition() != *partition))) {
    s = Status::Corruption("superblock names partition " + std::to_string(seg->partition()) +
                           ", segment " + std::to_string(seg->seq()) + " generation " +
                           std::to_string(seg->generation()));
  }
  if (!s.ok()) {
    if (!s.IsCorruption()) {
      Problem(out, r, path + ": " + s.ToString());
      return;
    }
    std::string why(s.message());
    if (why.rfind(path + ": ", 0) == 0) why.erase(0, path.size() + 2);
    Problem(out, r, path + ": offset 0: Corruption: " + why);
    // Its records can still be checked if its needles give away the salt.
    s = Segment::OpenDamaged(env, path, partition != nullptr ? *partition : 0, file.seq,
                             file.generation, why, &seg);
    if (!s.ok()) {
      out << path << ": " << s.ToString() << "\n";
      return;
    }
    if (!seg->salt_known()) {
      out << path << ": no two needles agree on a salt: its records cannot be checked\n";
      return;
    }
    out << path << ": salt recovered from its needles; its records are checked with it\n";
  }
  r->segments++;
  r->bytes += seg->end();
  NeedleScanner scanner(seg.get(), format::kSuperblockSize, seg->end());
  NeedleScanner::Record rec;
  for (;;) {
    uint64_t bad = 0;
    s = scanner.Next(&rec, &bad);
    if (s.IsNotFound()) return;
    if (s.ok()) {
      r->needles++;
      continue;
    }
    Problem(out, r, path + ": offset " + std::to_string(bad) + ": " + s.ToString());
    if (!s.IsCorruption() || !scanner.Resync()) return;
    out << path << ": resumed at offset " << scanner.position() << "\n";
  }
}

// Checks one volume directory: its segments, its checkpoint and flush marker, and that
// no segment between 1 and the newest (or the newest the checkpoint names) is missing.
void VerifyVolume(Env* env, const std::string& dir, VolumeDir& v, std::ostream& out,
                  VerifyReport* r) {
  uint32_t partition = 0;
  const bool named_partition =
      format::ParsePartitionDirName(std::filesystem::path(dir).filename().string(), &partition);
  std::sort(v.segments.begin(), v.segments.end());
  std::vector<uint64_t> present;
  uint64_t highest = 0;
  for (const SegmentFile& f : v.segments) {
    VerifySegment(env, f, named_partition ? &partition : nullptr, out, r);
    present.push_back(f.seq);
    highest = std::max(highest, f.seq);
  }
  std::set<uint64_t> listed;
  if (v.checkpoint) {
    const std::string path = dir + "/" + format::kCheckpointFileName;
    format::CheckpointHeader h;
    uint64_t bad = 0;
    Status s = ReadCheckpointTable(env, path, /*whole=*/true, &h, &bad);
    if (!s.ok()) {
      Problem(out, r, path + ": offset " + std::to_string(bad) + ": " + s.ToString());
    } else if (named_partition && h.partition != partition) {
      Problem(
          out, r,
          path + ": offset 0: Corruption: checkpoint of partition " + std::to_string(h.partition));
    } else {
      for (const auto& cs : h.segments) {
        listed.insert(cs.seq);
        highest = std::max(highest, cs.seq);
      }
    }
  }
  if (v.flush) {
    const std::string path = dir + "/" + format::kFlushFileName;
    std::string marker;
    format::FlushMarker m;
    Status s = ReadWholeFile(env, path, &marker);
    if (s.ok()) s = format::DecodeFlushMarker(marker, &m);
    if (!s.ok()) Problem(out, r, path + ": offset 0: " + s.ToString());
  }
  for (auto [first, last] : MissingSequences(present, highest)) {
    r->missing_segments += last - first + 1;
    auto it = listed.lower_bound(first);
    bool in_checkpoint = it != listed.end() && *it <= last;
    Problem(out, r,
            dir + "/" + MissingRangeName(first, last) + ": missing: segments run 1.." +
                std::to_string(highest) + (in_checkpoint ? " (index.ckpt lists them)" : "") +
                ", these have no file");
  }
}

}  // namespace

Status VerifyTree(Env* env, const std::string& root, std::ostream& out, VerifyReport* report) {
  std::error_code ec;
  if (!std::filesystem::is_directory(root, ec)) return Status::NotFound(root);
  // A store's data directory is read only while no server has it: the lock bale serve
  // holds (store/store.h) is taken here too, for the walk.
  std::unique_ptr<FileLock> lock;
  if (env->Exists(root + "/" + format::kStoreFileName)) {
    Status s = Env::LockFile(root + "/" + format::kLockFileName, &lock);
    if (s.IsBusy())
      return Status::Busy("data directory " + root + " is in use: " + std::string(s.message()));
    BALE_RETURN_IF_ERROR(s);
  }
  std::map<std::string, VolumeDir> volumes;  // by directory, in path order
  for (auto it = std::filesystem::recursive_directory_iterator(root, ec);
       !ec && it != std::filesystem::recursive_directory_iterator(); it.increment(ec)) {
    if (!it->is_regular_file()) continue;
    const std::string name = it->path().filename().string();
    const std::string dir = it->path().parent_path().string();
    SegmentFile f;
    if (format::ParseSegmentFileName(name, &f.seq, &f.generation)) {
      f.path = it->path().string();
      volumes[dir].segments.push_back(f);
    } else if (name == format::kCheckpointFileName) {
      volumes[dir].checkpoint = true;
    } else if (name == format::kFlushFileName) {
      volumes[dir].flush = true;
    }
  }
  if (ec) return Status::IOError(root + ": " + ec.message());
  // The store's flush marker (format/store_flush.h), which covers every partition: one
  // line per check it fails, naming the partitions whose rules it loses.
  const std::string flush_all = root + "/" + format::kStoreFlushFileName;
  std::string store_marker, flush_marker;
  uint32_t partitions = 0;
  if (env->Exists(flush_all) &&
      ReadWholeFile(env, root + "/" + format::kStoreFileName, &store_marker).ok() &&
      format::DecodeStoreMarker(store_marker, &partitions).ok()) {
    format::StoreFlushContents flush;
    Status s = ReadWholeFile(env, flush_all, &flush_marker);
    if (!s.ok()) {
      Problem(out, report, flush_all + ": offset 0: " + s.ToString());
    } else if (!format::DecodeStoreFlush(flush_marker, partitions, &flush).ok()) {
      for (const format::StoreFlushProblem& p : flush.problems) {
        std::string lost = !p.LosesRules() ? "no rule lost"
                           : p.first == p.last
                               ? "the rule of partition " + std::to_string(p.first) + " is lost"
                               : "the rules of partitions " + std::to_string(p.first) + ".." +
                                     std::to_string(p.last) + " are lost";
        Problem(out, report,
                flush_all + ": offset " + std::to_string(p.offset) + ": Corruption: " + p.what +
                    " (" + lost + ")");
      }
    }
  }
  for (auto& [dir, v] : volumes) VerifyVolume(env, dir, v, out, report);
  return Status::OK();
}

}  // namespace bale
