// Prompts for generation, made exactly as the training pipeline makes samples (same model spec, chat template,
// image preprocessing and conversation tokenizer), but ending with the assistant's header instead of an answer:
//
//   data::PromptTokenizer prompts(model_folder, recipe.data.chat_template);
//   data::GenerationPrompt p = prompts.tokenize("What colour is the square?", {"square.png"});
//   // p.input_ids end with "<|im_start|>assistant\n" (chatml), "ASSISTANT:" (vicuna_v1) or the llama3 header;
//   // decode until prompts.end_of_turn_id(), then prompts.decode(answer ids).
//
// A training sample's tokens up to its first supervised token are the same ids as the prompt of its first user
// turn (every piece is tokenized on its own), which is how evaluation cuts held-out samples into prompt and answer.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include <ATen/core/Tensor.h>

#include "data/chat/conversation_tokenizer.h"
#include "data/model_spec.h"

namespace mha2mla::data {

// One decoded image preprocessed for the model, as the data pipeline prepares it.
struct ModelImage {
  at::Tensor pixel_values;                   // CLIP: [3, H, W]; LLaVA-NeXT: [tiles, 3, H, W]; Qwen: [patches, C*T*P*P]
  std::vector<int64_t> grid_thw;             // kQwenVl: (t, h, w)
  std::pair<int64_t, int64_t> size{0, 0};    // kLlavaNext: original (height, width)
  int64_t features = 0;                      // image tokens it fills in the prompt
};

// Throws Error for a text-only spec (kNone) and for images the processor refuses.
ModelImage prepare_model_image(const image::RgbImage& decoded, const ModelDataSpec& spec);

// Image tokens an already preprocessed image fills, from what a batch keeps of it: its Qwen grid (t, h, w) or its
// LLaVA-NeXT original size (LLaVA-1.5: a fixed count).
int64_t image_feature_count(const ModelDataSpec& spec, const std::vector<int64_t>& grid_thw,
                            std::pair<int64_t, int64_t> original_size);

// The token that ends an assistant turn in `kind`: "</s>" (vicuna_v1), "<|eot_id|>" (llama3), "<|im_end|>" (chatml).
std::string end_of_turn_text(ChatTemplateKind kind);

// The template the data pipeline uses for `setting` (data.chat_template: "auto" infers it from the spec).
ChatTemplateKind choose_chat_template(const std::string& setting, const ModelDataSpec& spec);

struct GenerationPrompt {
  std::vector<int32_t> input_ids;     // the conversation up to and including the assistant's header
  std::vector<ModelImage> images;     // in placeholder order
};

class PromptTokenizer {
 public:
  // Reads the spec and tokenizer of an HF model folder. Errors name the folder and file.
  PromptTokenizer(const std::string& model_folder, const std::string& chat_template = "auto");
  PromptTokenizer(ModelDataSpec spec, std::shared_ptr<const tokenizer::Tokenizer> tokenizer,
                  const std::string& chat_template = "auto");

  // One user turn: `user_text` with `image_files` (read, decoded and preprocessed). Each "<image>" in the text
  // takes the next file; a text without any gets one "<image>\n" per file in front (make-data's layout). Throws
  // Error naming a missing or undecodable file, or a placeholder count that differs from the file count.
  GenerationPrompt tokenize(const std::string& user_text, const std::vector<std::string>& image_files) const;

  // The same for a whole conversation ending with a user turn, with already decoded images.
  GenerationPrompt tokenize(const std::vector<Message>& messages, const std::vector<image::RgbImage>& images) const;

  int32_t end_of_turn_id() const { return end_of_turn_id_; }
  std::string decode(const std::vector<int32_t>& ids) const;

  const ModelDataSpec& spec() const { return spec_; }
  const ConversationTokenizer& conversation() const { return *conversation_; }

 private:
  ModelDataSpec spec_;
  std::shared_ptr<const ConversationTokenizer> conversation_;
  int32_t end_of_turn_id_ = -1;
};

}  // namespace mha2mla::data
