// EtcdWatch: one etcd watch stream, made by EtcdClient::Watch (issue #13).
//
// Contract:
// - A reader thread reads the stream and queues what it reads; Next waits (on a condition
//   variable, never spinning) until events are queued, the stream breaks, Interrupt is
//   called or the timeout passes.
// - Next returns the events queued so far, in etcd's order, and `revision`, the store's
//   revision as of the last response read (a caller that loses the stream re-watches from
//   its last revision + 1). OK with no events: nothing came in time (or Interrupt).
//   Unavailable: the stream broke (etcd went away, or the keep-alive found it hung); the
//   watch is over, make a new one. NotFound: etcd compacted past the watch's revision
//   (compact_revision() says to where); read the key afresh with a Range.
// - Next is for the owning thread; Interrupt may be called from any thread. Destroying the
//   watch cancels the stream and joins the reader.
#pragma once

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "base/status.h"
#include "coord/etcd_client.h"

namespace bale::coord {

class EtcdWatch {
 public:
  ~EtcdWatch();
  EtcdWatch(const EtcdWatch&) = delete;
  EtcdWatch& operator=(const EtcdWatch&) = delete;

  Status Next(std::chrono::milliseconds timeout, std::vector<WatchEvent>* events,
              int64_t* revision);
  // Wakes a Next waiting now (or the next one) to return OK with no events. Thread-safe.
  void Interrupt();
  int64_t compact_revision() const;

  struct Stream;  // the gRPC stream and its context (etcd_watch.cc)

 private:
  friend class EtcdClient;
  explicit EtcdWatch(std::unique_ptr<Stream> stream);
  // Sends the create request and waits for etcd's answer (created, or compacted).
  Status Start(const std::string& key, const std::string& range_end, int64_t start_revision,
               std::chrono::milliseconds deadline);
  void ReadLoop();

  std::unique_ptr<Stream> stream_;
  std::thread reader_;

  mutable std::mutex mu_;
  std::condition_variable cv_;
  std::deque<WatchEvent> queue_;  // guarded by mu_, as is everything below
  int64_t revision_ = 0;
  int64_t compact_revision_ = 0;
  bool created_ = false;
  bool broken_ = false;  // the stream ended: compacted or Unavailable
  bool interrupted_ = false;
  std::string error_;
};

}  // namespace bale::coord
