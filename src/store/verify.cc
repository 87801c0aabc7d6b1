#include "store/verify.h"

#include <algorithm>
#include <filesystem>
#include <memory>

#include "format/store_meta.h"
#include "format/superblock.h"
#include "store/segment.h"

namespace bale {
namespace {

void VerifySegment(Env* env, const std::string& path, std::ostream& out, VerifyReport* r) {
  std::unique_ptr<Segment> seg;
  Status s = Segment::Open(env, path, false, &seg);
  if (!s.ok()) {
    out << path << ": " << s.ToString() << "\n";
    r->problems++;
    return;
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
    out << path << ": offset " << bad << ": " << s.ToString() << "\n";
    r->problems++;
    if (!s.IsCorruption() || !scanner.Resync()) return;
    out << path << ": resumed at offset " << scanner.position() << "\n";
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
  std::vector<std::string> paths;
  for (auto it = std::filesystem::recursive_directory_iterator(root, ec);
       !ec && it != std::filesystem::recursive_directory_iterator(); it.increment(ec)) {
    uint64_t seq;
    uint32_t gen;
    if (it->is_regular_file() &&
        format::ParseSegmentFileName(it->path().filename().string(), &seq, &gen)) {
      paths.push_back(it->path().string());
    }
  }
  if (ec) return Status::IOError(root + ": " + ec.message());
  std::sort(paths.begin(), paths.end());
  for (const std::string& p : paths) VerifySegment(env, p, out, report);
  return Status::OK();
}

}  // namespace bale
