// The {"String": ...} / {"Regex": ...} patterns of tokenizer.json's Split, Replace (normalizer and decoder).
#pragma once

#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include <nlohmann/json_fwd.hpp>

#include "data/tokenizer/regex.h"

namespace mha2mla::tokenizer {

class ReplacePattern {
 public:
  static ReplacePattern literal(std::string text);
  static ReplacePattern regex(const std::string& pattern, const std::string& where);

  // Non-overlapping matches left to right as byte ranges.
  std::vector<std::pair<size_t, size_t>> matches(std::string_view text) const;

  // `text` with every match replaced by `content`.
  std::string replace_all(std::string_view text, std::string_view content) const;

 private:
  std::string literal_;                 // used when regex_ is null
  std::shared_ptr<const Regex> regex_;  // shared: patterns are copied into several components
};

// Reads {"String": "..."} or {"Regex": "..."}.
ReplacePattern parse_replace_pattern(const nlohmann::json& spec, const std::string& where);

}  // namespace mha2mla::tokenizer
