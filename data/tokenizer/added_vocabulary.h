// Added tokens (tokenizer.json "added_tokens"): found in the raw text before anything else runs, with
// Hugging Face's rules: leftmost-longest match; tokens with normalized=false are matched on the raw text,
// the others on the normalized text; lstrip/rstrip swallow neighbouring whitespace; single_word tokens
// only match between non-word characters.
#pragma once

#include <array>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "data/tokenizer/piece.h"
#include "data/tokenizer/string_id_map.h"

namespace mha2mla::tokenizer {

class Normalizer;
class Regex;

struct AddedToken {
  int32_t id = -1;
  std::string content;
  bool single_word = false;
  bool lstrip = false;
  bool rstrip = false;
  bool normalized = true;
  bool special = false;
};

class AddedVocabulary {
 public:
  // `tokens` carry their final ids. Normalized tokens are matched in their normalized form.
  AddedVocabulary(std::vector<AddedToken> tokens, const Normalizer* normalizer);
  ~AddedVocabulary();
  AddedVocabulary(AddedVocabulary&&) noexcept;
  AddedVocabulary& operator=(AddedVocabulary&&) noexcept;

  // Cuts `text` into added tokens and the stretches between them, normalizing the stretches.
  std::vector<Piece> extract_and_normalize(std::string_view text, const Normalizer* normalizer) const;

  const std::vector<AddedToken>& tokens() const { return tokens_; }
  const AddedToken* find_by_id(int32_t id) const;
  const AddedToken* find_by_content(std::string_view content) const;
  // The text an id decodes to: the normalized form for normalized tokens (as Hugging Face does).
  const std::string& decoded_text(const AddedToken& token) const;

 private:
  struct Matcher;  // leftmost-longest matcher over a set of patterns
  void split(std::string_view text, const Matcher& matcher, bool at_input_start, std::vector<Piece>& out) const;
  bool word_character_before(std::string_view text, size_t pos) const;
  bool word_character_at(std::string_view text, size_t pos) const;

  std::vector<AddedToken> tokens_;
  std::vector<std::string> normalized_content_;  // per token; equals content when not normalized
  std::unique_ptr<Matcher> raw_matcher_;         // tokens with normalized = false
  std::unique_ptr<Matcher> normalized_matcher_;  // tokens with normalized = true
  std::unique_ptr<Regex> word_character_;        // Rust regex's \w, for single_word
  std::unordered_map<int32_t, size_t> index_by_id_;
  StringIdMap index_by_content_;
};

}  // namespace mha2mla::tokenizer
