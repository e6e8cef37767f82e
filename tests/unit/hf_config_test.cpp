// Parsing published config.json files: the values must be what transformers' config classes give for
// them (the published model facts, and the class defaults for every key a file leaves out).
#include "model/io/hf_config.h"

#include <string>
#include <vector>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

namespace mha2mla::hf {
namespace {

std::string data_dir(const std::string& repo) {
  return std::string(MHA2MLA_SOURCE_DIR) + "/tests/data/hf_configs/" + repo;
}

HfConfig load_repo(const std::string& repo) { return load_hf_config(data_dir(repo)); }

HfConfig parse(const std::string& text) { return parse_hf_config_text(text, "test/config.json"); }

TEST(HfConfig, Llava15_7b) {
  HfConfig c = load_repo("llava-1.5-7b-hf");
  EXPECT_EQ(c.model_type, ModelType::kLlava);
  EXPECT_EQ(c.source, data_dir("llava-1.5-7b-hf") + "/config.json");
  EXPECT_EQ(c.torch_dtype, "float16");

  // The partial text_config is completed from LlamaConfig's defaults (Vicuna-7B is a LLaMA-2-7B).
  const TextConfig& t = c.text;
  EXPECT_EQ(t.model_type, "llama");
  EXPECT_EQ(t.vocab_size, 32064);
  EXPECT_EQ(t.hidden_size, 4096);
  EXPECT_EQ(t.intermediate_size, 11008);
  EXPECT_EQ(t.num_hidden_layers, 32);
  EXPECT_EQ(t.num_attention_heads, 32);
  EXPECT_EQ(t.num_key_value_heads, 32);
  EXPECT_EQ(t.head_dim, 128);
  EXPECT_EQ(t.rms_norm_eps, 1e-5);
  EXPECT_EQ(t.rope_theta, 10000.0);
  EXPECT_EQ(t.rope_scaling.type, "default");
  EXPECT_EQ(t.max_position_embeddings, 4096);
  EXPECT_FALSE(t.tie_word_embeddings);
  EXPECT_FALSE(t.qkv_bias);
  EXPECT_FALSE(t.o_proj_bias);
  EXPECT_FALSE(t.mlp_bias);
  EXPECT_EQ(t.hidden_act, "silu");
  EXPECT_EQ(t.bos_token_id, 1);
  EXPECT_EQ(t.eos_token_ids, std::vector<int64_t>{2});
  EXPECT_EQ(t.pad_token_id, std::nullopt);

  ASSERT_TRUE(c.clip_vision.has_value());
  const ClipVisionConfig& v = *c.clip_vision;
  EXPECT_EQ(v.hidden_size, 1024);
  EXPECT_EQ(v.intermediate_size, 4096);
  EXPECT_EQ(v.num_hidden_layers, 24);
  EXPECT_EQ(v.num_attention_heads, 16);
  EXPECT_EQ(v.image_size, 336);
  EXPECT_EQ(v.patch_size, 14);
  EXPECT_EQ(v.num_channels, 3);
  EXPECT_EQ(v.projection_dim, 768);
  EXPECT_EQ(v.layer_norm_eps, 1e-5);
  EXPECT_EQ(v.hidden_act, "quick_gelu");  // CLIPVisionConfig's default: the file does not say
  EXPECT_EQ(v.head_dim(), 64);

  const LlavaFields& l = c.llava;
  EXPECT_EQ(l.image_token_index, 32000);
  EXPECT_EQ(l.projector_hidden_act, "gelu");
  EXPECT_EQ(l.vision_feature_layers, std::vector<int64_t>{-2});
  EXPECT_FALSE(l.vision_feature_layer_is_list);
  EXPECT_EQ(l.vision_feature_select_strategy, "default");
  EXPECT_TRUE(l.multimodal_projector_bias);
  EXPECT_EQ(l.pad_token_id, 32001);
  EXPECT_EQ(l.tie_word_embeddings, false);
  EXPECT_FALSE(c.ties_word_embeddings());
  // LlavaConfig's image_seq_length default is one 336 px image in 14 px patches.
  EXPECT_EQ(l.image_seq_length, 576);
  EXPECT_EQ(l.image_seq_length, v.patches_per_side() * v.patches_per_side());
  EXPECT_FALSE(c.qwen_vision.has_value());

  ASSERT_NE(c.raw, nullptr);
  EXPECT_EQ(c.raw->at("text_config").at("_name_or_path"), "lmsys/vicuna-7b-v1.5");
}

TEST(HfConfig, Llama3LlavaNext8b) {
  HfConfig c = load_repo("llama3-llava-next-8b-hf");
  EXPECT_EQ(c.model_type, ModelType::kLlavaNext);
  const TextConfig& t = c.text;
  EXPECT_EQ(t.vocab_size, 128320);
  EXPECT_EQ(t.hidden_size, 4096);
  EXPECT_EQ(t.intermediate_size, 14336);
  EXPECT_EQ(t.num_hidden_layers, 32);
  EXPECT_EQ(t.num_attention_heads, 32);
  EXPECT_EQ(t.num_key_value_heads, 8);
  EXPECT_EQ(t.head_dim, 128);
  EXPECT_EQ(t.rope_theta, 500000.0);
  EXPECT_EQ(t.max_position_embeddings, 8192);
  EXPECT_EQ(t.bos_token_id, 128000);
  EXPECT_EQ(t.eos_token_ids, std::vector<int64_t>{128009});
  EXPECT_EQ(c.llava.image_token_index, 128256);
  EXPECT_EQ(c.llava.pad_token_id, std::nullopt);
  std::vector<std::vector<int64_t>> pinpoints = {{336, 672}, {672, 336}, {672, 672}, {1008, 336}, {336, 1008}};
  EXPECT_EQ(c.llava.image_grid_pinpoints, pinpoints);
  ASSERT_TRUE(c.clip_vision.has_value());
  EXPECT_EQ(*c.clip_vision, llava_default_clip_vision());  // the same CLIP ViT-L/14-336
}

void expect_qwen25_vl_7b(const HfConfig& c) {
  EXPECT_EQ(c.model_type, ModelType::kQwen2_5Vl);
  const TextConfig& t = c.text;
  EXPECT_EQ(t.model_type, "qwen2_5_vl_text");
  EXPECT_EQ(t.vocab_size, 152064);
  EXPECT_EQ(t.hidden_size, 3584);
  EXPECT_EQ(t.intermediate_size, 18944);
  EXPECT_EQ(t.num_hidden_layers, 28);
  EXPECT_EQ(t.num_attention_heads, 28);
  EXPECT_EQ(t.num_key_value_heads, 4);
  EXPECT_EQ(t.head_dim, 128);
  EXPECT_EQ(t.rms_norm_eps, 1e-6);
  EXPECT_EQ(t.rope_theta, 1e6);
  EXPECT_EQ(t.rope_scaling.type, "mrope");
  EXPECT_EQ(t.rope_scaling.mrope_section, (std::vector<int64_t>{16, 24, 24}));
  EXPECT_EQ(t.max_position_embeddings, 128000);
  EXPECT_FALSE(t.tie_word_embeddings);
  EXPECT_TRUE(t.qkv_bias);
  EXPECT_FALSE(t.o_proj_bias);
  EXPECT_EQ(t.bos_token_id, 151643);
  EXPECT_EQ(t.eos_token_ids, std::vector<int64_t>{151645});

  ASSERT_TRUE(c.qwen_vision.has_value());
  const QwenVisionConfig& v = *c.qwen_vision;
  EXPECT_EQ(v.variant, "qwen2_5_vl");
  EXPECT_EQ(v.depth, 32);
  EXPECT_EQ(v.hidden_size, 1280);
  EXPECT_EQ(v.intermediate_size, 3420);
  EXPECT_EQ(v.num_heads, 16);
  EXPECT_EQ(v.head_dim(), 80);
  EXPECT_EQ(v.in_channels, 3);
  EXPECT_EQ(v.patch_size, 14);
  EXPECT_EQ(v.spatial_merge_size, 2);
  EXPECT_EQ(v.temporal_patch_size, 2);
  EXPECT_EQ(v.window_size, 112);
  EXPECT_EQ(v.fullatt_block_indexes, (std::vector<int64_t>{7, 15, 23, 31}));
  EXPECT_EQ(v.out_hidden_size, 3584);
  EXPECT_EQ(v.hidden_act, "silu");
  EXPECT_EQ(v.tokens_per_second, 2);

  EXPECT_EQ(c.qwen_vl.image_token_id, 151655);
  EXPECT_EQ(c.qwen_vl.video_token_id, 151656);
  EXPECT_EQ(c.qwen_vl.vision_start_token_id, 151652);
  EXPECT_EQ(c.qwen_vl.vision_end_token_id, 151653);
  EXPECT_EQ(c.qwen_vl.vision_token_id, 151654);
  EXPECT_FALSE(c.ties_word_embeddings());
}

TEST(HfConfig, Qwen25Vl7bFlatHubFile) {
  HfConfig c = load_repo("Qwen2.5-VL-7B-Instruct");
  expect_qwen25_vl_7b(c);
  EXPECT_FALSE(c.text_nested);
  EXPECT_EQ(c.torch_dtype, "bfloat16");
}

TEST(HfConfig, Qwen25Vl7bNestedGenerationParsesLikeTheFlatOne) {
  HfConfig nested = load_repo("Qwen2.5-VL-7B-Instruct-transformers-4.54");
  expect_qwen25_vl_7b(nested);
  EXPECT_TRUE(nested.text_nested);
  EXPECT_EQ(nested.torch_dtype, "float32");

  HfConfig flat = load_repo("Qwen2.5-VL-7B-Instruct");
  EXPECT_EQ(nested.text, flat.text);
  EXPECT_EQ(nested.qwen_vision, flat.qwen_vision);
  EXPECT_EQ(nested.qwen_vl, flat.qwen_vl);
}

TEST(HfConfig, Qwen25VlRopeParametersGeneration) {
  // transformers v5 writes rope_parameters (theta inside) and `dtype`; the text_config wins over flat keys.
  nlohmann::json j = nlohmann::json::parse(R"({
    "model_type": "qwen2_5_vl", "dtype": "bfloat16",
    "text_config": {"model_type": "qwen2_5_vl_text", "vocab_size": 152064, "hidden_size": 3584,
      "intermediate_size": 18944, "num_hidden_layers": 28, "num_attention_heads": 28, "num_key_value_heads": 4,
      "rms_norm_eps": 1e-06, "max_position_embeddings": 128000, "bos_token_id": 151643, "eos_token_id": 151645,
      "rope_parameters": {"rope_type": "default", "rope_theta": 1000000.0, "mrope_section": [16, 24, 24]}},
    "vision_config": {"depth": 32, "hidden_size": 1280, "intermediate_size": 3420, "num_heads": 16,
      "in_channels": 3, "out_hidden_size": 3584, "tokens_per_second": 2, "window_size": 112},
    "image_token_id": 151655, "video_token_id": 151656, "vision_start_token_id": 151652,
    "vision_end_token_id": 151653, "vision_token_id": 151654})");
  HfConfig c = parse_hf_config(j, "v5/config.json");
  expect_qwen25_vl_7b(c);
  EXPECT_EQ(c.torch_dtype, "bfloat16");
  EXPECT_EQ(c.text, load_repo("Qwen2.5-VL-7B-Instruct").text);
}

TEST(HfConfig, MetaLlama3_8b) {
  HfConfig c = load_repo("Meta-Llama-3-8B-Instruct");
  EXPECT_EQ(c.model_type, ModelType::kLlama);
  const TextConfig& t = c.text;
  EXPECT_EQ(t.vocab_size, 128256);
  EXPECT_EQ(t.hidden_size, 4096);
  EXPECT_EQ(t.intermediate_size, 14336);
  EXPECT_EQ(t.num_hidden_layers, 32);
  EXPECT_EQ(t.num_attention_heads, 32);
  EXPECT_EQ(t.num_key_value_heads, 8);
  EXPECT_EQ(t.head_dim, 128);
  EXPECT_EQ(t.rms_norm_eps, 1e-5);
  EXPECT_EQ(t.rope_theta, 500000.0);
  EXPECT_EQ(t.rope_scaling, RopeScaling{});
  EXPECT_EQ(t.max_position_embeddings, 8192);
  EXPECT_EQ(t.bos_token_id, 128000);
  EXPECT_EQ(t.eos_token_ids, std::vector<int64_t>{128009});
  EXPECT_FALSE(t.qkv_bias);
  EXPECT_FALSE(c.clip_vision.has_value());
}

TEST(HfConfig, Llama31_8bLlama3RopeAndEosList) {
  HfConfig c = load_repo("Llama-3.1-8B-Instruct");
  const TextConfig& t = c.text;
  EXPECT_EQ(t.eos_token_ids, (std::vector<int64_t>{128001, 128008, 128009}));
  EXPECT_EQ(t.max_position_embeddings, 131072);
  EXPECT_EQ(t.rope_scaling.type, "llama3");
  EXPECT_EQ(t.rope_scaling.factor, 8.0);
  EXPECT_EQ(t.rope_scaling.low_freq_factor, 1.0);
  EXPECT_EQ(t.rope_scaling.high_freq_factor, 4.0);
  EXPECT_EQ(t.rope_scaling.original_max_position_embeddings, 8192);
  EXPECT_EQ(t.rope_scaling.beta_fast, std::nullopt);
}

TEST(HfConfig, Qwen25_05bTiedQwen2) {
  HfConfig c = load_repo("Qwen2.5-0.5B-Instruct");
  EXPECT_EQ(c.model_type, ModelType::kQwen2);
  const TextConfig& t = c.text;
  EXPECT_EQ(t.model_type, "qwen2");
  EXPECT_EQ(t.vocab_size, 151936);
  EXPECT_EQ(t.hidden_size, 896);
  EXPECT_EQ(t.intermediate_size, 4864);
  EXPECT_EQ(t.num_hidden_layers, 24);
  EXPECT_EQ(t.num_attention_heads, 14);
  EXPECT_EQ(t.num_key_value_heads, 2);
  EXPECT_EQ(t.head_dim, 64);
  EXPECT_EQ(t.rope_theta, 1e6);
  EXPECT_EQ(t.max_position_embeddings, 32768);
  EXPECT_TRUE(t.tie_word_embeddings);
  EXPECT_TRUE(c.ties_word_embeddings());
  EXPECT_TRUE(t.qkv_bias);  // Qwen2: q/k/v have bias, o_proj has none
  EXPECT_FALSE(t.o_proj_bias);
  EXPECT_EQ(t.bos_token_id, 151643);
  EXPECT_EQ(t.eos_token_ids, std::vector<int64_t>{151645});
}

TEST(HfConfig, DeepseekV3) {
  HfConfig c = load_repo("DeepSeek-V3");
  EXPECT_EQ(c.model_type, ModelType::kDeepseekV3);
  const TextConfig& t = c.text;
  EXPECT_EQ(t.vocab_size, 129280);
  EXPECT_EQ(t.hidden_size, 7168);
  EXPECT_EQ(t.intermediate_size, 18432);
  EXPECT_EQ(t.num_hidden_layers, 61);
  EXPECT_EQ(t.num_attention_heads, 128);
  EXPECT_EQ(t.num_key_value_heads, 128);
  EXPECT_EQ(t.head_dim, 192);  // qk_nope_head_dim + qk_rope_head_dim
  EXPECT_EQ(t.max_position_embeddings, 163840);
  EXPECT_EQ(t.rope_theta, 10000.0);  // an integer in the file
  EXPECT_EQ(t.rope_scaling.type, "yarn");
  EXPECT_EQ(t.rope_scaling.factor, 40.0);
  EXPECT_EQ(t.rope_scaling.beta_fast, 32.0);
  EXPECT_EQ(t.rope_scaling.beta_slow, 1.0);
  EXPECT_EQ(t.rope_scaling.mscale, 1.0);
  EXPECT_EQ(t.rope_scaling.mscale_all_dim, 1.0);
  EXPECT_EQ(t.rope_scaling.original_max_position_embeddings, 4096);
  EXPECT_EQ(t.bos_token_id, 0);
  EXPECT_EQ(t.eos_token_ids, std::vector<int64_t>{1});
  const DeepseekV3Fields& d = c.deepseek;
  EXPECT_EQ(d.q_lora_rank, 1536);
  EXPECT_EQ(d.kv_lora_rank, 512);
  EXPECT_EQ(d.qk_rope_head_dim, 64);
  EXPECT_EQ(d.qk_nope_head_dim, 128);
  EXPECT_EQ(d.v_head_dim, 128);
  EXPECT_EQ(d.n_routed_experts, 256);
  EXPECT_EQ(d.n_shared_experts, 1);
  EXPECT_EQ(d.num_experts_per_tok, 8);
  EXPECT_EQ(d.moe_intermediate_size, 2048);
  EXPECT_EQ(d.first_k_dense_replace, 3);
  EXPECT_EQ(d.n_group, 8);
  EXPECT_EQ(d.topk_group, 4);
  EXPECT_EQ(d.routed_scaling_factor, 2.5);
  EXPECT_EQ(d.scoring_func, "sigmoid");
  EXPECT_EQ(d.topk_method, "noaux_tc");
  EXPECT_EQ(d.num_nextn_predict_layers, 1);
  EXPECT_EQ(d.rope_interleave, std::nullopt);
}

TEST(HfConfig, Qwen2VlVariant) {
  // Qwen/Qwen2-VL-7B-Instruct's vision_config: embed_dim is the ViT width, hidden_size the LLM width.
  HfConfig c = parse(R"({"model_type": "qwen2_vl", "vocab_size": 152064, "hidden_size": 3584,
    "intermediate_size": 18944, "num_hidden_layers": 28, "num_attention_heads": 28, "num_key_value_heads": 4,
    "rms_norm_eps": 1e-06, "rope_theta": 1000000.0, "max_position_embeddings": 32768,
    "rope_scaling": {"type": "mrope", "mrope_section": [16, 24, 24]},
    "vision_config": {"depth": 32, "embed_dim": 1280, "mlp_ratio": 4, "num_heads": 16, "in_chans": 3,
      "hidden_size": 3584, "patch_size": 14, "spatial_merge_size": 2, "spatial_patch_size": 14,
      "temporal_patch_size": 2}})");
  EXPECT_EQ(c.model_type, ModelType::kQwen2Vl);
  EXPECT_EQ(c.text.model_type, "qwen2_vl_text");
  ASSERT_TRUE(c.qwen_vision.has_value());
  EXPECT_EQ(c.qwen_vision->variant, "qwen2_vl");
  EXPECT_EQ(c.qwen_vision->hidden_size, 1280);
  EXPECT_EQ(c.qwen_vision->intermediate_size, 5120);
  EXPECT_EQ(c.qwen_vision->out_hidden_size, 3584);
  EXPECT_EQ(c.qwen_vision->hidden_act, "quick_gelu");  // Qwen2VLVisionConfig's default
  EXPECT_EQ(c.qwen_vl.image_token_id, 151655);
  EXPECT_EQ(c.qwen_vl.vision_token_id, std::nullopt);
}

