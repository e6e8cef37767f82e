#include "data/tokenizer/pattern.h"

#include <nlohmann/json.hpp>

#include "common/error.h"

namespace mha2mla::tokenizer {

ReplacePattern ReplacePattern::literal(std::string text) {
  ReplacePattern p;
  p.literal_ = std::move(text);
  return p;
}

ReplacePattern ReplacePattern::regex(const std::string& pattern, const std::string& where) {
  ReplacePattern p;
  p.regex_ = std::make_shared<const Regex>(pattern, where);
  return p;
}

std::vector<std::pair<size_t, size_t>> ReplacePattern::matches(std::string_view text) const {
  if (regex_) return regex_->find_all(text);
  std::vector<std::pair<size_t, size_t>> out;
  if (literal_.empty()) return out;
  for (size_t at = text.find(literal_); at != std::string_view::npos; at = text.find(literal_, at + literal_.size()))
    out.emplace_back(at, at + literal_.size());
  return out;
}

std::string ReplacePattern::replace_all(std::string_view text, std::string_view content) const {
  std::string out;
  out.reserve(text.size());
  size_t previous = 0;
  for (const auto& [begin, end] : matches(text)) {
    out.append(text.substr(previous, begin - previous));
    out.append(content);
    previous = end;
  }
  out.append(text.substr(previous));
  return out;
}

ReplacePattern parse_replace_pattern(const nlohmann::json& spec, const std::string& where) {
  if (spec.is_object() && spec.contains("String") && spec["String"].is_string())
    return ReplacePattern::literal(spec["String"].get<std::string>());
  if (spec.is_object() && spec.contains("Regex") && spec["Regex"].is_string())
    return ReplacePattern::regex(spec["Regex"].get<std::string>(), where + ".Regex");
  fail("{}: expected {{\"String\": ...}} or {{\"Regex\": ...}}, found {}", where, spec.dump());
}

}  // namespace mha2mla::tokenizer
