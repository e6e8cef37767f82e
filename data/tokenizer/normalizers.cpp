#include "data/tokenizer/normalizers.h"

#include <nlohmann/json.hpp>

#include <vector>

#include "common/error.h"
#include "data/tokenizer/json_fields.h"
#include "data/tokenizer/pattern.h"
#include "data/tokenizer/unicode.h"

namespace mha2mla::tokenizer {
namespace {

class NfcNormalizer : public Normalizer {
 public:
  void normalize(std::string& text) const override { text = nfc(text); }
};

class NfdNormalizer : public Normalizer {
 public:
  void normalize(std::string& text) const override { text = nfd(text); }
};

class PrependNormalizer : public Normalizer {
 public:
  explicit PrependNormalizer(std::string prefix) : prefix_(std::move(prefix)) {}
  // Hugging Face prepends only to non-empty strings.
  void normalize(std::string& text) const override {
    if (!text.empty()) text.insert(0, prefix_);
  }

 private:
  std::string prefix_;
};

class ReplaceNormalizer : public Normalizer {
 public:
  ReplaceNormalizer(ReplacePattern pattern, std::string content)
      : pattern_(std::move(pattern)), content_(std::move(content)) {}
  void normalize(std::string& text) const override { text = pattern_.replace_all(text, content_); }

 private:
  ReplacePattern pattern_;
  std::string content_;
};

// Strips Unicode White_Space (Rust's char::is_whitespace) from either end.
class StripNormalizer : public Normalizer {
 public:
  StripNormalizer(bool left, bool right) : left_(left), right_(right) {}
  void normalize(std::string& text) const override {
    std::vector<uint32_t> cps = decode_utf8(text);
    size_t begin = 0, end = cps.size();
    if (left_)
      while (begin < end && is_unicode_whitespace(cps[begin])) ++begin;
    if (right_)
      while (end > begin && is_unicode_whitespace(cps[end - 1])) --end;
    if (begin == 0 && end == cps.size()) return;
    std::string out;
    for (size_t i = begin; i < end; ++i) append_utf8(out, cps[i]);
    text = std::move(out);
  }

 private:
  bool left_, right_;
};

class SequenceNormalizer : public Normalizer {
 public:
  explicit SequenceNormalizer(std::vector<std::unique_ptr<Normalizer>> steps) : steps_(std::move(steps)) {}
  void normalize(std::string& text) const override {
    for (const auto& step : steps_) step->normalize(text);
  }

 private:
  std::vector<std::unique_ptr<Normalizer>> steps_;
};

}  // namespace

std::unique_ptr<Normalizer> parse_normalizer(const nlohmann::json& spec, const std::string& where) {
  if (spec.is_null()) return nullptr;
  const std::string type = json_string(spec, "type", where);
  if (type == "NFC") return std::make_unique<NfcNormalizer>();
  if (type == "NFD") return std::make_unique<NfdNormalizer>();
  if (type == "Prepend") return std::make_unique<PrependNormalizer>(json_string(spec, "prepend", where));
  if (type == "Replace") {
    auto pattern = parse_replace_pattern(json_field(spec, "pattern", where), where + ".pattern");
    return std::make_unique<ReplaceNormalizer>(std::move(pattern), json_string(spec, "content", where));
  }
  if (type == "Strip") {
    return std::make_unique<StripNormalizer>(json_bool(spec, "strip_left", where, true),
                                             json_bool(spec, "strip_right", where, true));
  }
  if (type == "Sequence") {
    const auto& list = json_field(spec, "normalizers", where);
    std::vector<std::unique_ptr<Normalizer>> steps;
    for (size_t i = 0; i < list.size(); ++i) {
      auto step = parse_normalizer(list[i], fmt::format("{}.normalizers[{}]", where, i));
      if (step) steps.push_back(std::move(step));
    }
    return std::make_unique<SequenceNormalizer>(std::move(steps));
  }
  fail_with_hint("supported normalizers: NFC, NFD, Prepend, Replace, Strip, Sequence",
                 "{}: normalizer type '{}' is not supported", where, type);
}

}  // namespace mha2mla::tokenizer
