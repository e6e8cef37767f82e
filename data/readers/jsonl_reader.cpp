// sharegpt_jsonl / messages_jsonl: one record per non-empty line.
#include "data/readers/buffered_file.h"
#include "data/readers/shard_reader.h"

#include <cstring>

namespace mha2mla::data {
namespace {

bool blank(const std::string& line) {
  for (char c : line)
    if (c != ' ' && c != '\t' && c != '\r') return false;
  return true;
}

class JsonlReader final : public ShardReader {
 public:
  JsonlReader(const std::string& path, const ShardPosition& start, size_t buffer)
      : file_(path, start.offset, buffer), line_(start.line) {}

  bool next(Record& record, bool keep) override {
    while (true) {
      if (!file_.fill()) return false;
      record.ref.offset = file_.offset();
      record.ref.line = line_;
      // Lines are read in full even when skipped: a blank line must not count as a record.
      line_text_.clear();
      read_line(line_text_);
      ++line_;
      if (blank(line_text_)) continue;
      if (keep) record.text = std::move(line_text_);
      else record.text.clear();
      return true;
    }
  }

  ShardPosition position() const override { return {file_.offset(), line_, false}; }

 private:
  void read_line(std::string& out) {
    while (file_.fill()) {
      const char* p = file_.data();
      const void* newline = std::memchr(p, '\n', file_.available());
      if (newline) {
        size_t n = static_cast<const char*>(newline) - p;
        out.append(p, n);
        file_.consume(n + 1);
        return;
      }
      out.append(p, file_.available());
      file_.consume(file_.available());
    }
  }

  BufferedFile file_;
  int64_t line_ = 1;
  std::string line_text_;
};

}  // namespace

std::unique_ptr<ShardReader> make_jsonl_reader(const std::string& path, const ShardPosition& start, size_t buffer) {
  return std::make_unique<JsonlReader>(path, start, buffer);
}

}  // namespace mha2mla::data