// ---- class defaults for keys a file leaves out --------------------------------------------------------

TEST(HfConfigDefaults, LlavaWithoutSubConfigsUsesLlamaConfigAndLlavasClip) {
  HfConfig c = parse(R"({"model_type": "llava"})");
  const TextConfig& t = c.text;  // LlamaConfig()
  EXPECT_EQ(t.vocab_size, 32000);
  EXPECT_EQ(t.hidden_size, 4096);
  EXPECT_EQ(t.intermediate_size, 11008);
  EXPECT_EQ(t.num_hidden_layers, 32);
  EXPECT_EQ(t.num_attention_heads, 32);
  EXPECT_EQ(t.num_key_value_heads, 32);
  EXPECT_EQ(t.max_position_embeddings, 2048);
  EXPECT_EQ(t.rms_norm_eps, 1e-6);
  EXPECT_EQ(t.rope_theta, 10000.0);
  EXPECT_EQ(t.bos_token_id, 1);
  EXPECT_EQ(t.eos_token_ids, std::vector<int64_t>{2});
  ASSERT_TRUE(c.clip_vision.has_value());
  const ClipVisionConfig& v = *c.clip_vision;  // LlavaConfig's vision_config=None branch
  EXPECT_EQ(v.hidden_size, 1024);
  EXPECT_EQ(v.intermediate_size, 4096);
  EXPECT_EQ(v.num_hidden_layers, 24);
  EXPECT_EQ(v.num_attention_heads, 16);
  EXPECT_EQ(v.image_size, 336);
  EXPECT_EQ(v.patch_size, 14);
  EXPECT_EQ(v.projection_dim, 768);
  EXPECT_EQ(c.llava.image_token_index, 32000);
  EXPECT_EQ(c.llava.image_seq_length, 576);
  EXPECT_TRUE(c.llava.image_grid_pinpoints.empty());  // llava, not llava_next
}

