#include "data/synthetic/tar_writer.h"

#include <cstdio>
#include <cstring>

#include "common/error.h"
#include "common/files.h"

namespace mha2mla::data {

namespace {

constexpr size_t kBlock = 512;

void put_octal(char* field, size_t width, uint64_t value) {
  // width - 1 octal digits and a NUL, as GNU and Python's tarfile write them.
  std::snprintf(field, width, "%0*llo", static_cast<int>(width - 1), static_cast<unsigned long long>(value));
}

}  // namespace

TarWriter::TarWriter(const std::string& path) : path_(path), temporary_(temporary_sibling(path)) {
  out_.open(temporary_, std::ios::binary | std::ios::trunc);
  if (!out_) fail("cannot create '{}'", temporary_);
}

TarWriter::~TarWriter() {
  if (!finished_) {
    out_.close();
    std::remove(temporary_.c_str());
  }
}

void TarWriter::add(const std::string& name, std::string_view bytes) {
  if (name.empty() || name.size() > 100) fail("tar member name '{}' must have 1 to 100 bytes", name);
  char header[kBlock] = {};
  std::memcpy(header, name.data(), name.size());
  put_octal(header + 100, 8, 0644);
  put_octal(header + 108, 8, 0);
  put_octal(header + 116, 8, 0);
  put_octal(header + 124, 12, bytes.size());
  put_octal(header + 136, 12, 0);
  std::memset(header + 148, ' ', 8);
  header[156] = '0';
  std::memcpy(header + 257, "ustar", 6);  // "ustar\0"
  std::memcpy(header + 263, "00", 2);
  unsigned sum = 0;
  for (size_t i = 0; i < kBlock; ++i) sum += static_cast<unsigned char>(header[i]);
  std::snprintf(header + 148, 8, "%06o", sum);  // six digits, NUL, then the space already there
  header[155] = ' ';
  out_.write(header, kBlock);
  out_.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
  const size_t padding = (kBlock - bytes.size() % kBlock) % kBlock;
  static const char zeros[kBlock] = {};
  out_.write(zeros, static_cast<std::streamsize>(padding));
  if (!out_) fail("error writing '{}'", temporary_);
}

void TarWriter::finish() {
  static const char zeros[2 * kBlock] = {};
  out_.write(zeros, sizeof(zeros));
  out_.close();
  if (!out_) fail("error writing '{}'", temporary_);
  atomic_rename(temporary_, path_);
  finished_ = true;
}

}  // namespace mha2mla::data
