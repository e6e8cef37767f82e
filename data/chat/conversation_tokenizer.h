// Rendered chat pieces -> input ids and labels. Every piece is tokenized on its own (add_special_tokens off), so
// a label boundary is always a token boundary, and the ids equal the tokenizer's ids for the whole rendered text
// wherever the piece boundaries are ones the tokenizer splits at anyway: special tokens, and (for tokenizers
// that prepend a space to every input, Llama-2 / LLaVA-1.5 style) a single space, which is then dropped from
// the piece that starts with it because the tokenizer's own "▁" stands for it. tests/unit/data_chat_test.cpp
// checks this equality on the real Qwen2.5, Llama-3 and llava-1.5 tokenizers.
//
// Images: one image piece becomes N copies of the image token (LLaVA: <image>), or <|vision_start|>, N copies
// of <|image_pad|>, <|vision_end|> (Qwen2-VL / Qwen2.5-VL), N being the model's feature count for that image.
#pragma once

#include <cstdint>
#include <memory>
#include <utility>
#include <vector>

#include "data/chat/chat_template.h"
#include "data/tokenizer/tokenizer.h"

namespace mha2mla::data {

constexpr int32_t kIgnoreLabel = -100;

struct ImageTokens {
  int32_t image_token_id = -1;   // repeated once per feature; -1: the model takes no images
  int32_t vision_start_id = -1;  // placed before the run when >= 0
  int32_t vision_end_id = -1;    // placed after the run when >= 0
};

struct TokenizedChat {
  std::vector<int32_t> input_ids;
  std::vector<int32_t> labels;                             // kIgnoreLabel where not supervised
  std::vector<std::pair<int64_t, int64_t>> image_spans;    // per image: [begin, end) in input_ids, start/end included
};

class ConversationTokenizer {
 public:
  // Throws Error when the tokenizer lacks a token the template needs.
  ConversationTokenizer(std::shared_ptr<const tokenizer::Tokenizer> tokenizer, ChatTemplateKind kind,
                        ImageTokens image_tokens);

  // `features_per_image[i]`: image i's feature count. Safe to call from several threads.
  TokenizedChat tokenize(const std::vector<ChatPiece>& pieces, const std::vector<int64_t>& features_per_image) const;

  // Renders and tokenizes `messages` (convenience for tests and tools).
  TokenizedChat tokenize(const std::vector<Message>& messages, const std::vector<int64_t>& features_per_image) const;

  ChatTemplateKind kind() const { return kind_; }
  // The BOS text the template starts with ("" for chatml or a tokenizer without BOS).
  const std::string& bos_text() const { return bos_text_; }
  // Whether the tokenizer prepends "▁" to every input (SentencePiece-style normalizer or pre-tokenizer).
  bool prepends_space() const { return prepends_space_; }
  const ImageTokens& image_tokens() const { return image_tokens_; }
  const tokenizer::Tokenizer& tokenizer() const { return *tokenizer_; }

 private:
  std::shared_ptr<const tokenizer::Tokenizer> tokenizer_;
  ChatTemplateKind kind_;
  ImageTokens image_tokens_;
  std::string bos_text_;
  bool prepends_space_ = false;
};

}  // namespace mha2mla::data
