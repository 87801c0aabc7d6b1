#include "base/status.h"

#include <cerrno>
#include <cstring>

namespace bale {

Status Status::FromErrno(std::string_view context, int err) {
  std::string msg(context);
  msg += ": ";
  msg += std::strerror(err);
  if (err == ENOSPC || err == EDQUOT) return Status(Code::kNoSpace, msg);
  return Status(Code::kIOError, msg);
}

std::string Status::ToString() const {
  const char* name = "OK";
  switch (code_) {
    case Code::kOk:
      return "OK";
    case Code::kNotFound:
      name = "NotFound";
      break;
    case Code::kCorruption:
      name = "Corruption";
      break;
    case Code::kIOError:
      name = "IOError";
      break;
    case Code::kInvalidArgument:
      name = "InvalidArgument";
      break;
    case Code::kNoSpace:
      name = "NoSpace";
      break;
    case Code::kExists:
      name = "Exists";
      break;
    case Code::kBusy:
      name = "Busy";
      break;
    case Code::kUnavailable:
      name = "Unavailable";
      break;
  }
  std::string s(name);
  if (msg_) {
    s += ": ";
    s += *msg_;
  }
  return s;
}

}  // namespace bale
