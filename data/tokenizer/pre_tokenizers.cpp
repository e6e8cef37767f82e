#include "data/tokenizer/pre_tokenizers.h"

#include <algorithm>

#include <nlohmann/json.hpp>

#include "common/error.h"
#include "data/tokenizer/byte_level.h"
#include "data/tokenizer/json_fields.h"
#include "data/tokenizer/pattern.h"

namespace mha2mla::tokenizer {
namespace {

// GPT-2's pre-tokenization expression, used by ByteLevel when use_regex is true.
constexpr const char* kGpt2Pattern =
    R"('s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+)";

// Appends the kept ranges of `piece` as new pieces.
void emit_ranges(const Piece& piece, const std::vector<std::pair<size_t, size_t>>& ranges, std::vector<Piece>& out) {
  for (const auto& [begin, end] : ranges) {
    if (end == begin) continue;
    Piece sub;
    sub.text = piece.text.substr(begin, end - begin);
    sub.at_input_start = piece.at_input_start && begin == 0;
    out.push_back(std::move(sub));
  }
}

class SplitPreTokenizer : public PreTokenizer {
 public:
  SplitPreTokenizer(ReplacePattern pattern, SplitBehavior behavior, bool invert)
      : pattern_(std::move(pattern)), behavior_(behavior), invert_(invert) {}

  void pre_tokenize(std::vector<Piece>& pieces) const override {
    split_pieces(pieces, [&](Piece& piece, std::vector<Piece>& out) {
      emit_ranges(piece, split_ranges(piece.text.size(), pattern_.matches(piece.text), behavior_, invert_), out);
    });
  }

 private:
  ReplacePattern pattern_;
  SplitBehavior behavior_;
  bool invert_;
};

class ByteLevelPreTokenizer : public PreTokenizer {
 public:
  ByteLevelPreTokenizer(bool add_prefix_space, bool use_regex) : add_prefix_space_(add_prefix_space) {
    if (use_regex) regex_ = std::make_unique<Regex>(kGpt2Pattern, "ByteLevel pre-tokenizer");
  }

  void pre_tokenize(std::vector<Piece>& pieces) const override {
    split_pieces(pieces, [&](Piece& piece, std::vector<Piece>& out) {
      if (add_prefix_space_ && (piece.text.empty() || piece.text[0] != ' ')) piece.text.insert(0, " ");
      auto emit = [&](size_t begin, size_t end) {
        if (end == begin) return;
        Piece sub;
        append_byte_level(sub.text, std::string_view(piece.text).substr(begin, end - begin));
        sub.at_input_start = piece.at_input_start && begin == 0;
        out.push_back(std::move(sub));
      };
      if (!regex_) {
        emit(0, piece.text.size());
        return;
      }
      size_t previous = 0;
      regex_->for_each_match(piece.text, [&](size_t begin, size_t end) {
        emit(previous, begin);
        emit(begin, end);
        previous = end;
      });
      emit(previous, piece.text.size());
    });
  }
  bool is_byte_level() const override { return true; }

 private:
  bool add_prefix_space_;
  std::unique_ptr<Regex> regex_;
};

enum class PrependScheme { kAlways, kFirst, kNever };

class MetaspacePreTokenizer : public PreTokenizer {
 public:
  MetaspacePreTokenizer(std::string replacement, PrependScheme scheme, bool split)
      : replacement_(std::move(replacement)), scheme_(scheme), split_(split) {}

  void pre_tokenize(std::vector<Piece>& pieces) const override {
    const ReplacePattern spaces = ReplacePattern::literal(" ");
    const ReplacePattern marks = ReplacePattern::literal(replacement_);
    split_pieces(pieces, [&](Piece& piece, std::vector<Piece>& out) {
      piece.text = spaces.replace_all(piece.text, replacement_);
      bool starts_with_mark = piece.text.compare(0, replacement_.size(), replacement_) == 0;
      if (!starts_with_mark && (scheme_ == PrependScheme::kAlways ||
                                (scheme_ == PrependScheme::kFirst && piece.at_input_start))) {
        piece.text.insert(0, replacement_);
      }
      if (!split_) {
        if (!piece.text.empty()) out.push_back(std::move(piece));
        return;
      }
      emit_ranges(piece, split_ranges(piece.text.size(), marks.matches(piece.text), SplitBehavior::kMergedWithNext,
                                      false),
                  out);
    });
  }

 private:
  std::string replacement_;
  PrependScheme scheme_;
  bool split_;
};

class SequencePreTokenizer : public PreTokenizer {
 public:
  explicit SequencePreTokenizer(std::vector<std::unique_ptr<PreTokenizer>> steps) : steps_(std::move(steps)) {}
  void pre_tokenize(std::vector<Piece>& pieces) const override {
    for (const auto& step : steps_) step->pre_tokenize(pieces);
  }
  bool is_byte_level() const override {
    for (const auto& step : steps_)
      if (step->is_byte_level()) return true;
    return false;
  }

