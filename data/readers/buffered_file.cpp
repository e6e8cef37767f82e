#include "data/readers/buffered_file.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "common/error.h"

namespace mha2mla::data {

BufferedFile::BufferedFile(const std::string& path, int64_t offset, size_t buffer_bytes)
    : path_(path), buffer_(new char[buffer_bytes]), capacity_(buffer_bytes) {
  fd_ = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd_ < 0) fail("cannot open dataset file '{}': {}", path, std::strerror(errno));
  struct stat st {};
  if (::fstat(fd_, &st) != 0) {
    int err = errno;
    ::close(fd_);
    fail("cannot stat '{}': {}", path, std::strerror(err));
  }
  size_ = st.st_size;
#ifdef POSIX_FADV_SEQUENTIAL
  ::posix_fadvise(fd_, 0, 0, POSIX_FADV_SEQUENTIAL);
#endif
  seek(offset);
}

BufferedFile::~BufferedFile() {
  if (fd_ >= 0) ::close(fd_);
}

void BufferedFile::seek(int64_t offset) {
  if (offset < 0 || offset > size_)
    fail("'{}': position {} is outside the file ({} bytes); was the dataset changed since the checkpoint?", path_,
         offset, size_);
  buffer_offset_ = offset;
  pos_ = end_ = 0;
}

bool BufferedFile::fill() {
  if (pos_ < end_) return true;
  buffer_offset_ += static_cast<int64_t>(end_);
  pos_ = end_ = 0;
  while (true) {
    ssize_t got = ::pread(fd_, buffer_.get(), capacity_, buffer_offset_);
    if (got < 0) {
      if (errno == EINTR) continue;
      fail("error reading '{}' at byte {}: {}", path_, buffer_offset_, std::strerror(errno));
    }
    end_ = static_cast<size_t>(got);
    return got > 0;
  }
}

bool BufferedFile::read(size_t n, std::string& out) {
  while (n > 0) {
    if (!fill()) return false;
    size_t take = std::min(n, available());
    out.append(data(), take);
    consume(take);
    n -= take;
  }
  return true;
}

bool BufferedFile::skip(int64_t n) {
  if (static_cast<int64_t>(available()) >= n) {
    consume(static_cast<size_t>(n));
    return true;
  }
  int64_t target = offset() + n;
  if (target > size_) {
    seek(size_);
    return false;
  }
  seek(target);
  return true;
}

}  // namespace mha2mla::data
