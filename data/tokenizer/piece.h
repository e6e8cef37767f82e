// One stretch of input on its way through a tokenizer's pipeline (added tokens -> normalizer ->
// pre-tokenizer -> model). Only ids matter to us, so pieces carry text but no offset alignment.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace mha2mla::tokenizer {

struct Piece {
  std::string text;
  int32_t added_token_id = -1;   // >= 0: an added token, passed through every later stage untouched
  bool at_input_start = false;   // begins at offset 0 of the original input (Metaspace "first" needs it)
};

// Replaces every piece that is not an added token by the pieces split(piece) returns, dropping empty
// ones (as Hugging Face's PreTokenizedString::split does). Only the first sub-piece of a piece that began
// the input keeps at_input_start, and only when it begins at that piece's start (the splitter says so).
template <typename SplitFn>
void split_pieces(std::vector<Piece>& pieces, SplitFn&& split) {
  std::vector<Piece> out;
  out.reserve(pieces.size() * 2);
  for (auto& piece : pieces) {
    if (piece.added_token_id >= 0) {
      out.push_back(std::move(piece));
      continue;
    }
    split(piece, out);
  }
  pieces.swap(out);
}

}  // namespace mha2mla::tokenizer