TEST(HfConfigDefaults, PresentButEmptyVisionConfigUsesClipVisionConfig) {
  HfConfig c = parse(R"({"model_type": "llava", "vision_config": {}})");
  EXPECT_EQ(*c.clip_vision, ClipVisionConfig{});
  EXPECT_EQ(c.clip_vision->hidden_size, 768);
  EXPECT_EQ(c.clip_vision->num_hidden_layers, 12);
  EXPECT_EQ(c.clip_vision->image_size, 224);
  EXPECT_EQ(c.clip_vision->patch_size, 32);
  EXPECT_EQ(c.clip_vision->projection_dim, 512);
}

TEST(HfConfigDefaults, LlavaNextPinpointsAndListFeatureLayers) {
  HfConfig c = parse(R"({"model_type": "llava_next", "vision_feature_layer": [-2, -5],
    "vision_feature_select_strategy": "full", "tie_word_embeddings": false,
    "text_config": {"model_type": "qwen2", "tie_word_embeddings": true, "num_attention_heads": 32}})");
  EXPECT_EQ(c.llava.image_grid_pinpoints, llava_next_default_pinpoints());
  EXPECT_EQ(c.llava.vision_feature_layers, (std::vector<int64_t>{-2, -5}));
  EXPECT_TRUE(c.llava.vision_feature_layer_is_list);
  EXPECT_EQ(c.llava.vision_feature_select_strategy, "full");
  EXPECT_EQ(c.text.model_type, "qwen2");
  EXPECT_EQ(c.text.vocab_size, 151936);  // Qwen2Config's defaults fill a qwen2 text_config
  EXPECT_TRUE(c.text.qkv_bias);
  // LlavaConfig forwards text_config's tie_word_embeddings when its own is false.
  EXPECT_TRUE(c.ties_word_embeddings());
}