 private:
  std::vector<std::unique_ptr<PreTokenizer>> steps_;
};

SplitBehavior parse_behavior(const std::string& name, const std::string& where) {
  if (name == "Removed") return SplitBehavior::kRemoved;
  if (name == "Isolated") return SplitBehavior::kIsolated;
  if (name == "MergedWithPrevious") return SplitBehavior::kMergedWithPrevious;
  if (name == "MergedWithNext") return SplitBehavior::kMergedWithNext;
  if (name == "Contiguous") return SplitBehavior::kContiguous;
  fail("{}.behavior: '{}' is not one of Removed, Isolated, MergedWithPrevious, MergedWithNext, Contiguous", where,
       name);
}

}  // namespace

std::vector<std::pair<size_t, size_t>> split_ranges(size_t length,
                                                    const std::vector<std::pair<size_t, size_t>>& matches,
                                                    SplitBehavior behavior, bool invert) {
  // Cover [0, length) with (range, is_match), as Pattern::find_matches does.
  struct Part {
    size_t begin, end;
    bool is_match;
  };
  std::vector<Part> parts;
  if (length == 0) {
    parts.push_back({0, 0, false});
  } else {
    size_t previous = 0;
    for (const auto& [begin, end] : matches) {
      if (previous != begin) parts.push_back({previous, begin, false});
      parts.push_back({begin, end, true});
      previous = end;
    }
    if (previous != length) parts.push_back({previous, length, false});
  }
  if (invert)
    for (auto& part : parts) part.is_match = !part.is_match;

  std::vector<std::pair<size_t, size_t>> kept;
  switch (behavior) {
    case SplitBehavior::kIsolated:
      for (const auto& p : parts) kept.emplace_back(p.begin, p.end);
      break;
    case SplitBehavior::kRemoved:
      for (const auto& p : parts)
        if (!p.is_match) kept.emplace_back(p.begin, p.end);
      break;
    case SplitBehavior::kContiguous: {
      bool previous_match = false;
      for (const auto& p : parts) {
        if (p.is_match == previous_match && !kept.empty()) kept.back().second = p.end;
        else kept.emplace_back(p.begin, p.end);
        previous_match = p.is_match;
      }
      break;
    }
    case SplitBehavior::kMergedWithPrevious: {
      bool previous_match = false;
      for (const auto& p : parts) {
        if (p.is_match && !previous_match && !kept.empty()) kept.back().second = p.end;
        else kept.emplace_back(p.begin, p.end);
        previous_match = p.is_match;
      }
      break;
    }
    case SplitBehavior::kMergedWithNext: {
      bool previous_match = false;
      for (auto it = parts.rbegin(); it != parts.rend(); ++it) {
        if (it->is_match && !previous_match && !kept.empty()) kept.back().first = it->begin;
        else kept.emplace_back(it->begin, it->end);
        previous_match = it->is_match;
      }
      std::reverse(kept.begin(), kept.end());
      break;
    }
  }
  return kept;
}

std::unique_ptr<PreTokenizer> parse_pre_tokenizer(const nlohmann::json& spec, const std::string& where) {
  if (spec.is_null()) return nullptr;
  const std::string type = json_string(spec, "type", where);
  if (type == "Split") {
    auto pattern = parse_replace_pattern(json_field(spec, "pattern", where), where + ".pattern");
    return std::make_unique<SplitPreTokenizer>(std::move(pattern),
                                               parse_behavior(json_string(spec, "behavior", where), where),
                                               json_bool(spec, "invert", where, false));
  }
  if (type == "ByteLevel") {
    return std::make_unique<ByteLevelPreTokenizer>(json_bool(spec, "add_prefix_space", where, true),
                                                   json_bool(spec, "use_regex", where, true));
  }
  if (type == "Metaspace") {
    std::string replacement = json_string_or(spec, "replacement", where, "\xE2\x96\x81");
    std::string scheme_name = json_string_or(spec, "prepend_scheme", where, "always");
    PrependScheme scheme = scheme_name == "first"   ? PrependScheme::kFirst
                           : scheme_name == "never" ? PrependScheme::kNever
                                                    : PrependScheme::kAlways;
    if (scheme_name != "first" && scheme_name != "never" && scheme_name != "always")
      fail("{}.prepend_scheme: '{}' is not one of always, first, never", where, scheme_name);
    // Files written before prepend_scheme existed say add_prefix_space instead.
    if (!json_bool(spec, "add_prefix_space", where, true)) scheme = PrependScheme::kNever;
    return std::make_unique<MetaspacePreTokenizer>(replacement, scheme, json_bool(spec, "split", where, true));
  }
  if (type == "Digits") {
    bool individual = json_bool(spec, "individual_digits", where, false);
    return std::make_unique<SplitPreTokenizer>(ReplacePattern::regex(individual ? "\\p{N}" : "\\p{N}+", where),
                                               SplitBehavior::kIsolated, false);
  }
  if (type == "Sequence") {
    const auto& list = json_field(spec, "pretokenizers", where);
    std::vector<std::unique_ptr<PreTokenizer>> steps;
    for (size_t i = 0; i < list.size(); ++i) {
      auto step = parse_pre_tokenizer(list[i], fmt::format("{}.pretokenizers[{}]", where, i));
      if (step) steps.push_back(std::move(step));
    }
    return std::make_unique<SequencePreTokenizer>(std::move(steps));
  }
  fail_with_hint("supported pre-tokenizers: Split, ByteLevel, Metaspace, Digits, Sequence",
                 "{}: pre-tokenizer type '{}' is not supported", where, type);
}

}  // namespace mha2mla::tokenizer
