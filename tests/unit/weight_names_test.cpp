// Tensor names of both transformers generations map to one canonical name and back. The oracle for the
// legacy -> current direction is transformers' own `_checkpoint_conversion_mapping` regexes
// (modeling_llava.py, modeling_llava_next.py, modeling_qwen2_5_vl.py of 4.52+), applied here with std::regex
// as a second, independent implementation.
#include "model/io/weight_names.h"

#include <functional>
#include <regex>
#include <string>
#include <utility>
#include <vector>

#include <gtest/gtest.h>

#include "common/error.h"

namespace mha2mla::hf {
namespace {

// Tensor names from llava-hf/llava-1.5-7b-hf's model.safetensors.index.json (layer 0 of each stack).
const std::vector<std::string> kLlavaLegacy = {
    "language_model.lm_head.weight",
    "language_model.model.embed_tokens.weight",
    "language_model.model.layers.0.input_layernorm.weight",
    "language_model.model.layers.0.mlp.down_proj.weight",
    "language_model.model.layers.0.mlp.gate_proj.weight",
    "language_model.model.layers.0.mlp.up_proj.weight",
    "language_model.model.layers.0.post_attention_layernorm.weight",
    "language_model.model.layers.0.self_attn.k_proj.weight",
    "language_model.model.layers.0.self_attn.o_proj.weight",
    "language_model.model.layers.0.self_attn.q_proj.weight",
    "language_model.model.layers.0.self_attn.v_proj.weight",
    "language_model.model.layers.31.self_attn.q_proj.weight",
    "language_model.model.norm.weight",
    "multi_modal_projector.linear_1.bias",
    "multi_modal_projector.linear_1.weight",
    "multi_modal_projector.linear_2.bias",
    "multi_modal_projector.linear_2.weight",
    "vision_tower.vision_model.embeddings.class_embedding",
    "vision_tower.vision_model.embeddings.patch_embedding.weight",
    "vision_tower.vision_model.embeddings.position_embedding.weight",
    "vision_tower.vision_model.encoder.layers.0.layer_norm1.bias",
    "vision_tower.vision_model.encoder.layers.0.layer_norm1.weight",
    "vision_tower.vision_model.encoder.layers.0.layer_norm2.bias",
    "vision_tower.vision_model.encoder.layers.0.layer_norm2.weight",
    "vision_tower.vision_model.encoder.layers.0.mlp.fc1.bias",
    "vision_tower.vision_model.encoder.layers.0.mlp.fc1.weight",
    "vision_tower.vision_model.encoder.layers.0.mlp.fc2.bias",
    "vision_tower.vision_model.encoder.layers.0.mlp.fc2.weight",
    "vision_tower.vision_model.encoder.layers.0.self_attn.k_proj.bias",
    "vision_tower.vision_model.encoder.layers.0.self_attn.k_proj.weight",
    "vision_tower.vision_model.encoder.layers.0.self_attn.out_proj.bias",
    "vision_tower.vision_model.encoder.layers.0.self_attn.out_proj.weight",
    "vision_tower.vision_model.encoder.layers.0.self_attn.q_proj.bias",
    "vision_tower.vision_model.encoder.layers.0.self_attn.q_proj.weight",
    "vision_tower.vision_model.encoder.layers.0.self_attn.v_proj.bias",
    "vision_tower.vision_model.encoder.layers.0.self_attn.v_proj.weight",
    "vision_tower.vision_model.post_layernorm.bias",
    "vision_tower.vision_model.post_layernorm.weight",
    "vision_tower.vision_model.pre_layrnorm.bias",
    "vision_tower.vision_model.pre_layrnorm.weight",
};

// The same tensors as transformers >= 4.52 saves them.
const std::vector<std::string> kLlavaCurrent = {
    "lm_head.weight",
    "model.language_model.embed_tokens.weight",
    "model.language_model.layers.0.self_attn.q_proj.weight",
    "model.language_model.norm.weight",
    "model.multi_modal_projector.linear_1.weight",
    "model.vision_tower.vision_model.embeddings.class_embedding",
    "model.vision_tower.vision_model.encoder.layers.23.self_attn.out_proj.weight",
    "model.vision_tower.vision_model.pre_layrnorm.weight",
};

// Qwen/Qwen2.5-VL-7B-Instruct's model.safetensors.index.json.
const std::vector<std::string> kQwenLegacy = {
    "lm_head.weight",
    "model.embed_tokens.weight",
    "model.layers.0.input_layernorm.weight",
    "model.layers.0.mlp.down_proj.weight",
    "model.layers.0.post_attention_layernorm.weight",
    "model.layers.0.self_attn.k_proj.bias",
    "model.layers.0.self_attn.k_proj.weight",
    "model.layers.0.self_attn.o_proj.weight",
    "model.layers.0.self_attn.q_proj.bias",
    "model.layers.27.self_attn.v_proj.bias",
    "model.norm.weight",
    "visual.blocks.0.attn.proj.bias",
    "visual.blocks.0.attn.proj.weight",
    "visual.blocks.0.attn.qkv.bias",
    "visual.blocks.0.attn.qkv.weight",
    "visual.blocks.0.mlp.down_proj.bias",
    "visual.blocks.0.mlp.gate_proj.weight",
    "visual.blocks.0.mlp.up_proj.bias",
    "visual.blocks.0.norm1.weight",
    "visual.blocks.0.norm2.weight",
    "visual.merger.ln_q.weight",
    "visual.merger.mlp.0.bias",
    "visual.merger.mlp.0.weight",
    "visual.merger.mlp.2.bias",
    "visual.merger.mlp.2.weight",
    "visual.patch_embed.proj.weight",
};

const std::vector<std::string> kQwenCurrent = {
    "lm_head.weight",
    "model.language_model.embed_tokens.weight",
    "model.language_model.layers.0.self_attn.q_proj.bias",
    "model.language_model.norm.weight",
    "model.visual.blocks.31.attn.qkv.weight",
    "model.visual.merger.mlp.2.weight",
    "model.visual.patch_embed.proj.weight",
};

const std::vector<std::string> kLlamaNames = {"model.embed_tokens.weight", "model.layers.0.self_attn.q_proj.weight",
                                              "model.layers.0.mlp.gate_proj.weight", "model.norm.weight",
                                              "lm_head.weight"};

// transformers' _checkpoint_conversion_mapping, verbatim patterns (std::regex ECMAScript supports the
// negative lookahead of the Qwen pattern).
using Mapping = std::vector<std::pair<std::string, std::string>>;
const Mapping kLlavaConversion = {{"^language_model.model", "model.language_model"},
                                  {"^vision_tower", "model.vision_tower"},
                                  {"^multi_modal_projector", "model.multi_modal_projector"},
                                  {"^language_model.lm_head", "lm_head"}};
const Mapping kLlavaNextConversion = {{"^language_model.model", "model.language_model"},
                                      {"^vision_tower", "model.vision_tower"},
                                      {"^multi_modal_projector", "model.multi_modal_projector"},
                                      {"^image_newline", "model.image_newline"},
                                      {"^language_model.lm_head", "lm_head"}};
const Mapping kQwenConversion = {{"^visual", "model.visual"},
                                 {R"(^model(?!\.(language_model|visual)))", "model.language_model"}};

// Like transformers' loader: the first pattern that matches is applied (re.subn with count=1).
std::string transformers_convert(const Mapping& mapping, const std::string& name) {
  for (const auto& [pattern, replacement] : mapping) {
    std::regex re(pattern);
    if (std::regex_search(name, re))
      return std::regex_replace(name, re, replacement, std::regex_constants::format_first_only);
  }
  return name;
}

std::string error_of(const std::function<void()>& action) {
  try {
    action();
  } catch (const Error& e) {
    return e.what();
  }
  ADD_FAILURE() << "no error";
  return {};
}

TEST(WeightNames, DetectsTheNamingGeneration) {
  EXPECT_EQ(detect_hub_naming(ModelType::kLlava, kLlavaLegacy, "llava"), HubNaming::kLegacy);
  EXPECT_EQ(detect_hub_naming(ModelType::kLlava, kLlavaCurrent, "llava"), HubNaming::kCurrent);
  EXPECT_EQ(detect_hub_naming(ModelType::kQwen2_5Vl, kQwenLegacy, "qwen"), HubNaming::kLegacy);
  EXPECT_EQ(detect_hub_naming(ModelType::kQwen2_5Vl, kQwenCurrent, "qwen"), HubNaming::kCurrent);
  // Plain LLMs are spelled the same in both generations.
  EXPECT_EQ(detect_hub_naming(ModelType::kLlama, kLlamaNames, "llama"), HubNaming::kLegacy);
  // lm_head.weight alone says nothing for Qwen-VL.
  EXPECT_EQ(detect_hub_naming(ModelType::kQwen2_5Vl, {"lm_head.weight"}, "qwen"), HubNaming::kLegacy);
}

TEST(WeightNames, CanonicalNames) {
  const std::vector<std::pair<std::string, std::string>> llava = {
      {"language_model.model.layers.0.self_attn.q_proj.weight", "text.layers.0.self_attn.q_proj.weight"},
      {"language_model.model.embed_tokens.weight", "text.embed_tokens.weight"},
      {"language_model.lm_head.weight", "lm_head.weight"},
      {"vision_tower.vision_model.encoder.layers.0.mlp.fc1.bias", "vision.encoder.layers.0.mlp.fc1.bias"},
      {"vision_tower.vision_model.pre_layrnorm.weight", "vision.pre_layrnorm.weight"},
      {"multi_modal_projector.linear_2.weight", "projector.linear_2.weight"}};
  for (const auto& [hub, canonical] : llava)
    EXPECT_EQ(hub_to_canonical(ModelType::kLlava, HubNaming::kLegacy, hub, "llava"), canonical);
  EXPECT_EQ(hub_to_canonical(ModelType::kLlavaNext, HubNaming::kLegacy, "image_newline", "next"), "image_newline");
  EXPECT_EQ(hub_to_canonical(ModelType::kLlavaNext, HubNaming::kCurrent, "model.image_newline", "next"),
            "image_newline");
  EXPECT_EQ(hub_to_canonical(ModelType::kQwen2_5Vl, HubNaming::kLegacy, "model.layers.3.self_attn.k_proj.bias", "q"),
            "text.layers.3.self_attn.k_proj.bias");
  EXPECT_EQ(hub_to_canonical(ModelType::kQwen2_5Vl, HubNaming::kCurrent, "model.visual.merger.mlp.0.weight", "q"),
            "vision.merger.mlp.0.weight");
  EXPECT_EQ(hub_to_canonical(ModelType::kQwen2_5Vl, HubNaming::kLegacy, "lm_head.weight", "q"), "lm_head.weight");
  EXPECT_EQ(hub_to_canonical(ModelType::kQwen2, HubNaming::kCurrent, "model.norm.weight", "q"), "text.norm.weight");
}

// Both generations of one model give the same canonical names, and canonical_to_hub inverts the mapping.
void check_generations(ModelType type, const std::vector<std::string>& legacy, const Mapping& conversion) {
  for (const std::string& name : legacy) {
    SCOPED_TRACE(name);
    std::string canonical = hub_to_canonical(type, HubNaming::kLegacy, name, "legacy");
    EXPECT_EQ(canonical_to_hub(type, HubNaming::kLegacy, canonical), name);
    std::string current = canonical_to_hub(type, HubNaming::kCurrent, canonical);
    EXPECT_EQ(current, transformers_convert(conversion, name));  // the independent oracle
    EXPECT_EQ(hub_to_canonical(type, HubNaming::kCurrent, current, "current"), canonical);
  }
}

TEST(WeightNames, LegacyToCurrentMatchesTransformersConversionMapping) {
  check_generations(ModelType::kLlava, kLlavaLegacy, kLlavaConversion);
  std::vector<std::string> next = kLlavaLegacy;
  next.push_back("image_newline");
  check_generations(ModelType::kLlavaNext, next, kLlavaNextConversion);
  check_generations(ModelType::kQwen2_5Vl, kQwenLegacy, kQwenConversion);
  check_generations(ModelType::kQwen2Vl, kQwenLegacy, kQwenConversion);
  // The current names listed above are what the conversion gives for their legacy counterparts.
  EXPECT_EQ(transformers_convert(kQwenConversion, "model.language_model.norm.weight"),
            "model.language_model.norm.weight");
  for (const std::string& name : kQwenCurrent)
    EXPECT_EQ(canonical_to_hub(ModelType::kQwen2_5Vl, HubNaming::kCurrent,
                               hub_to_canonical(ModelType::kQwen2_5Vl, HubNaming::kCurrent, name, "q")),
              name);
}

TEST(WeightNames, CanonicalNamesMapOfACheckpoint) {
  HubNaming naming = HubNaming::kLegacy;
  auto names = canonical_names(ModelType::kLlava, kLlavaCurrent, "llava/model.safetensors", &naming);
  EXPECT_EQ(naming, HubNaming::kCurrent);
  EXPECT_EQ(names.size(), kLlavaCurrent.size());
  EXPECT_EQ(names.at("lm_head.weight"), "lm_head.weight");
  EXPECT_EQ(names.at("vision.pre_layrnorm.weight"), "model.vision_tower.vision_model.pre_layrnorm.weight");
  auto llama = canonical_names(ModelType::kLlama, kLlamaNames, "llama");
  EXPECT_EQ(llama.at("text.layers.0.mlp.gate_proj.weight"), "model.layers.0.mlp.gate_proj.weight");
}

TEST(WeightNames, MixedGenerationsAreAnError) {
  std::vector<std::string> mixed = {"language_model.model.embed_tokens.weight",
                                    "model.vision_tower.vision_model.post_layernorm.weight"};
  std::string message = error_of([&] { detect_hub_naming(ModelType::kLlava, mixed, "ckpt/index.json"); });
  EXPECT_NE(message.find("ckpt/index.json"), std::string::npos) << message;
  EXPECT_NE(message.find("mix both namings"), std::string::npos) << message;
  EXPECT_NE(message.find("'language_model.model.embed_tokens.weight'"), std::string::npos) << message;
  EXPECT_NE(message.find("'model.vision_tower.vision_model.post_layernorm.weight'"), std::string::npos) << message;

  message = error_of(
      [&] { hub_to_canonical(ModelType::kQwen2_5Vl, HubNaming::kLegacy, "model.language_model.norm.weight", "ckpt"); });
  EXPECT_NE(message.find("uses the current (transformers >= 4.52) naming"), std::string::npos) << message;
}

TEST(WeightNames, NamesThatFitNeitherGeneration) {
  std::string message = error_of([&] {
    detect_hub_naming(ModelType::kLlava, {"language_model.model.norm.weight", "mm_projector.0.weight"}, "ckpt");
  });
  EXPECT_NE(message.find("tensor 'mm_projector.0.weight' is not a llava weight name"), std::string::npos) << message;
  EXPECT_NE(message.find("multi_modal_projector.*"), std::string::npos) << message;
  EXPECT_NE(message.find("model.multi_modal_projector.*"), std::string::npos) << message;
  // A LLaVA name in a Qwen2.5-VL checkpoint, a VLM name in an LLM, malformed paths.
  EXPECT_THROW(detect_hub_naming(ModelType::kQwen2_5Vl, {"language_model.model.norm.weight"}, "c"), Error);
  EXPECT_THROW(detect_hub_naming(ModelType::kLlama, {"visual.blocks.0.norm1.weight"}, "c"), Error);
  EXPECT_THROW(hub_to_canonical(ModelType::kLlama, HubNaming::kLegacy, "model.", "c"), Error);
  EXPECT_THROW(hub_to_canonical(ModelType::kLlama, HubNaming::kLegacy, "model..norm.weight", "c"), Error);
  EXPECT_THROW(hub_to_canonical(ModelType::kLlava, HubNaming::kLegacy, "image_newline", "c"),
               Error);  // llava_next only
}

TEST(WeightNames, CanonicalNamesOutsideTheModelAreAnError) {
  std::string message = error_of([] { canonical_to_hub(ModelType::kLlama, HubNaming::kLegacy, "vision.blocks.0.x"); });
  EXPECT_NE(message.find("'vision.blocks.0.x' is not a canonical llama tensor name"), std::string::npos) << message;
  EXPECT_THROW(canonical_to_hub(ModelType::kQwen2_5Vl, HubNaming::kCurrent, "projector.linear_1.weight"), Error);
  EXPECT_EQ(canonical_to_hub(ModelType::kLlavaNext, HubNaming::kCurrent, "image_newline"), "model.image_newline");
}

TEST(WeightNames, TextLayerNames) {
  EXPECT_EQ(text_layer_name(12, "self_attn.q_proj.weight"), "text.layers.12.self_attn.q_proj.weight");
  auto parsed = parse_text_layer_name("text.layers.12.self_attn.q_proj.weight");
  ASSERT_TRUE(parsed.has_value());
  EXPECT_EQ(parsed->first, 12);
  EXPECT_EQ(parsed->second, "self_attn.q_proj.weight");
  EXPECT_FALSE(parse_text_layer_name("text.norm.weight").has_value());
  EXPECT_FALSE(parse_text_layer_name("text.layers.x.q").has_value());
  EXPECT_FALSE(parse_text_layer_name("text.layers.3").has_value());
  EXPECT_FALSE(parse_text_layer_name("vision.encoder.layers.3.mlp.fc1.weight").has_value());
}

}  // namespace
}  // namespace mha2mla::hf
