// Pre-tokenizers of tokenizer.json: Split, ByteLevel, Metaspace, Digits and Sequence of these. Each cuts
// the pieces that are not added tokens into smaller pieces (and may rewrite their text).
#pragma once

#include <memory>
#include <string>
#include <vector>

#include <nlohmann/json_fwd.hpp>

#include "data/tokenizer/piece.h"

namespace mha2mla::tokenizer {

class PreTokenizer {
 public:
  virtual ~PreTokenizer() = default;
  virtual void pre_tokenize(std::vector<Piece>& pieces) const = 0;
  // True when the model sees GPT-2 byte-level characters (a ByteLevel step is present).
  virtual bool is_byte_level() const { return false; }
};

// Builds the pre-tokenizer described by `spec`; `where` names the file and key for errors. nullptr for null.
std::unique_ptr<PreTokenizer> parse_pre_tokenizer(const nlohmann::json& spec, const std::string& where);

// How the pieces around each match of a Split pattern are kept (Hugging Face's SplitDelimiterBehavior).
enum class SplitBehavior { kRemoved, kIsolated, kMergedWithPrevious, kMergedWithNext, kContiguous };

// Cuts [0, length) by `matches` (sorted, non-overlapping byte ranges) following `behavior`; with `invert`
// the matches and the gaps between them swap roles. Returns the kept ranges, empty ones included.
std::vector<std::pair<size_t, size_t>> split_ranges(size_t length,
                                                    const std::vector<std::pair<size_t, size_t>>& matches,
                                                    SplitBehavior behavior, bool invert);

}  // namespace mha2mla::tokenizer
