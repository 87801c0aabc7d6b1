// Status: the result of an operation that can fail.
//
// Contract: every I/O and parse path returns a Status (or a Result<T>) instead of
// throwing. Corruption (bytes on disk that fail their checks) is kept distinct from
// IOError (the OS refused), NotFound (a normal miss), InvalidArgument (a caller
// mistake) and Unavailable (a damaged partition that answers nothing rather than a wrong
// miss). An OK status carries no allocation; an error carries a short message.
#pragma once

#include <memory>
#include <string>
#include <string_view>
#include <utility>

namespace bale {

class [[nodiscard]] Status {
 public:
  enum class Code : unsigned char {
    kOk = 0,
    kNotFound,
    kCorruption,
    kIOError,
    kInvalidArgument,
    kNoSpace,  // the disk is full: writes fail, reads go on
    kExists,   // the key (or file) is already there
    kBusy,     // held by another process (a data directory's lock)
    // A partition that cannot serve (its files are damaged, or it could not open): the
    // message names it and why. Not a miss: the object may well be there.
    kUnavailable,
  };

  Status() = default;
  static Status OK() { return Status(); }
  static Status NotFound(std::string_view msg = {}) { return Status(Code::kNotFound, msg); }
  static Status Corruption(std::string_view msg) { return Status(Code::kCorruption, msg); }
  static Status IOError(std::string_view msg) { return Status(Code::kIOError, msg); }
  static Status InvalidArgument(std::string_view msg) {
    return Status(Code::kInvalidArgument, msg);
  }
  static Status NoSpace(std::string_view msg) { return Status(Code::kNoSpace, msg); }
  static Status Exists(std::string_view msg = {}) { return Status(Code::kExists, msg); }
  static Status Busy(std::string_view msg) { return Status(Code::kBusy, msg); }
  static Status Unavailable(std::string_view msg) { return Status(Code::kUnavailable, msg); }
  // An error from errno: ENOSPC and EDQUOT become NoSpace, everything else IOError.
  static Status FromErrno(std::string_view context, int err);

  bool ok() const { return code_ == Code::kOk; }
  bool IsNotFound() const { return code_ == Code::kNotFound; }
  bool IsCorruption() const { return code_ == Code::kCorruption; }
  bool IsIOError() const { return code_ == Code::kIOError; }
  bool IsInvalidArgument() const { return code_ == Code::kInvalidArgument; }
  bool IsNoSpace() const { return code_ == Code::kNoSpace; }
  bool IsExists() const { return code_ == Code::kExists; }
  bool IsBusy() const { return code_ == Code::kBusy; }
  bool IsUnavailable() const { return code_ == Code::kUnavailable; }
  Code code() const { return code_; }
  std::string_view message() const { return msg_ ? std::string_view(*msg_) : std::string_view(); }
  std::string ToString() const;

  Status(const Status& o) : code_(o.code_) {
    if (o.msg_) msg_ = std::make_unique<std::string>(*o.msg_);
  }
  Status& operator=(const Status& o) {
    if (this != &o) *this = Status(o);
    return *this;
  }
  Status(Status&&) noexcept = default;
  Status& operator=(Status&&) noexcept = default;

 private:
  Status(Code code, std::string_view msg)
      : code_(code), msg_(msg.empty() ? nullptr : std::make_unique<std::string>(msg)) {}
  Code code_ = Code::kOk;
  std::unique_ptr<std::string> msg_;
};

}  // namespace bale

// Returns early from the calling function when `expr` is not OK.
#define BALE_RETURN_IF_ERROR(expr) \
  do {                             \
    ::bale::Status _st = (expr);   \
    if (!_st.ok()) return _st;     \
  } while (0)
