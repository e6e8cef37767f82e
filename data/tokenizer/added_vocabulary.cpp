#include "data/tokenizer/added_vocabulary.h"

#include <algorithm>
#include <cstring>

#include "data/tokenizer/normalizers.h"
#include "data/tokenizer/regex.h"
#include "data/tokenizer/unicode.h"

namespace mha2mla::tokenizer {

// Patterns bucketed by first byte, longest first: scanning positions left to right and taking the first
// position where any pattern matches, with its longest pattern, is leftmost-longest matching. Added
// vocabularies are small (hundreds of tokens) and their first bytes rare in text, so this beats a trie.
struct AddedVocabulary::Matcher {
  struct Pattern {
    std::string text;
    size_t token_index;
  };
  std::array<std::vector<Pattern>, 256> by_first_byte;
  bool empty = true;

  void add(const std::string& text, size_t token_index) {
    if (text.empty()) return;
    by_first_byte[static_cast<unsigned char>(text[0])].push_back({text, token_index});
    empty = false;
  }
  void finish() {
    for (auto& bucket : by_first_byte)
      std::stable_sort(bucket.begin(), bucket.end(),
                       [](const Pattern& a, const Pattern& b) { return a.text.size() > b.text.size(); });
  }
  // Next match at or after `from`: (begin, end, token index); false when none.
  bool next(std::string_view text, size_t from, size_t& begin, size_t& end, size_t& token_index) const {
    for (size_t pos = from; pos < text.size(); ++pos) {
      const auto& bucket = by_first_byte[static_cast<unsigned char>(text[pos])];
      for (const auto& p : bucket) {
        if (p.text.size() <= text.size() - pos && std::memcmp(text.data() + pos, p.text.data(), p.text.size()) == 0) {
          begin = pos;
          end = pos + p.text.size();
          token_index = p.token_index;
          return true;
        }
      }
    }
    return false;
  }
};

namespace {

// Decodes the code point that ends just before `pos` (valid UTF-8 assumed).
uint32_t code_point_before(std::string_view text, size_t pos, size_t& start) {
  start = pos - 1;
  while (start > 0 && (static_cast<unsigned char>(text[start]) & 0xC0) == 0x80) --start;
  auto cps = decode_utf8(text.substr(start, pos - start));
  return cps.empty() ? 0 : cps[0];
}

uint32_t code_point_at(std::string_view text, size_t pos, size_t& length) {
  length = std::min<size_t>(utf8_sequence_length(static_cast<unsigned char>(text[pos])), text.size() - pos);
  auto cps = decode_utf8(text.substr(pos, length));
  return cps.empty() ? 0 : cps[0];
}

}  // namespace

bool AddedVocabulary::word_character_before(std::string_view text, size_t pos) const {
  if (pos == 0) return false;
  size_t start = 0;
  code_point_before(text, pos, start);
  return word_character_->search(text.substr(start, pos - start));
}

bool AddedVocabulary::word_character_at(std::string_view text, size_t pos) const {
  if (pos >= text.size()) return false;
  size_t length = 0;
  code_point_at(text, pos, length);
  return word_character_->search(text.substr(pos, length));
}

AddedVocabulary::AddedVocabulary(std::vector<AddedToken> tokens, const Normalizer* normalizer)
    : tokens_(std::move(tokens)),
      raw_matcher_(std::make_unique<Matcher>()),
      normalized_matcher_(std::make_unique<Matcher>()),
      // Rust's regex \w: Alphabetic, marks, decimal numbers, connector punctuation, joiners.
      word_character_(std::make_unique<Regex>(R"([\p{Alphabetic}\p{M}\p{Nd}\p{Pc}\x{200C}\x{200D}])",
                                              "added-token word test")) {
  normalized_content_.reserve(tokens_.size());
  for (size_t i = 0; i < tokens_.size(); ++i) {
    const AddedToken& token = tokens_[i];
    std::string form = token.content;
    if (token.normalized && normalizer) normalizer->normalize(form);
    normalized_content_.push_back(form);
    index_by_id_[token.id] = i;
    index_by_content_.insert(token.content, static_cast<int32_t>(i));
    if (token.normalized) normalized_matcher_->add(form, i);
    else raw_matcher_->add(token.content, i);
  }
  raw_matcher_->finish();
  normalized_matcher_->finish();
}

AddedVocabulary::~AddedVocabulary() = default;
AddedVocabulary::AddedVocabulary(AddedVocabulary&&) noexcept = default;
AddedVocabulary& AddedVocabulary::operator=(AddedVocabulary&&) noexcept = default;

const AddedToken* AddedVocabulary::find_by_id(int32_t id) const {
  auto it = index_by_id_.find(id);
  return it == index_by_id_.end() ? nullptr : &tokens_[it->second];
}

const AddedToken* AddedVocabulary::find_by_content(std::string_view content) const {
  int32_t index = index_by_content_.find(content);
  return index < 0 ? nullptr : &tokens_[static_cast<size_t>(index)];
}

const std::string& AddedVocabulary::decoded_text(const AddedToken& token) const {
  return normalized_content_[static_cast<size_t>(&token - tokens_.data())];
}

void AddedVocabulary::split(std::string_view text, const Matcher& matcher, bool at_input_start,
                            std::vector<Piece>& out) const {
  auto emit_text = [&](size_t begin, size_t end) {
    if (end == begin) return;
    Piece p;
    p.text.assign(text.substr(begin, end - begin));
    p.at_input_start = at_input_start && begin == 0;
    out.push_back(std::move(p));
  };
  if (matcher.empty) {
    emit_text(0, text.size());
    return;
  }
  size_t emitted = 0;  // text before this offset is already in `out`
  size_t search_from = 0;
  size_t begin = 0, end = 0, index = 0;
  while (search_from < text.size() && matcher.next(text, search_from, begin, end, index)) {
    search_from = end;
    const AddedToken& token = tokens_[index];
    if (token.single_word && (word_character_before(text, begin) || word_character_at(text, end)))
      continue;  // not a word of its own: leave it to the model
    if (token.lstrip) {
      size_t start = begin;
      while (start > emitted) {
        size_t previous = 0;
        if (!is_unicode_whitespace(code_point_before(text, start, previous))) break;
        start = previous;
      }
      begin = start;
    }
    if (token.rstrip) {
      while (end < text.size()) {
        size_t length = 0;
        if (!is_unicode_whitespace(code_point_at(text, end, length))) break;
        end += length;
      }
      search_from = end;
    }
    emit_text(emitted, begin);
    Piece p;
    p.text.assign(text.substr(begin, end - begin));
    p.added_token_id = token.id;
    p.at_input_start = at_input_start && begin == 0;
    out.push_back(std::move(p));
    emitted = end;
  }
  emit_text(emitted, text.size());
}

std::vector<Piece> AddedVocabulary::extract_and_normalize(std::string_view text, const Normalizer* normalizer) const {
  std::vector<Piece> raw;
  split(text, *raw_matcher_, true, raw);
  if (normalizer == nullptr && normalized_matcher_->empty) return raw;
  std::vector<Piece> out;
  out.reserve(raw.size());
  for (auto& piece : raw) {
    if (piece.added_token_id >= 0) {
      out.push_back(std::move(piece));
      continue;
    }
    if (normalizer) normalizer->normalize(piece.text);
    split(piece.text, *normalized_matcher_, piece.at_input_start, out);
  }
  return out;
}

}  // namespace mha2mla::tokenizer
