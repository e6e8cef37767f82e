#include "data/tokenizer/bpe_trainer.h"

#include <map>
#include <set>

#include "common/error.h"

namespace mha2mla::tokenizer {

BpeTrainingResult train_bpe(std::vector<TrainingWord> words, size_t alphabet_size, size_t vocab_size) {
  BpeTrainingResult result;
  std::set<std::string> known;
  for (const auto& w : words) known.insert(w.symbols.begin(), w.symbols.end());
  // The corpus is a few kilobytes: recounting every pair each round is simple and fast enough.
  while (alphabet_size + result.merged_tokens.size() < vocab_size) {
    std::map<std::pair<std::string, std::string>, int64_t> counts;
    for (const auto& w : words)
      for (size_t i = 0; i + 1 < w.symbols.size(); ++i) counts[{w.symbols[i], w.symbols[i + 1]}] += w.count;
    const std::pair<std::string, std::string>* best = nullptr;
    int64_t best_count = 0;
    for (const auto& [pair, count] : counts) {  // std::map iterates in (left, right) order: first max wins ties
      if (count > best_count && known.count(pair.first + pair.second) == 0) {
        best = &pair;
        best_count = count;
      }
    }
    if (best == nullptr)
      fail("tiny tokenizer: the built-in corpus has no pair left to merge after {} merges; ask for a vocabulary of "
           "at most {} tokens",
           result.merges.size(), alphabet_size + result.merged_tokens.size());
    const std::string left = best->first, right = best->second, merged = left + right;
    result.merges.emplace_back(left, right);
    result.merged_tokens.push_back(merged);
    known.insert(merged);
    for (auto& w : words) {
      std::vector<std::string> next;
      next.reserve(w.symbols.size());
      for (size_t i = 0; i < w.symbols.size(); ++i) {
        if (i + 1 < w.symbols.size() && w.symbols[i] == left && w.symbols[i + 1] == right) {
          next.push_back(merged);
          ++i;
        } else {
          next.push_back(w.symbols[i]);
        }
      }
      w.symbols.swap(next);
    }
  }
  return result;
}

}  // namespace mha2mla::tokenizer
