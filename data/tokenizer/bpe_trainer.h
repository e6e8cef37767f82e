// A small deterministic BPE trainer for the tiny test tokenizers: counts adjacent symbol pairs over a
// word-frequency list and merges the most frequent pair until the vocabulary reaches its target size.
// Ties go to the smallest (left, right) in byte order, so the result depends on the input alone.
#pragma once

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

namespace mha2mla::tokenizer {

struct TrainingWord {
  std::vector<std::string> symbols;  // initial symbols (characters or byte-level characters)
  int64_t count = 1;
};

struct BpeTrainingResult {
  std::vector<std::string> merged_tokens;                     // new tokens, in creation order
  std::vector<std::pair<std::string, std::string>> merges;   // in rank order
};

// Learns merges until `alphabet_size + merged_tokens.size() == vocab_size`. Throws Error when the words
// run out of pairs first (vocab_size too large for the corpus).
BpeTrainingResult train_bpe(std::vector<TrainingWord> words, size_t alphabet_size, size_t vocab_size);

}  // namespace mha2mla::tokenizer
