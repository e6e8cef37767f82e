// Byte-pair-encoding model of tokenizer.json ("model": {"type": "BPE"}): merges applied by rank, lowest
// first and leftmost among equals, exactly as Hugging Face's tokenizers does, with byte_fallback,
// unk/fuse_unk, ignore_merges and continuing-subword prefix / end-of-word suffix. Words already seen are
// answered from a per-thread cache.
#pragma once

#include <array>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include <nlohmann/json_fwd.hpp>

#include "data/tokenizer/string_id_map.h"

namespace mha2mla::tokenizer {

struct BpeOptions {
  std::optional<std::string> unk_token;
  std::string continuing_subword_prefix;
  std::string end_of_word_suffix;
  bool fuse_unk = false;
  bool byte_fallback = false;
  bool ignore_merges = false;
};

class BpeModel {
 public:
  // `vocab`: (token, id) pairs; `merges`: (left, right) in rank order. Throws Error naming `where` when a
  // merge uses a token outside the vocabulary.
  BpeModel(const std::vector<std::pair<std::string, int32_t>>& vocab,
           const std::vector<std::pair<std::string, std::string>>& merges, BpeOptions options,
           const std::string& where);

  // Appends the ids of one pre-tokenized word.
  void tokenize(std::string_view word, std::vector<int32_t>& ids) const;

  int32_t token_to_id(std::string_view token) const { return vocab_.find(token); }  // -1 if absent
  const std::string* id_to_token(int32_t id) const;
  size_t vocab_size() const { return vocab_.size(); }  // number of entries, as Hugging Face counts
  int32_t max_id() const { return static_cast<int32_t>(id_to_token_.size()) - 1; }
  const BpeOptions& options() const { return options_; }

 private:
  struct Merge {
    int32_t rank;
    int32_t new_id;
  };
  const Merge* find_merge(int32_t left, int32_t right) const;
  void merge_word(std::string_view word, std::vector<int32_t>& ids) const;
  int32_t char_id(std::string_view character) const;

  StringIdMap vocab_;
  std::vector<std::string> id_to_token_;
  std::vector<bool> id_present_;
  // Merges in an open-addressing table keyed by (left id << 32 | right id).
  std::vector<uint64_t> merge_keys_;
  std::vector<Merge> merge_values_;
  std::vector<int32_t> ascii_ids_;       // id of each single ASCII character token (or -1): skips hashing
  std::array<int32_t, 256> byte_fallback_ids_{};
  BpeOptions options_;
  int32_t unk_id_ = -1;
  uint64_t cache_key_;  // distinguishes this model's entries in the per-thread caches
};

// Builds a BpeModel from a tokenizer.json "model" object.
BpeModel parse_bpe_model(const nlohmann::json& spec, const std::string& where);

}  // namespace mha2mla::tokenizer
