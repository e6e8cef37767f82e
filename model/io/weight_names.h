// One internal name for every tensor of the supported models, and the mapping to and from the names in
// Hugging Face checkpoint files.
//
// transformers 4.52 moved the VLM submodules (LlavaForConditionalGeneration.model.language_model, ...),
// so checkpoints exist in two spellings; newer transformers read the old one through its
// `_checkpoint_conversion_mapping`. Plain LLMs are spelled the same in both.
//
//   canonical             legacy hub name (< 4.52)                current hub name (>= 4.52)
//   ---------             ------------------------                --------------------------
//   LLaMA / Qwen2 / DeepSeek-V3 LLMs:
//   text.X                model.X                                 model.X
//   lm_head.weight        lm_head.weight                          lm_head.weight
//   LLaVA / LLaVA-NeXT:
//   text.X                language_model.model.X                  model.language_model.X
//   lm_head.weight        language_model.lm_head.weight           lm_head.weight
//   vision.X              vision_tower.vision_model.X             model.vision_tower.vision_model.X
//   projector.X           multi_modal_projector.X                 model.multi_modal_projector.X
//   image_newline         image_newline                           model.image_newline
//   Qwen2-VL / Qwen2.5-VL:
//   text.X                model.X                                 model.language_model.X
//   lm_head.weight        lm_head.weight                          lm_head.weight
//   vision.X              visual.X                                model.visual.X
//
// X keeps the HF module path below that prefix, so canonical names read like the HF modules they come
// from: text.layers.3.self_attn.q_proj.weight, vision.encoder.layers.0.mlp.fc1.bias (CLIP),
// vision.blocks.7.attn.qkv.weight and vision.merger.mlp.0.weight (Qwen ViT), projector.linear_1.weight.
//
// Exporting: legacy names load in every transformers version (newer ones convert them on load), current
// names only in >= 4.52; mirror the input checkpoint's naming, or choose kLegacy for the widest reach.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "model/io/hf_config.h"

namespace mha2mla::hf {

enum class HubNaming {
  kLegacy,   // hub files converted before transformers 4.52 (llava-hf/*, Qwen/Qwen2.5-VL-*)
  kCurrent,  // save_pretrained of transformers >= 4.52
};
const char* hub_naming_name(HubNaming naming);  // "legacy (transformers < 4.52)" / "current (...)"

// Which naming a checkpoint's tensor names use. Names valid in both (all LLM names, Qwen's lm_head) say
// nothing; when no name decides, the answer is kLegacy (identical to kCurrent for such checkpoints).
// Fails naming `source` and the tensor when a name fits neither naming, or when the names mix both.
HubNaming detect_hub_naming(ModelType type, const std::vector<std::string>& hub_names, const std::string& source);

// Hub name -> canonical name. Fails naming `source` and the tensor when the name does not fit `naming`
// (saying so when it fits the other naming instead).
std::string hub_to_canonical(ModelType type, HubNaming naming, const std::string& hub_name, const std::string& source);

// Canonical name -> hub name in `naming` (what an exporter writes). Fails on a name that is not canonical
// for `type` (e.g. vision.* for a plain LLM).
std::string canonical_to_hub(ModelType type, HubNaming naming, const std::string& canonical_name);

// Detects the naming of `hub_names` and maps all of them: canonical name -> hub name as found in the file.
std::map<std::string, std::string> canonical_names(ModelType type, const std::vector<std::string>& hub_names,
                                                   const std::string& source, HubNaming* detected = nullptr);

// "text.layers.{layer}.{suffix}", e.g. text_layer_name(3, "self_attn.q_proj.weight").
std::string text_layer_name(int64_t layer, const std::string& suffix);
// The layer index and the suffix of a "text.layers.N.suffix" name; nullopt for other names.
std::optional<std::pair<int64_t, std::string>> parse_text_layer_name(const std::string& canonical_name);

}  // namespace mha2mla::hf
