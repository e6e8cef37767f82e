// llava_json: the top-level elements of one big JSON list, found without parsing them. The scanner tracks only
// what delimits an element (bracket depth outside strings, string escapes), so it reads at I/O speed and holds
// one element at a time; nlohmann::json parses the element later, in a worker.
#include <spdlog/spdlog.h>

#include "common/error.h"
#include "data/readers/buffered_file.h"
#include "data/readers/shard_reader.h"

namespace mha2mla::data {
namespace {

bool is_space(char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r'; }

class JsonListReader final : public ShardReader {
 public:
  JsonListReader(const std::string& path, const ShardPosition& start, size_t buffer)
      : file_(path, start.offset, buffer), line_(start.line), in_list_(start.in_list) {}

  bool next(Record& record, bool keep) override {
    if (done_) return false;
    if (!in_list_) open_list();
    if (done_) return false;
    // Between elements: whitespace and commas (a missing comma is tolerated), then an element or ']'.
    while (true) {
      if (!file_.fill()) {
        warn_unclosed();
        done_ = true;
        return false;
      }
      char c = *file_.data();
      if (c == ']') {
        file_.consume(1);
        done_ = true;
        return false;
      }
      if (!is_space(c) && c != ',') break;
      if (c == '\n') ++line_;
      file_.consume(1);
    }
    record.ref.offset = file_.offset();
    record.ref.line = line_;
    record.text.clear();
    scan_element(keep ? &record.text : nullptr);
    return true;
  }

  ShardPosition position() const override { return {file_.offset(), line_, in_list_}; }

 private:
  void open_list() {
    // An optional UTF-8 byte order mark, whitespace, then '['.
    std::string head;
    if (file_.offset() == 0 && file_.fill() && file_.available() >= 3 &&
        std::string_view(file_.data(), 3) == "\xEF\xBB\xBF")
      file_.consume(3);
    while (file_.fill() && is_space(*file_.data())) {
      if (*file_.data() == '\n') ++line_;
      file_.consume(1);
    }
    if (!file_.fill()) {
      done_ = true;  // an empty file holds no records
      return;
    }
    if (*file_.data() != '[')
      fail_with_hint("use format sharegpt_jsonl or messages_jsonl for one JSON document per line",
                     "{}: line {}: a llava_json file must be one JSON list, but it starts with '{}'", file_.path(),
                     line_, *file_.data());
    file_.consume(1);
    in_list_ = true;
  }

  // Consumes one JSON value (object, list, string or scalar), appending its bytes to `out` when given.
  void scan_element(std::string* out) {
    int depth = 0;
    bool in_string = false, escaped = false;
    const bool scalar = *file_.data() != '{' && *file_.data() != '[' && *file_.data() != '"';
    while (file_.fill()) {
      const char* p = file_.data();
      const size_t n = file_.available();
      size_t i = 0;
      bool finished = false;
      for (; i < n; ++i) {
        const char c = p[i];
        if (c == '\n') ++line_;
        if (in_string) {
          if (escaped) escaped = false;
          else if (c == '\\') escaped = true;
          else if (c == '"') {
            in_string = false;
            if (depth == 0) {
              ++i;
              finished = true;
              break;
            }
          }
          continue;
        }
        if (scalar) {
          if (c == ',' || c == ']' || is_space(c)) {
            if (c == '\n') --line_;  // the newline belongs to what follows
            finished = true;
            break;
          }
          continue;
        }
        if (c == '"') in_string = true;
        else if (c == '{' || c == '[') ++depth;
        else if (c == '}' || c == ']') {
          if (--depth == 0) {
            ++i;
            finished = true;
            break;
          }
        }
      }
      if (out) out->append(p, i);
      file_.consume(i);
      if (finished) return;
    }
    // The file ended inside the element: it is returned as it is (and will fail to parse), the list ends here.
    done_ = true;
  }

  void warn_unclosed() {
    spdlog::warn("{}: the JSON list is not closed by ']' (truncated file?); reading what is there", file_.path());
  }

  BufferedFile file_;
  int64_t line_ = 1;
  bool in_list_ = false;
  bool done_ = false;
};

}  // namespace

std::unique_ptr<ShardReader> make_json_list_reader(const std::string& path, const ShardPosition& start, size_t buffer) {
  return std::make_unique<JsonListReader>(path, start, buffer);
}

}  // namespace mha2mla::data
