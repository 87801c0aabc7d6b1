// Env: the narrow interface through which bale touches files and directories.
//
// Contract: the store never calls the OS directly for data files; it goes through an
// Env so that tests can inject faults (short writes, full disks, I/O errors). Every
// call returns a Status; errno is translated with Status::FromErrno (ENOSPC becomes
// NoSpace). PWrite and PWritev either write every byte or return an error; after an
// error some prefix of the data may have reached the file, as with a real short write.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "base/status.h"

namespace bale {

class File {
 public:
  virtual ~File() = default;
  // Reads up to n bytes at offset; *got < n only at end of file.
  virtual Status PRead(uint64_t offset, size_t n, char* buf, size_t* got) = 0;
  virtual Status PWrite(uint64_t offset, std::string_view data) = 0;
  // Writes the concatenation of `pieces` at offset (pwritev: one call for data that
  // lies in several buffers, without copying it into one).
  virtual Status PWritev(uint64_t offset, std::span<const std::string_view> pieces) = 0;
  virtual Status Sync() = 0;  // fdatasync: data and the size needed to read it back
  virtual Status Truncate(uint64_t size) = 0;
  virtual Status Size(uint64_t* size) = 0;
  // Maps the first `length` bytes for reading (length may run past the end of the file:
  // only bytes below the file's size may be touched). Returns null when mapping is not
  // supported, in which case readers use PRead. The mapping lives as long as the File.
  virtual const char* MapForRead(uint64_t length) { return nullptr; }
  // The OS descriptor, for sendfile(2) straight from the page cache to a socket; -1 when
  // there is none (test doubles), in which case callers copy.
  virtual int Descriptor() const { return -1; }
  // Hints that [offset, offset + n) of the mapping will be read soon (read-ahead).
  virtual void WillNeed(uint64_t offset, uint64_t n) {}
  // Gives the file `size` bytes of disk space now (fallocate); NoSpace if there is none.
  virtual Status Allocate(uint64_t size) { return Status::IOError("allocate: not supported"); }
};

// An exclusive lock on a file, held until destroyed (or the process ends).
class FileLock {
 public:
  virtual ~FileLock() = default;
};

enum class OpenMode {
  kRead,       // existing file, read only
  kReadWrite,  // existing file
  kCreate,     // create or truncate, read and write
};

class Env {
 public:
  virtual ~Env() = default;
  virtual Status Open(const std::string& path, OpenMode mode, std::unique_ptr<File>* out) = 0;
  virtual Status Rename(const std::string& from, const std::string& to) = 0;
  virtual Status Remove(const std::string& path) = 0;
  virtual Status CreateDir(const std::string& path) = 0;  // with parents; OK if it exists
  virtual Status SyncDir(const std::string& path) = 0;
  virtual Status ListDir(const std::string& path, std::vector<std::string>* names) = 0;
  virtual bool Exists(const std::string& path) = 0;
  // Takes an exclusive, non-blocking lock on `path` (created if missing) for as long as
  // *out lives, and records this process's id in the file. If another process (or
  // another lock in this one) holds it: Busy, naming the path and the holder's pid.
  // Not virtual: every Env locks the real file, so two processes always exclude each
  // other, whatever Env each uses.
  static Status LockFile(const std::string& path, std::unique_ptr<FileLock>* out);

  // Bytes an unprivileged writer may still use on the file system holding `path`.
  virtual Status FreeBytes(const std::string& path, uint64_t* bytes) {
    return Status::IOError("free space: not supported");
  }

  // The process-wide POSIX environment.
  static Env* Default();
};

// Writes `data` to `path` atomically: a temporary file, fdatasync, rename, fsync dir.
Status WriteFileAtomic(Env* env, const std::string& path, std::string_view data);
// Reads a whole file.
Status ReadWholeFile(Env* env, const std::string& path, std::string* out);

}  // namespace bale
