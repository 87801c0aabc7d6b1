#include "store/journal.h"

#include <algorithm>
#include <random>

#include "store/journal_replay.h"

namespace bale {

namespace {

constexpr size_t kMaxFailedRanges = 64;

uint32_t NewJournalSalt() {
  thread_local std::mt19937_64 rng{std::random_device{}()};
  return static_cast<uint32_t>(rng() >> 32);
}

size_t Padded(size_t n) { return (n + 7) & ~size_t{7}; }

}  // namespace

Status Journal::Open(const Options& options, uint64_t first_seq, std::unique_ptr<Journal>* out) {
  std::unique_ptr<Journal> j(new Journal(options));
  BALE_RETURN_IF_ERROR(options.env->CreateDir(options.dir));
  BALE_RETURN_IF_ERROR(j->StartFile(first_seq, &j->file_, &j->salt_));
  j->file_seq_ = first_seq;
  j->file_end_ = format::kJournalHeaderSize;
  j->stats_.files = 1;
  j->rotator_ = std::thread([raw = j.get()] { raw->RunRotations(); });
  j->flusher_ = std::thread([raw = j.get()] { raw->RunFlushes(); });
  *out = std::move(j);
  return Status::OK();
}

Journal::~Journal() { Stop(); }

void Journal::Stop() {
  {
    std::lock_guard<std::mutex> l(mu_);
    stop_ = true;
  }
  rotate_.notify_all();
  async_cv_.notify_all();
  if (rotator_.joinable()) rotator_.join();
  if (flusher_.joinable()) flusher_.join();  // after every FlushAsync was answered
}

Status Journal::StartFile(uint64_t seq, std::unique_ptr<File>* file, uint32_t* salt) {
  format::JournalHeader h;
  h.salt = NewJournalSalt();
  h.seq = seq;
  std::unique_ptr<File> f;
  const std::string path = options_.dir + "/" + format::JournalFileName(seq);
  BALE_RETURN_IF_ERROR(options_.env->Open(path, OpenMode::kCreate, &f));
  BALE_RETURN_IF_ERROR(f->PWrite(0, format::EncodeJournalHeader(h)));
  BALE_RETURN_IF_ERROR(f->Sync());
  BALE_RETURN_IF_ERROR(options_.env->SyncDir(options_.dir));
  *file = std::move(f);
  *salt = h.salt;
  return Status::OK();
}

uint64_t Journal::Append(const format::JournalTarget& target,
                         std::span<const std::string_view> pieces) {
  size_t n = 0;
  for (std::string_view p : pieces) n += p.size();
  const size_t record = format::kJournalRecordHeaderSize + Padded(n);
  std::lock_guard<std::mutex> l(mu_);
  const size_t at = buffer_.size();
  buffer_.append(format::kJournalRecordHeaderSize, '\0');  // encoded below
  for (std::string_view p : pieces) buffer_.append(p);
  buffer_.append(record - format::kJournalRecordHeaderSize - n, '\0');  // padding
  char* out = buffer_.data() + at;
  std::string_view payload(out + format::kJournalRecordHeaderSize, Padded(n));
  format::EncodeJournalRecordHeader(salt_, target, payload, out);
  appended_ += record;
  stats_.records++;
  stats_.bytes += record;
  if (file_end_ + buffer_.size() >= options_.file_bytes) rotate_.notify_one();
  return appended_;
}

Status Journal::WaitDurable(uint64_t position) {
  std::unique_lock<std::mutex> l(mu_);
  while (durable_ < position) {
    if (flushing_) {
      flushed_.wait(l);
      continue;
    }
    Status s = FlushLocked(l);
    (void)s;  // reported below, to the callers whose records it held
  }
  return OutcomeLocked(position);
}

Status Journal::OutcomeLocked(uint64_t position) const {
  for (const Failed& f : failed_) {
    if (position > f.from && position <= f.to) return f.why;
  }
  return Status::OK();
}

uint64_t Journal::position() const {
  std::lock_guard<std::mutex> l(mu_);
  return appended_;
}

void Journal::FlushAsync(uint64_t position, std::function<void(Status)> done) {
  {
    std::lock_guard<std::mutex> l(mu_);
    if (!stop_) {
      async_.push_back({position, std::move(done)});
      async_cv_.notify_one();
      return;
    }
  }
  done(WaitDurable(position));  // stopped: no flusher thread any more
}

void Journal::RunFlushes() {
  std::vector<std::pair<std::function<void(Status)>, Status>> ready;
  std::unique_lock<std::mutex> l(mu_);
  while (true) {
    async_cv_.wait(l, [&] { return stop_ || !async_.empty(); });
    if (async_.empty()) return;  // stopping, nobody waits
    const uint64_t want = async_.back().position;
    while (durable_ < want) {
      if (flushing_) {
        flushed_.wait(l);
      } else {
        Status s = FlushLocked(l);
        (void)s;  // each waiter's outcome is read below
      }
    }
    size_t n = 0;
    while (n < async_.size() && async_[n].position <= durable_) {
      ready.emplace_back(std::move(async_[n].done), OutcomeLocked(async_[n].position));
      n++;
    }
    async_.erase(async_.begin(), async_.begin() + static_cast<std::ptrdiff_t>(n));
    l.unlock();
    for (auto& [done, outcome] : ready) done(outcome);
    ready.clear();
    l.lock();
  }
}

Status Journal::Flush() {
  uint64_t position;
  {
    std::lock_guard<std::mutex> l(mu_);
    position = appended_;
  }
  return WaitDurable(position);
}

Status Journal::FlushLocked(std::unique_lock<std::mutex>& l) {
  if (file_ == nullptr) {  // retired
    flushing_ = true;
    SettleLocked(durable_, appended_, Status::IOError("journal closed"));
    return Status::IOError("journal closed");
  }
  flushing_ = true;
  std::string out;
  out.swap(spare_);
  out.swap(buffer_);  // buffer_ takes the spare's capacity
  const uint64_t from = durable_, to = appended_;
  File* file = file_.get();
  const uint64_t at = file_end_;
  file_end_ += out.size();
  l.unlock();
  Status s = WriteAndSync(file, at, out);
  l.lock();
  if (!s.ok()) file_end_ = at;  // cut back: the next flush writes there
  out.clear();
  spare_.swap(out);
  SettleLocked(from, to, s);
  return s;
}

Status Journal::WriteAndSync(File* file, uint64_t at, std::string_view bytes) {
  Status s = bytes.empty() ? Status::OK() : file->PWrite(at, bytes);
  if (s.ok()) s = file->Sync();
  if (s.ok()) return s;
  // The next flush writes at `at` again. Cut what this one left, as far as the OS lets
  // us: whatever stays past the next flush's end is either records of this one (bytes
  // their segments hold anyway, so replaying them changes nothing) or a torn record,
  // where a reader stops.
  if (file->Truncate(at).ok()) (void)file->Sync();
  return s;
}

void Journal::SettleLocked(uint64_t from, uint64_t to, const Status& s) {
  flushing_ = false;
  stats_.flushes++;
  durable_ = std::max(durable_, to);
  if (!s.ok()) {
    stats_.failures++;
    if (failed_.size() == kMaxFailedRanges) failed_.erase(failed_.begin());
    failed_.push_back({from, to, s});
    if (options_.log) options_.log("journal: flush failed: " + s.ToString());
  }
  flushed_.notify_all();
}

Status Journal::Rotate() {
  std::lock_guard<std::mutex> one(rotate_mu_);
  uint64_t seq;
  {
    std::lock_guard<std::mutex> l(mu_);
    seq = file_seq_ + 1;
  }
  std::unique_ptr<File> next;
  uint32_t salt = 0;
  Status s = StartFile(seq, &next, &salt);
  if (!s.ok()) return s;
  // Switch files: what is buffered belongs to the old one (its salt) and goes there.
  std::unique_lock<std::mutex> l(mu_);
  while (flushing_) flushed_.wait(l);
  flushing_ = true;
  std::string out;
  out.swap(buffer_);
  const uint64_t from = durable_, to = appended_;
  std::unique_ptr<File> old = std::move(file_);
  const uint64_t at = file_end_;
  file_ = std::move(next);
  file_seq_ = seq;
  salt_ = salt;
  file_end_ = format::kJournalHeaderSize;
  stats_.rotations++;
  stats_.files++;
  l.unlock();
  s = WriteAndSync(old.get(), at, out);
  l.lock();
  SettleLocked(from, to, s);
  l.unlock();
  // Every segment write whose record is in an older file was made before the switch.
  Status synced = options_.sync_segments ? options_.sync_segments() : Status::OK();
  if (!synced.ok()) {
    std::lock_guard<std::mutex> g(mu_);
    stats_.failures++;
    return synced;
  }
  return RemoveFilesUpTo(seq - 1);
}

Status Journal::RemoveFilesUpTo(uint64_t seq) {
  uint64_t removed = 0;
  Status s = RemoveJournalFiles(options_.env, options_.dir, seq, &removed);
  std::lock_guard<std::mutex> l(mu_);
  stats_.files -= std::min(stats_.files, removed);
  if (!s.ok()) stats_.failures++;
  return s;
}

Status Journal::Retire() {
  Stop();
  uint64_t last;
  {
    std::lock_guard<std::mutex> l(mu_);
    last = file_seq_;
    file_.reset();
  }
  return RemoveFilesUpTo(last);
}

JournalStats Journal::Stats() const {
  std::lock_guard<std::mutex> l(mu_);
  JournalStats s = stats_;
  s.unflushed = appended_ - durable_;
  return s;
}

void Journal::RunRotations() {
  std::unique_lock<std::mutex> l(mu_);
  while (!stop_) {
    if (file_end_ + buffer_.size() < options_.file_bytes) {
      rotate_.wait_for(l, std::chrono::seconds(1));
      continue;
    }
    l.unlock();
    Status s = Rotate();
    if (!s.ok() && options_.log) options_.log("journal: starting a new file: " + s.ToString());
    l.lock();
    if (!s.ok()) rotate_.wait_for(l, std::chrono::seconds(1));  // not in a tight loop
  }
}

}  // namespace bale
