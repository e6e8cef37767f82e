// What the data pipeline needs to know about the model, as plain values (data/ does not depend on model/):
// which image processor and feature count, which token ids stand for images, and the tokenizer's chat template
// text (to infer the conversation format). The trainer may fill it from its parsed config; or
// read_model_data_spec() reads it from the model folder's config.json, preprocessor_config.json and
// tokenizer_config.json / chat_template.json / chat_template.jinja.
#pragma once

#include <cstdint>
#include <string>

#include "data/chat/conversation_tokenizer.h"
#include "data/image/image_processing.h"

namespace mha2mla::data {

enum class VisionFamily {
  kNone,       // a text-only model: samples with images are bad (images_unsupported)
  kLlava,      // LLaVA-1.5: CLIP preprocessing, a fixed number of features per image
  kLlavaNext,  // LLaVA-NeXT: AnyRes tiles, features from the original size
  kQwenVl,     // Qwen2-VL / Qwen2.5-VL: smart_resize + patches, features = t * h * w / merge^2
};

const char* vision_family_name(VisionFamily family);

struct ModelDataSpec {
  std::string model_type = "llama";  // config.json model_type
  VisionFamily vision = VisionFamily::kNone;
  ImageTokens image_tokens;          // image token (and Qwen's vision start/end) ids

  image::ClipImageConfig clip;       // kLlava
  // kLlava: features per image = (crop height / patch) * (crop width / patch), plus 1 when the model keeps the
  // CLS feature (vision_feature_select_strategy "full"): 576 for LLaVA-1.5 at 336 px with patch 14.
  int64_t llava_image_features = 576;
  image::LlavaNextImageConfig llava_next;  // kLlavaNext
  image::Qwen2VlImageConfig qwen;          // kQwenVl

  std::string chat_template_text;  // the tokenizer's chat template ("" when the files have none)
  std::string source;              // the folder it was read from, for messages
};

// Reads the spec from an HF model folder. Missing preprocessor_config.json: the family's standard processor
// (CLIP 336 px for LLaVA, Qwen2-VL's defaults). Errors name the file and key.
ModelDataSpec read_model_data_spec(const std::string& folder);

// The tokenizer's chat template text found in a model folder (tokenizer_config.json "chat_template" (a string,
// or the "default" entry of a list), chat_template.json, chat_template.jinja), or "".
std::string read_chat_template_text(const std::string& folder);

}  // namespace mha2mla::data
