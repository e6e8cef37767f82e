// wds: WebDataset tar shards read sequentially with a small tar reader of our own. Supported: POSIX ustar
// (name + prefix), GNU long names ('L' entries), pax extended headers ('x' with a path record), size fields in
// octal or GNU base-256. Directories, links and other entry types are skipped. A sample is the run of
// consecutive regular files sharing a key: WebDataset's rule, the path up to the first '.' of the file name
// ("dir/000123.0.jpg" -> key "dir/000123", extension "0.jpg").
#include <cctype>
#include <cstring>

#include "common/error.h"
#include "common/strings.h"
#include "data/readers/buffered_file.h"
#include "data/readers/shard_reader.h"

namespace mha2mla::data {
namespace {

constexpr int64_t kBlock = 512;

struct MemberHeader {
  std::string name;
  int64_t size = 0;
  int64_t start_offset = 0;  // the first header of the entry (a long-name or pax header when there is one)
};

std::string field_string(const char* p, size_t n) { return std::string(p, strnlen(p, n)); }

// Octal with optional spaces/NULs, or GNU base-256 (high bit of the first byte set).
bool parse_size(const unsigned char* p, size_t n, int64_t& out) {
  if (p[0] & 0x80) {
    uint64_t v = p[0] & 0x7f;
    for (size_t i = 1; i < n; ++i) v = (v << 8) | p[i];
    out = static_cast<int64_t>(v);
    return true;
  }
  int64_t v = 0;
  size_t i = 0;
  while (i < n && (p[i] == ' ' || p[i] == 0)) ++i;
  bool any = false;
  for (; i < n && p[i] >= '0' && p[i] <= '7'; ++i) {
    v = v * 8 + (p[i] - '0');
    any = true;
  }
  out = v;
  return any || i == n;
}

bool checksum_ok(const unsigned char* h) {
  int64_t stored = 0;
  if (!parse_size(h + 148, 8, stored)) return false;
  int64_t unsigned_sum = 0, signed_sum = 0;
  for (int64_t i = 0; i < kBlock; ++i) {
    unsigned char c = (i >= 148 && i < 156) ? ' ' : h[i];
    unsigned_sum += c;
    signed_sum += static_cast<signed char>(c);
  }
  return stored == unsigned_sum || stored == signed_sum;
}

std::string pax_path(const std::string& records) {
  // "<length> <key>=<value>\n" repeated.
  std::string path;
  size_t at = 0;
  while (at < records.size()) {
    size_t space = records.find(' ', at);
    if (space == std::string::npos) break;
    size_t length = std::strtoul(records.c_str() + at, nullptr, 10);
    if (length == 0 || at + length > records.size()) break;
    std::string entry = records.substr(space + 1, at + length - space - 2);
    if (starts_with(entry, "path=")) path = entry.substr(5);
    at += length;
  }
  return path;
}

class TarReader final : public ShardReader {
 public:
  TarReader(const std::string& path, const ShardPosition& start, size_t buffer)
      : file_(path, start.offset, buffer) {}

  bool next(Record& record, bool keep) override {
    if (!has_pending_ && !read_header(pending_)) return false;
    has_pending_ = false;
    record.ref.offset = pending_.start_offset;
    record.ref.line = 0;
    record.text.clear();
    record.members.clear();
    record.key = split_name(pending_.name).first;
    while (true) {
      take_data(pending_, record, keep);
      if (!read_header(pending_)) break;
      if (split_name(pending_.name).first != record.key) {
        has_pending_ = true;
        break;
      }
    }
    if (!keep) record.key.clear();
    return true;
  }

  ShardPosition position() const override { return {has_pending_ ? pending_.start_offset : file_.offset(), 0, false}; }

 private:
  static std::pair<std::string, std::string> split_name(const std::string& name) {
    size_t slash = name.rfind('/');
    size_t base = slash == std::string::npos ? 0 : slash + 1;
    size_t dot = name.find('.', base);
    if (dot == std::string::npos) return {name, ""};
    return {name.substr(0, dot), name.substr(dot + 1)};
  }

  void take_data(const MemberHeader& h, Record& record, bool keep) {
    const int64_t padded = (h.size + kBlock - 1) / kBlock * kBlock;
    if (!keep) {
      file_.skip(padded);
      return;
    }
    std::string bytes;
    file_.read(static_cast<size_t>(h.size), bytes);  // a truncated member keeps what is there
    file_.skip(padded - h.size);
    std::string extension = split_name(h.name).second;
    if (to_lower(extension) == "json" && record.text.empty()) record.text = std::move(bytes);
    else record.members.push_back({std::move(extension), std::move(bytes)});
  }

  static std::string to_lower(std::string s) {
    for (char& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    return s;
  }

  // The next regular file's header (long names resolved); false at the end of the archive.
  bool read_header(MemberHeader& out) {
    std::string long_name;
    int64_t start = -1;
    while (true) {
      const int64_t offset = file_.offset();
      std::string block;
      if (!file_.read(kBlock, block)) return false;  // end of file (a missing end-of-archive block is tolerated)
      const auto* h = reinterpret_cast<const unsigned char*>(block.data());
      bool zero = true;
      for (char c : block) zero = zero && c == 0;
      if (zero) return false;  // end-of-archive marker
      if (!checksum_ok(h))
        fail("{}: tar header at byte {} has a bad checksum (not a tar file, or corrupted)", file_.path(), offset);
      if (start < 0) start = offset;
      int64_t size = 0;
      if (!parse_size(h + 124, 12, size))
        fail("{}: tar header at byte {} has an unreadable size field", file_.path(), offset);
      const char type = static_cast<char>(h[156]);
      const int64_t padded = (size + kBlock - 1) / kBlock * kBlock;
      if (type == 'L' || type == 'x') {
        std::string payload;
        if (!file_.read(static_cast<size_t>(size), payload)) return false;
        file_.skip(padded - size);
        if (type == 'L') long_name = field_string(payload.data(), payload.size());
        else if (std::string path = pax_path(payload); !path.empty()) long_name = path;
        continue;
      }
      if (type != '0' && type != '\0' && type != '7') {  // directories, links, 'g' and others carry no sample
        file_.skip(padded);
        long_name.clear();
        start = -1;
        continue;
      }
      std::string name = long_name;
      if (name.empty()) {
        name = field_string(block.data(), 100);
        std::string prefix = field_string(block.data() + 345, 155);
        if (std::memcmp(block.data() + 257, "ustar\0", 6) == 0 && !prefix.empty()) name = prefix + "/" + name;
      }
      out.name = name;
      out.size = size;
      out.start_offset = start;
      if (split_name(name).second.empty()) {  // no extension: not part of any sample (WebDataset skips these)
        file_.skip(padded);
        long_name.clear();
        start = -1;
        continue;
      }
      return true;
    }
  }

  BufferedFile file_;
  MemberHeader pending_;
  bool has_pending_ = false;
};

}  // namespace

std::unique_ptr<ShardReader> make_tar_reader(const std::string& path, const ShardPosition& start, size_t buffer) {
  return std::make_unique<TarReader>(path, start, buffer);
}

}  // namespace mha2mla::data
