// StreamFuzz: what the memcached parsers' libFuzzer targets share (memcache_parser_fuzz.cc,
// memcache_binary_fuzz.cc; built and run by scripts/fuzz).
//
// The input is a byte stream as a client might send it. It is parsed the way a connection
// does (advance by `consumed`, discard `swallow` bytes, stop where the protocol closes),
// and then fed again split in two at a position taken from the data, which must give the
// same sequence of results. Each target supplies a Proto:
//   using Request = ...; using Result = ...;  (Result has consumed and swallow)
//   static Result Step(std::string_view rest, Request* req);  parses and checks the contract
//   static std::string Describe(const Result&, const Request&);  comparable, by content
//   static bool Incomplete(const Result&);  needs more bytes
//   static bool Ends(const Result&);        the connection closes after it
// Test code only: it aborts on a failed check, as a fuzzer wants.
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#define FUZZ_CHECK(cond)                                                            \
  do {                                                                              \
    if (!(cond)) {                                                                  \
      std::fprintf(stderr, "%s:%d: check failed: %s\n", __FILE__, __LINE__, #cond); \
      std::abort();                                                                 \
    }                                                                               \
  } while (0)

namespace bale::proto::fuzz {

// A copy of some bytes in a heap block of exactly their size, so that ASan reports any
// read past the end.
class Exact {
 public:
  explicit Exact(std::string_view s) : size_(s.size()), buf_(new char[s.empty() ? 1 : s.size()]) {
    if (!s.empty()) std::memcpy(buf_.get(), s.data(), s.size());
  }
  std::string_view view() const { return std::string_view(buf_.get(), size_); }

 private:
  size_t size_;
  std::unique_ptr<char[]> buf_;
};

inline bool Within(std::string_view v, std::string_view outer) {
  if (v.empty()) return true;
  return v.data() >= outer.data() && v.data() + v.size() <= outer.data() + outer.size();
}

template <class Proto>
class StreamFuzz {
 public:
  using Request = typename Proto::Request;
  using Result = typename Proto::Result;

  // The libFuzzer entry: the stream parsed whole, then in two pieces, must agree.
  static int Run(const uint8_t* data, size_t size) {
    std::string_view input(reinterpret_cast<const char*>(data), size);
    std::vector<std::string> whole = ParseStream(input);
    size_t cut = 0;
    if (size > 0) cut = (static_cast<size_t>(data[0]) * 257 + data[size - 1] + size) % (size + 1);
    Conn conn;
    conn.Feed(input.substr(0, cut));
    conn.Feed(input.substr(cut));
    FUZZ_CHECK(conn.Finish() == whole);
    return 0;
  }

 private:
  // Parses a whole stream the simple way; stops at the first incomplete step or close.
  static std::vector<std::string> ParseStream(std::string_view input) {
    std::vector<std::string> seen;
    uint64_t swallow = 0;
    while (!input.empty()) {
      if (swallow > 0) {
        size_t n = swallow < input.size() ? static_cast<size_t>(swallow) : input.size();
        input.remove_prefix(n);
        swallow -= n;
        continue;
      }
      Request req;
      Result r = Proto::Step(input, &req);
      seen.push_back(Proto::Describe(r, req));
      if (Proto::Incomplete(r) || Proto::Ends(r)) break;
      input.remove_prefix(r.consumed);
      swallow = r.swallow;
    }
    return seen;
  }

  // A connection buffer fed in chunks: parse as far as possible, keep the remainder.
  class Conn {
   public:
    void Feed(std::string_view bytes) {
      if (closed_) return;
      buf_.append(bytes);
      for (;;) {
        if (swallow_ > 0) {
          size_t n = swallow_ < buf_.size() ? static_cast<size_t>(swallow_) : buf_.size();
          buf_.erase(0, n);
          swallow_ -= n;
          if (swallow_ > 0) return;
        }
        if (buf_.empty()) return;
        Exact input(buf_);
        Request req;
        Result r = Proto::Step(input.view(), &req);
        if (Proto::Incomplete(r)) return;
        seen_.push_back(Proto::Describe(r, req));
        if (Proto::Ends(r)) {
          closed_ = true;
          return;
        }
        buf_.erase(0, r.consumed);
        swallow_ = r.swallow;
      }
    }

    // What the stream parse reports at the end: the final incomplete step, if any.
    std::vector<std::string> Finish() {
      std::vector<std::string> out = seen_;
      if (!closed_ && swallow_ == 0 && !buf_.empty()) {
        Exact input(buf_);
        Request req;
        Result r = Proto::Step(input.view(), &req);
        FUZZ_CHECK(Proto::Incomplete(r));
        out.push_back(Proto::Describe(r, req));
      }
      return out;
    }

   private:
    std::string buf_;
    uint64_t swallow_ = 0;
    bool closed_ = false;
    std::vector<std::string> seen_;
  };
};

}  // namespace bale::proto::fuzz