TEST(HfConfigDefaults, Qwen2KeyValueHeadsAbsentIs32NullIsHeads) {
  const std::string base = R"("model_type": "qwen2", "vocab_size": 1000, "hidden_size": 1024,
    "intermediate_size": 2048, "num_hidden_layers": 2, "num_attention_heads": 64)";
  EXPECT_EQ(parse("{" + base + "}").text.num_key_value_heads, 32);  // Qwen2Config(num_key_value_heads=32)
  EXPECT_EQ(parse("{" + base + R"(, "num_key_value_heads": null})").text.num_key_value_heads, 64);
  // LlamaConfig's default is None: num_attention_heads.
  const std::string llama = R"({"model_type": "llama", "vocab_size": 1000, "hidden_size": 1024,
    "intermediate_size": 2048, "num_hidden_layers": 2, "num_attention_heads": 64})";
  EXPECT_EQ(parse(llama).text.num_key_value_heads, 64);
}

TEST(HfConfigDefaults, ExplicitHeadDimAndNullTokenIds) {
  HfConfig c = parse(R"({"model_type": "llama", "vocab_size": 1000, "hidden_size": 96,
    "intermediate_size": 256, "num_hidden_layers": 2, "num_attention_heads": 4, "num_key_value_heads": 2,
    "head_dim": 32, "bos_token_id": null, "eos_token_id": null, "attention_bias": true, "mlp_bias": true})");
  EXPECT_EQ(c.text.head_dim, 32);  // not 96 / 4
  EXPECT_EQ(c.text.bos_token_id, std::nullopt);
  EXPECT_TRUE(c.text.eos_token_ids.empty());
  EXPECT_TRUE(c.text.qkv_bias);
  EXPECT_TRUE(c.text.o_proj_bias);
  EXPECT_TRUE(c.text.mlp_bias);
}

TEST(HfConfigDefaults, Qwen25VlMissingVisionConfigUsesTheClassDefaults) {
  HfConfig c = parse(R"({"model_type": "qwen2_5_vl", "vocab_size": 1000, "hidden_size": 3584,
    "intermediate_size": 256, "num_hidden_layers": 2, "num_attention_heads": 28, "num_key_value_heads": 4,
    "rope_scaling": {"type": "mrope", "mrope_section": [16, 24, 24]}})");
  EXPECT_EQ(*c.qwen_vision, QwenVisionConfig{});
  EXPECT_EQ(c.qwen_vision->hidden_size, 3584);  // Qwen2_5_VLVisionConfig's (unusual) default
  EXPECT_EQ(c.qwen_vision->tokens_per_second, 4);
  EXPECT_EQ(c.text.rms_norm_eps, 1e-5);  // Qwen2_5_VLTextConfig's default
  EXPECT_EQ(c.text.rope_theta, 1e6);
  EXPECT_EQ(c.qwen_vl.vision_start_token_id, 151652);
}

}  // namespace
}  // namespace mha2mla::hf
