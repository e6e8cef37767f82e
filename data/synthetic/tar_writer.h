// A minimal POSIX ustar writer for WebDataset shards: regular files only, names up to 100 bytes, mtime 0 and
// owner 0 (so the same members give the same bytes), the archive closed by two zero blocks. Written to a
// temporary file and renamed into place by finish().
#pragma once

#include <fstream>
#include <string>
#include <string_view>

namespace mha2mla::data {

class TarWriter {
 public:
  explicit TarWriter(const std::string& path);
  ~TarWriter();
  TarWriter(const TarWriter&) = delete;
  TarWriter& operator=(const TarWriter&) = delete;

  void add(const std::string& name, std::string_view bytes);
  void finish();

 private:
  std::string path_;
  std::string temporary_;
  std::ofstream out_;
  bool finished_ = false;
};

}  // namespace mha2mla::data
