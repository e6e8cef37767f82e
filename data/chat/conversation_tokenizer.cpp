#include "data/chat/conversation_tokenizer.h"

#include "common/error.h"
#include "data/bad_sample.h"

namespace mha2mla::data {

namespace {

std::vector<const char*> required_tokens(ChatTemplateKind kind) {
  switch (kind) {
    case ChatTemplateKind::kVicunaV1: return {"</s>"};
    case ChatTemplateKind::kLlama3: return {"<|start_header_id|>", "<|end_header_id|>", "<|eot_id|>"};
    case ChatTemplateKind::kChatml: return {"<|im_start|>", "<|im_end|>"};
  }
  return {};
}

}  // namespace

ConversationTokenizer::ConversationTokenizer(std::shared_ptr<const tokenizer::Tokenizer> tokenizer,
                                             ChatTemplateKind kind, ImageTokens image_tokens)
    : tokenizer_(std::move(tokenizer)), kind_(kind), image_tokens_(image_tokens) {
  MHA2MLA_CHECK(tokenizer_ != nullptr, "no tokenizer");
  for (const char* token : required_tokens(kind_))
    if (tokenizer_->token_to_id(token) < 0)
      fail_with_hint("set data.chat_template to the template this model was trained with",
                     "chat template {} needs the token {}, which the tokenizer ({}) does not have",
                     chat_template_name(kind_), token, tokenizer_->describe());
  if (kind_ != ChatTemplateKind::kChatml && tokenizer_->role_tokens().bos.present())
    bos_text_ = tokenizer_->role_tokens().bos.text;
  // A tokenizer that prepends "▁" shows it on a lone letter: "a" -> "▁a".
  std::vector<int32_t> probe = tokenizer_->encode("a", false);
  if (!probe.empty()) {
    std::optional<std::string> first = tokenizer_->id_to_token(probe[0]);
    prepends_space_ = first && first->rfind("\xE2\x96\x81", 0) == 0;
  }
}

TokenizedChat ConversationTokenizer::tokenize(const std::vector<ChatPiece>& pieces,
                                              const std::vector<int64_t>& features_per_image) const {
  TokenizedChat out;
  auto append = [&](const std::vector<int32_t>& ids, bool supervised) {
    out.input_ids.insert(out.input_ids.end(), ids.begin(), ids.end());
    if (supervised) out.labels.insert(out.labels.end(), ids.begin(), ids.end());
    else out.labels.insert(out.labels.end(), ids.size(), kIgnoreLabel);
  };
  for (size_t i = 0; i < pieces.size(); ++i) {
    const ChatPiece& piece = pieces[i];
    switch (piece.kind) {
      case ChatPiece::Kind::kText: {
        std::string_view text = piece.text;
        // The tokenizer's "▁" stands for a space at a boundary between two text pieces.
        if (prepends_space_ && i > 0 && pieces[i - 1].kind == ChatPiece::Kind::kText && !text.empty() &&
            text[0] == ' ')
          text.remove_prefix(1);
        if (!text.empty()) append(tokenizer_->encode(text, false), piece.supervised);
        break;
      }
      case ChatPiece::Kind::kToken: {
        int32_t id = tokenizer_->token_to_id(piece.text);
        MHA2MLA_CHECK(id >= 0, "token {} missing", piece.text);
        append({id}, piece.supervised);
        break;
      }
      case ChatPiece::Kind::kImage: {
        if (image_tokens_.image_token_id < 0)
          throw BadSampleError(BadReason::kImagesUnsupported, "the sample has images but the model is text-only");
        MHA2MLA_CHECK(piece.image >= 0 && static_cast<size_t>(piece.image) < features_per_image.size(),
                      "image piece {} of {} images", piece.image, features_per_image.size());
        const int64_t begin = static_cast<int64_t>(out.input_ids.size());
        std::vector<int32_t> ids;
        if (image_tokens_.vision_start_id >= 0) ids.push_back(image_tokens_.vision_start_id);
        ids.insert(ids.end(), features_per_image[piece.image], image_tokens_.image_token_id);
        if (image_tokens_.vision_end_id >= 0) ids.push_back(image_tokens_.vision_end_id);
        append(ids, false);
        out.image_spans.emplace_back(begin, static_cast<int64_t>(out.input_ids.size()));
        break;
      }
    }
  }
  return out;
}

TokenizedChat ConversationTokenizer::tokenize(const std::vector<Message>& messages,
                                              const std::vector<int64_t>& features_per_image) const {
  return tokenize(render_chat(kind_, messages, bos_text_), features_per_image);
}

}  // namespace mha2mla::data
