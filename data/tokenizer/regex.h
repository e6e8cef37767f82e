// A compiled PCRE2 regular expression in UTF mode with Unicode properties (\p{L}, \s and \w by Unicode),
// JIT-compiled when the library supports it. Stands in for the Oniguruma expressions of tokenizer.json.
#pragma once

#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace mha2mla::tokenizer {

class Regex {
 public:
  // Throws Error naming `where` (e.g. "tokenizer.json: pre_tokenizer.pattern.Regex") when the pattern
  // does not compile.
  Regex(const std::string& pattern, const std::string& where);
  ~Regex();
  Regex(const Regex&) = delete;
  Regex& operator=(const Regex&) = delete;

  // Non-overlapping matches, left to right, as byte ranges [begin, end). `text` must be valid UTF-8.
  std::vector<std::pair<size_t, size_t>> find_all(std::string_view text) const;

  // Calls visit(begin, end) for each non-overlapping match; avoids the vector on hot paths.
  template <typename Visit>
  void for_each_match(std::string_view text, Visit&& visit) const {
    size_t start = 0;
    size_t begin = 0, end = 0;
    while (start <= text.size() && next_match(text, start, begin, end)) {
      visit(begin, end);
      // An empty match must not stall the scan: step over one code point.
      if (end == begin) {
        if (end >= text.size()) break;
        start = end + 1;
        while (start < text.size() && (static_cast<unsigned char>(text[start]) & 0xC0) == 0x80) ++start;
      } else {
        start = end;
      }
    }
  }

  // Whether the pattern matches anywhere in `text`.
  bool search(std::string_view text) const;

  const std::string& pattern() const { return pattern_; }

 private:
  bool next_match(std::string_view text, size_t start, size_t& begin, size_t& end) const;

  struct Impl;
  std::string pattern_;
  std::unique_ptr<Impl> impl_;
};

}  // namespace mha2mla::tokenizer
