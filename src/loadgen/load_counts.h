// Counts: what became of a load run's requests, by outcome and error kind.
//
// Contract: every request ends exactly once, as one of: a hit (a get's value came back;
// `verified` when its check passed, else a verify error too), a miss, a stored set, or
// an error of one kind:
//   connect       no connection to send it on (it was not sent)
//   timeout       no reply within --timeout (every request waiting on that connection)
//   server_error  SERVER_ERROR, a refused store, a binary server status, HTTP 5xx
//   client_error  ERROR, CLIENT_ERROR, a binary status blaming the request, HTTP 4xx
//   protocol      a reply that breaks the protocol or answers another request
//   verify        a value whose check fails, or a text reply naming another key
//   closed        its connection closed (by the server, or after another error) first
// A protocol or timeout error closes the connection; the requests behind the one that
// failed end as `closed` (as `timeout` for a timeout). Plain counters: one Counts per
// thread and per second, added up by Add.
#pragma once

#include <cstdint>
#include <string_view>

namespace bale::loadgen {

enum class ErrorKind : uint8_t {
  kConnect,
  kTimeout,
  kServer,
  kClient,
  kProtocol,
  kVerify,
  kClosed,
};
inline constexpr int kErrorKinds = 7;

std::string_view ErrorKindName(ErrorKind k);

struct Counts {
  uint64_t gets = 0;      // gets that ended (any outcome)
  uint64_t sets = 0;      // sets that ended
  uint64_t answered = 0;  // requests the server answered (hits, misses, stored, error replies)
  uint64_t hits = 0;
  uint64_t verified = 0;
  uint64_t misses = 0;
  uint64_t stored = 0;
  uint64_t errors[kErrorKinds] = {};
  uint64_t late_sends = 0;  // sent more than kLateNs after their scheduled time

  uint64_t& error(ErrorKind k) { return errors[static_cast<int>(k)]; }
  uint64_t error(ErrorKind k) const { return errors[static_cast<int>(k)]; }
  uint64_t ErrorTotal() const;
  void Add(const Counts& other);
};

// A send later than this after its scheduled time counts as late (the client fell behind).
inline constexpr int64_t kLateNs = 1000000;

}  // namespace bale::loadgen
