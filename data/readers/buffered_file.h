// A read-only file with a large buffer, read sequentially from any starting offset: what the dataset readers
// need on a shared filesystem (few, big, sequential reads; a seek only on resume or to skip a tar member).
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <memory>

namespace mha2mla::data {

class BufferedFile {
 public:
  static constexpr size_t kDefaultBuffer = size_t{1} << 20;

  // Opens `path` positioned at `offset`. Throws Error naming the path when it cannot be opened or sought.
  BufferedFile(const std::string& path, int64_t offset = 0, size_t buffer_bytes = kDefaultBuffer);
  ~BufferedFile();
  BufferedFile(const BufferedFile&) = delete;
  BufferedFile& operator=(const BufferedFile&) = delete;

  const std::string& path() const { return path_; }
  int64_t size() const { return size_; }
  int64_t offset() const { return buffer_offset_ + static_cast<int64_t>(pos_); }
  bool at_end() { return pos_ == end_ && !fill(); }

  // The unread part of the buffer; refill() makes more available (false at the end of the file).
  const char* data() const { return buffer_.get() + pos_; }
  size_t available() const { return end_ - pos_; }
  void consume(size_t n) { pos_ += n; }
  bool fill();

  // Reads exactly n bytes (appending to `out`); false when the file ends first (what was there is appended).
  bool read(size_t n, std::string& out);
  // Skips n bytes (a seek when they are not buffered); false when the file ends first.
  bool skip(int64_t n);
  void seek(int64_t offset);

 private:
  std::string path_;
  int fd_ = -1;
  int64_t size_ = 0;
  std::unique_ptr<char[]> buffer_;  // not zero-filled: a 1 MiB buffer per open costs nothing until read
  size_t capacity_ = 0;
  int64_t buffer_offset_ = 0;  // file offset of buffer_[0]
  size_t pos_ = 0, end_ = 0;
};

}  // namespace mha2mla::data
