#include "coord/etcd_watch.h"

#include <utility>

#include "coord/etcd_rpc.h"

namespace bale::coord {

namespace pb = etcdserverpb;

EtcdWatch::EtcdWatch(std::unique_ptr<Stream> stream) : stream_(std::move(stream)) {}

EtcdWatch::~EtcdWatch() {
  stream_->ctx.TryCancel();
  if (reader_.joinable()) reader_.join();
}

Status EtcdWatch::Start(const std::string& key, const std::string& range_end,
                        int64_t start_revision, std::chrono::milliseconds deadline) {
  stream_->rw = stream_->stub->Watch(&stream_->ctx);
  pb::WatchRequest req;
  pb::WatchCreateRequest* create = req.mutable_create_request();
  create->set_key(key);
  create->set_range_end(range_end);
  create->set_start_revision(start_revision);
  if (!stream_->rw->Write(req)) {
    stream_->ctx.TryCancel();
    grpc::Status s = stream_->rw->Finish();
    return s.ok() ? Status::Unavailable("etcd watch: stream closed") : FromGrpc(s, "watch");
  }
  reader_ = std::thread([this] { ReadLoop(); });
  std::unique_lock lock(mu_);
  if (!cv_.wait_for(lock, deadline, [&] { return created_ || broken_; })) {
    return Status::Unavailable("etcd watch: not created within the deadline");
  }
  if (compact_revision_ != 0) {
    return Status::NotFound("etcd watch: revision " + std::to_string(start_revision) +
                            " compacted (compact revision " + std::to_string(compact_revision_) +
                            ")");
  }
  if (!created_) return Status::Unavailable("etcd watch: " + error_);
  return Status::OK();
}

void EtcdWatch::ReadLoop() {
  pb::WatchResponse resp;
  while (stream_->rw->Read(&resp)) {
    std::lock_guard lock(mu_);
    if (resp.has_header() && resp.header().revision() > revision_) {
      revision_ = resp.header().revision();
    }
    if (resp.compact_revision() != 0) {
      compact_revision_ = resp.compact_revision();
      break;
    }
    if (resp.canceled()) {
      error_ = "canceled by etcd: " + resp.cancel_reason();
      break;
    }
    if (resp.created()) created_ = true;
    for (const auto& ev : resp.events()) {
      WatchEvent event;
      event.kind =
          ev.type() == mvccpb::Event::DELETE ? WatchEvent::Kind::kDelete : WatchEvent::Kind::kPut;
      event.key = ev.kv().key();
      event.value = ev.kv().value();
      event.mod_revision = ev.kv().mod_revision();
      queue_.push_back(std::move(event));
    }
    if (!queue_.empty()) cv_.notify_all();
  }
  stream_->ctx.TryCancel();  // when we stopped reading on our own
  grpc::Status s = stream_->rw->Finish();
  std::lock_guard lock(mu_);
  if (error_.empty()) error_ = s.ok() ? "stream ended" : s.error_message();
  broken_ = true;
  cv_.notify_all();
}

Status EtcdWatch::Next(std::chrono::milliseconds timeout, std::vector<WatchEvent>* events,
                       int64_t* revision) {
  events->clear();
  std::unique_lock lock(mu_);
  cv_.wait_for(lock, timeout, [&] { return !queue_.empty() || broken_ || interrupted_; });
  interrupted_ = false;
  *revision = revision_;
  if (!queue_.empty()) {
    events->assign(std::make_move_iterator(queue_.begin()), std::make_move_iterator(queue_.end()));
    queue_.clear();
    return Status::OK();
  }
  if (compact_revision_ != 0) {
    return Status::NotFound("etcd watch: compacted to revision " +
                            std::to_string(compact_revision_));
  }
  if (broken_) return Status::Unavailable("etcd watch: " + error_);
  return Status::OK();
}

void EtcdWatch::Interrupt() {
  std::lock_guard lock(mu_);
  interrupted_ = true;
  cv_.notify_all();
}

int64_t EtcdWatch::compact_revision() const {
  std::lock_guard lock(mu_);
  return compact_revision_;
}

}  // namespace bale::coord
