#include "store/journal_replay.h"

#include <algorithm>
#include <map>
#include <memory>

#include "format/journal.h"
#include "format/store_meta.h"
#include "format/superblock.h"

namespace bale {

namespace {

// The segment files records are written back to, opened once each.
class SegmentWriter {
 public:
  SegmentWriter(Env* env, std::string data_dir) : env_(env), data_dir_(std::move(data_dir)) {}

  // Writes `payload` at `t` unless the file already holds it; *skipped when the file is
  // gone.
  Status Put(const format::JournalTarget& t, std::string_view payload, bool* rewritten,
             bool* skipped) {
    *rewritten = *skipped = false;
    std::string path = data_dir_ + "/" + format::PartitionDirName(t.partition) + "/" +
                       format::SegmentFileName(t.seq, t.generation);
    auto it = files_.find(path);
    if (it == files_.end()) {
      std::unique_ptr<File> f;
      if (env_->Exists(path)) BALE_RETURN_IF_ERROR(env_->Open(path, OpenMode::kReadWrite, &f));
      it = files_.emplace(path, Open{std::move(f), false}).first;
    }
    Open& o = it->second;
    if (o.file == nullptr) {
      *skipped = true;
      return Status::OK();
    }
    held_.resize(payload.size());
    size_t got = 0;
    BALE_RETURN_IF_ERROR(o.file->PRead(t.offset, payload.size(), held_.data(), &got));
    if (got == payload.size() && std::string_view(held_.data(), got) == payload) {
      return Status::OK();
    }
    BALE_RETURN_IF_ERROR(o.file->PWrite(t.offset, payload));
    o.dirty = true;
    *rewritten = true;
    return Status::OK();
  }

  Status SyncAll() {
    for (auto& [path, o] : files_) {
      if (o.dirty) BALE_RETURN_IF_ERROR(o.file->Sync());
      o.dirty = false;
    }
    return Status::OK();
  }

 private:
  struct Open {
    std::unique_ptr<File> file;  // null: the file is gone
    bool dirty;
  };
  Env* env_;
  std::string data_dir_;
  std::map<std::string, Open> files_;
  std::string held_;
};

Status ReplayFile(Env* env, const std::string& path, SegmentWriter* out,
                  JournalReplayStats* stats) {
  std::string bytes;
  BALE_RETURN_IF_ERROR(ReadWholeFile(env, path, &bytes));
  format::JournalHeader h;
  if (!format::DecodeJournalHeader(bytes, &h).ok()) {
    stats->bad_headers++;
    stats->notes.push_back(path + ": header does not check (the file was being started): ignored");
    return Status::OK();
  }
  std::string_view rest(bytes);
  rest.remove_prefix(format::kJournalHeaderSize);
  while (true) {
    uint32_t length = format::JournalRecordLength(rest);
    if (length == 0 || rest.size() < format::kJournalRecordHeaderSize + length) break;
    format::JournalTarget t;
    std::string_view payload;
    if (!format::DecodeJournalRecord(h.salt, rest, &t, &payload).ok()) break;
    stats->records++;
    bool rewritten, skipped;
    BALE_RETURN_IF_ERROR(out->Put(t, payload, &rewritten, &skipped));
    stats->rewritten += rewritten;
    stats->skipped += skipped;
    rest.remove_prefix(format::kJournalRecordHeaderSize + length);
  }
  return Status::OK();
}

}  // namespace

std::vector<std::string> DescribeReplay(const JournalReplayStats& stats) {
  std::vector<std::string> lines;
  for (const std::string& note : stats.notes) lines.push_back("journal: " + note);
  if (stats.records > 0) {
    lines.push_back("journal: replayed " + std::to_string(stats.records) + " records of " +
                    std::to_string(stats.files) + " files left by the last run (" +
                    std::to_string(stats.rewritten) + " written back into their segments, " +
                    std::to_string(stats.skipped) + " of segments compacted since)");
  }
  return lines;
}

namespace {

Status ListIn(Env* env, const std::string& journal_dir, std::vector<uint64_t>* seqs) {
  seqs->clear();
  if (!env->Exists(journal_dir)) return Status::OK();
  std::vector<std::string> names;
  BALE_RETURN_IF_ERROR(env->ListDir(journal_dir, &names));
  for (const std::string& name : names) {
    uint64_t seq;
    if (format::ParseJournalFileName(name, &seq)) seqs->push_back(seq);
  }
  std::sort(seqs->begin(), seqs->end());
  return Status::OK();
}

}  // namespace

Status ListJournalFiles(Env* env, const std::string& data_dir, std::vector<uint64_t>* seqs) {
  return ListIn(env, data_dir + "/" + format::kJournalDirName, seqs);
}

Status RemoveJournalFiles(Env* env, const std::string& journal_dir, uint64_t seq,
                          uint64_t* removed) {
  *removed = 0;
  std::vector<uint64_t> seqs;
  BALE_RETURN_IF_ERROR(ListIn(env, journal_dir, &seqs));
  for (uint64_t s : seqs) {
    if (s > seq) break;
    BALE_RETURN_IF_ERROR(env->Remove(journal_dir + "/" + format::JournalFileName(s)));
    ++*removed;
  }
  return *removed > 0 ? env->SyncDir(journal_dir) : Status::OK();
}

Status ReplayJournal(Env* env, const std::string& data_dir, JournalReplayStats* stats) {
  *stats = JournalReplayStats();
  std::vector<uint64_t> seqs;
  BALE_RETURN_IF_ERROR(ListJournalFiles(env, data_dir, &seqs));
  SegmentWriter writer(env, data_dir);
  for (uint64_t seq : seqs) {
    stats->files++;
    stats->last_seq = seq;
    const std::string path =
        data_dir + "/" + format::kJournalDirName + "/" + format::JournalFileName(seq);
    BALE_RETURN_IF_ERROR(ReplayFile(env, path, &writer, stats));
  }
  return writer.SyncAll();
}

}  // namespace bale
