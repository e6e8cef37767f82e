#include "data/generation_prompt.h"

#include <ATen/ATen.h>

#include "common/error.h"
#include "common/files.h"
#include "data/image/image_decode.h"
#include "data/image/image_processing.h"

namespace mha2mla::data {

ModelImage prepare_model_image(const image::RgbImage& decoded, const ModelDataSpec& spec) {
  ModelImage out;
  switch (spec.vision) {
    case VisionFamily::kLlava:
      out.pixel_values = image::preprocess_clip(decoded, spec.clip);
      out.features = spec.llava_image_features;
      break;
    case VisionFamily::kLlavaNext: {
      image::LlavaNextImage next = image::preprocess_llava_next(decoded, spec.llava_next);
      out.pixel_values = next.pixel_values;
      out.size = {next.image_size.height, next.image_size.width};
      out.features = next.num_image_tokens;
      break;
    }
    case VisionFamily::kQwenVl: {
      image::Qwen2VlImage qwen = image::preprocess_qwen2_vl(decoded, spec.qwen);
      out.pixel_values = qwen.pixel_values;
      out.grid_thw = {qwen.grid_thw[0], qwen.grid_thw[1], qwen.grid_thw[2]};
      out.features = qwen.num_image_tokens;
      break;
    }
    case VisionFamily::kNone:
      fail("{}: {} is a text-only model; it takes no images", spec.source.empty() ? "model" : spec.source,
           spec.model_type);
  }
  return out;
}

int64_t image_feature_count(const ModelDataSpec& spec, const std::vector<int64_t>& grid_thw,
                            std::pair<int64_t, int64_t> original_size) {
  switch (spec.vision) {
    case VisionFamily::kLlava: return spec.llava_image_features;
    case VisionFamily::kLlavaNext:
      return image::llava_next_num_image_tokens({original_size.first, original_size.second}, spec.llava_next);
    case VisionFamily::kQwenVl:
      MHA2MLA_CHECK(grid_thw.size() == 3, "a Qwen image without its (t, h, w) grid");
      return grid_thw[0] * grid_thw[1] * grid_thw[2] / (spec.qwen.merge_size * spec.qwen.merge_size);
    case VisionFamily::kNone: break;
  }
  return 0;
}

std::string end_of_turn_text(ChatTemplateKind kind) {
  // The template says it itself: the supervised single token closing an assistant turn.
  const std::vector<ChatPiece> pieces = render_chat(kind, {{Role::kUser, "q"}, {Role::kAssistant, "a"}}, "");
  for (auto it = pieces.rbegin(); it != pieces.rend(); ++it)
    if (it->kind == ChatPiece::Kind::kToken && it->supervised) return it->text;
  MHA2MLA_CHECK(false, "chat template {} ends an assistant turn without a token", chat_template_name(kind));
  return "";
}

ChatTemplateKind choose_chat_template(const std::string& setting, const ModelDataSpec& spec) {
  return setting == "auto"
             ? infer_chat_template(spec.model_type, spec.chat_template_text, spec.source.empty() ? "model" : spec.source)
             : parse_chat_template(setting);
}

PromptTokenizer::PromptTokenizer(const std::string& model_folder, const std::string& chat_template)
    : PromptTokenizer(read_model_data_spec(model_folder), tokenizer::load_tokenizer(model_folder), chat_template) {}

PromptTokenizer::PromptTokenizer(ModelDataSpec spec, std::shared_ptr<const tokenizer::Tokenizer> tokenizer,
                                 const std::string& chat_template)
    : spec_(std::move(spec)) {
  const ChatTemplateKind kind = choose_chat_template(chat_template, spec_);
  conversation_ = std::make_shared<const ConversationTokenizer>(std::move(tokenizer), kind, spec_.image_tokens);
  const std::string end = end_of_turn_text(kind);
  end_of_turn_id_ = conversation_->tokenizer().token_to_id(end);
  MHA2MLA_CHECK(end_of_turn_id_ >= 0, "the conversation tokenizer accepted a tokenizer without {}", end);
}

GenerationPrompt PromptTokenizer::tokenize(const std::string& user_text,
                                           const std::vector<std::string>& image_files) const {
  std::vector<image::RgbImage> images;
  for (const std::string& file : image_files) {
    if (!file_exists(file)) fail("image file '{}' not found", file);
    images.push_back(image::read_image_file(file));
  }
  const size_t placeholders = count_image_placeholders(user_text);
  std::string text = user_text;
  if (placeholders == 0) {
    std::string prefix;
    for (size_t i = 0; i < images.size(); ++i) prefix += std::string(kImagePlaceholder) + "\n";
    text = prefix + text;
  } else if (placeholders != images.size()) {
    fail("the prompt has {} \"<image>\" placeholder(s) but {} image file(s) were given", placeholders, images.size());
  }
  return tokenize(std::vector<Message>{{Role::kUser, text}}, images);
}

GenerationPrompt PromptTokenizer::tokenize(const std::vector<Message>& messages,
                                           const std::vector<image::RgbImage>& images) const {
  if (messages.empty() || messages.back().role != Role::kUser)
    fail("a generation prompt ends with a user message ({} message(s) given)", messages.size());
  size_t placeholders = 0;
  for (const Message& m : messages) placeholders += count_image_placeholders(m.content);
  if (placeholders != images.size())
    fail("the conversation has {} \"<image>\" placeholder(s) but {} image(s) were given", placeholders, images.size());

  GenerationPrompt prompt;
  std::vector<int64_t> features;
  for (const image::RgbImage& decoded : images) {
    prompt.images.push_back(prepare_model_image(decoded, spec_));
    features.push_back(prompt.images.back().features);
  }
  // An empty answer renders the assistant's header followed by the end-of-turn token (the first supervised
  // piece): the prompt is everything before it.
  std::vector<Message> with_answer = messages;
  with_answer.push_back({Role::kAssistant, ""});
  std::vector<ChatPiece> pieces = render_chat(conversation_->kind(), with_answer, conversation_->bos_text());
  size_t cut = 0;
  while (cut < pieces.size() && !pieces[cut].supervised) ++cut;
  pieces.resize(cut);
  prompt.input_ids = conversation_->tokenize(pieces, features).input_ids;
  return prompt;
}

std::string PromptTokenizer::decode(const std::vector<int32_t>& ids) const {
  return conversation_->tokenizer().decode(ids, false);
}

}  // namespace mha2mla::data
