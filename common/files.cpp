#include "common/files.h"

#include <fcntl.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "common/error.h"

namespace mha2mla {
namespace fs = std::filesystem;

std::string read_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) fail("cannot open '{}': {}", path, std::strerror(errno));
  std::ostringstream buffer;
  buffer << in.rdbuf();
  if (in.bad()) fail("error reading '{}'", path);
  return buffer.str();
}

std::string temporary_sibling(const std::string& path) {
  static std::atomic<unsigned> counter{0};
  return fmt::format("{}.tmp.{}.{}", path, ::getpid(), counter++);
}

static void fsync_path(const std::string& path, int flags) {
  int fd = ::open(path.c_str(), flags);
  if (fd < 0) return;
  ::fsync(fd);
  ::close(fd);
}

void atomic_rename(const std::string& from, const std::string& to) {
  if (std::rename(from.c_str(), to.c_str()) != 0)
    fail("cannot rename '{}' to '{}': {}", from, to, std::strerror(errno));
  std::string dir = parent_directory(to);
  fsync_path(dir.empty() ? "." : dir, O_RDONLY | O_DIRECTORY);
}

void write_file_atomic(const std::string& path, std::string_view contents) {
  std::string tmp = temporary_sibling(path);
  {
    std::ofstream out(tmp, std::ios::binary | std::ios::trunc);
    if (!out) fail("cannot create '{}': {}", tmp, std::strerror(errno));
    out.write(contents.data(), static_cast<std::streamsize>(contents.size()));
    out.flush();
    if (!out) {
      std::remove(tmp.c_str());
      fail("cannot write '{}' ({} bytes): {}", path, contents.size(), std::strerror(errno));
    }
  }
  fsync_path(tmp, O_RDONLY);
  atomic_rename(tmp, path);
}

void ensure_directory(const std::string& path) {
  std::error_code ec;
  fs::create_directories(path, ec);
  if (ec || !fs::is_directory(path)) fail("cannot create directory '{}': {}", path, ec.message());
}

bool file_exists(const std::string& path) { return fs::is_regular_file(path); }
bool directory_exists(const std::string& path) { return fs::is_directory(path); }

std::string path_join(const std::string& a, const std::string& b) {
  if (a.empty() || (!b.empty() && b.front() == '/')) return b;
  return (fs::path(a) / b).string();
}

std::string parent_directory(const std::string& path) { return fs::path(path).parent_path().string(); }

}  // namespace mha2mla
