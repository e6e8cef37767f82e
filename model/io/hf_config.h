// Hugging Face config.json, parsed into typed structs exactly as transformers would fill them, and written
// back with real HF keys.
//
// Supported model_type values: llama, qwen2, deepseek_v3 (LLMs), llava, llava_next (CLIP + LLaMA/Qwen2),
// qwen2_vl, qwen2_5_vl. Fields a file leaves out get the defaults of the transformers class that would
// read it: a partial LLaVA `text_config` is completed from LlamaConfig (or Qwen2Config), a partial
// `vision_config` from CLIPVisionConfig, and a LLaVA file with no `vision_config` at all gets LlavaConfig's
// own CLIP ViT-L/14-336 choice. Qwen2(.5)-VL files come in two generations: text keys flat at the top
// level (the hub files, transformers < 4.52) or nested in `text_config` (saved by transformers >= 4.52,
// which also keeps the flat copy); M-RoPE sections come from `rope_scaling` or the newer
// `rope_parameters`. Both generations parse to the same struct.
//
// The parsed document is kept (`HfConfig::raw`) so a converter can copy the original config and add to
// it (an `mla` block) rather than re-create it.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json_fwd.hpp>

namespace mha2mla::hf {

enum class ModelType { kLlama, kQwen2, kDeepseekV3, kLlava, kLlavaNext, kQwen2Vl, kQwen2_5Vl };

const char* model_type_name(ModelType type);                        // the config.json spelling: "qwen2_5_vl"
std::optional<ModelType> find_model_type(const std::string& name);  // nullopt when unsupported
const std::vector<std::string>& supported_model_types();
bool is_vision_language(ModelType type);
bool is_llava_family(ModelType type);    // llava, llava_next: CLIP tower + projector
bool is_qwen_vl_family(ModelType type);  // qwen2_vl, qwen2_5_vl: Qwen ViT + merger, M-RoPE

// RoPE frequency scaling (transformers' `rope_scaling` / `rope_parameters`). `type` is one of default,
// linear, dynamic, llama3, yarn, mrope. Qwen-VL files spell M-RoPE as {"type": "mrope"} or, when saved by
// newer transformers, {"rope_type": "default", "mrope_section": [...]}; both parse to type "mrope".
// Optional fields are kept only when the file has them, so a written config says what the original said.
struct RopeScaling {
  std::string type = "default";
  std::optional<double> factor;                             // linear, dynamic, llama3, yarn
  std::optional<double> low_freq_factor, high_freq_factor;  // llama3
  std::optional<int64_t> original_max_position_embeddings;  // llama3, yarn
  std::optional<double> beta_fast, beta_slow, mscale, mscale_all_dim, attention_factor;  // yarn
  std::vector<int64_t> mrope_section;  // mrope: rotary frequency pairs for (temporal, height, width)

  bool operator==(const RopeScaling& other) const;
  bool operator!=(const RopeScaling& other) const { return !(*this == other); }
};

// The decoder LLM (the whole model for llama/qwen2/deepseek_v3, `text_config` of a VLM).
struct TextConfig {
  // Which transformers class filled the defaults: llama, qwen2, qwen2_vl_text, qwen2_5_vl_text, deepseek_v3.
  std::string model_type = "llama";
  int64_t vocab_size = 0;
  int64_t hidden_size = 0;
  int64_t intermediate_size = 0;
  int64_t num_hidden_layers = 0;
  int64_t num_attention_heads = 0;
  int64_t num_key_value_heads = 0;
  // Per-head q/k/v width. hidden_size / heads unless the file sets head_dim (llama, qwen2 honour it).
  // deepseek_v3: qk_nope_head_dim + qk_rope_head_dim (the query/key width; values use v_head_dim).
  int64_t head_dim = 0;
  double rms_norm_eps = 1e-6;
  double rope_theta = 10000.0;
  RopeScaling rope_scaling;
  int64_t max_position_embeddings = 0;
  bool tie_word_embeddings = false;
  // Projection biases: llama/deepseek_v3 take q, k, v and o from `attention_bias`; the Qwen2 families
  // always have q/k/v bias and no o_proj bias.
  bool qkv_bias = false;
  bool o_proj_bias = false;
  bool mlp_bias = false;  // llama's `mlp_bias`
  std::string hidden_act = "silu";
  std::optional<int64_t> bos_token_id;
  std::optional<int64_t> pad_token_id;
  std::vector<int64_t> eos_token_ids;  // `eos_token_id` may be an int or a list; empty when unset

  bool operator==(const TextConfig& other) const;
  bool operator!=(const TextConfig& other) const { return !(*this == other); }
};

// CLIPVisionConfig (the LLaVA vision tower). Member defaults are CLIPVisionConfig's.
struct ClipVisionConfig {
  int64_t hidden_size = 768;
  int64_t intermediate_size = 3072;
  int64_t num_hidden_layers = 12;
  int64_t num_attention_heads = 12;
  int64_t image_size = 224;
  int64_t patch_size = 32;
  int64_t num_channels = 3;
  int64_t projection_dim = 512;
  double layer_norm_eps = 1e-5;
  std::string hidden_act = "quick_gelu";

  int64_t head_dim() const { return hidden_size / num_attention_heads; }
  int64_t patches_per_side() const { return image_size / patch_size; }

  bool operator==(const ClipVisionConfig& other) const;
  bool operator!=(const ClipVisionConfig& other) const { return !(*this == other); }
};

// What LlavaConfig / LlavaNextConfig use when config.json has no `vision_config` at all (CLIP ViT-L/14 at
// 336 px); a `vision_config` that is present but partial is completed from CLIPVisionConfig instead.
ClipVisionConfig llava_default_clip_vision();

// The Qwen2.5-VL (or Qwen2-VL) vision transformer, patch merger included.
struct QwenVisionConfig {
  // "qwen2_5_vl": RMSNorm blocks, gated SiLU MLP, window attention except in fullatt_block_indexes.
  // "qwen2_vl": LayerNorm blocks, fc1/fc2 MLP (width embed_dim * mlp_ratio), full attention everywhere.
  std::string variant = "qwen2_5_vl";
  int64_t depth = 32;
  int64_t hidden_size = 3584;        // the ViT width (Qwen2-VL's `embed_dim`)
  int64_t intermediate_size = 3420;  // Qwen2-VL: embed_dim * mlp_ratio
  int64_t num_heads = 16;
  int64_t in_channels = 3;
  int64_t patch_size = 14;
  int64_t spatial_merge_size = 2;
  int64_t temporal_patch_size = 2;
  int64_t out_hidden_size = 3584;  // merger output = LLM width (Qwen2-VL's `hidden_size`)
  std::string hidden_act = "silu";
  // qwen2_5_vl only:
  int64_t window_size = 112;
  std::vector<int64_t> fullatt_block_indexes = {7, 15, 23, 31};
  int64_t tokens_per_second = 4;
  // qwen2_vl only:
  double mlp_ratio = 4.0;

  int64_t head_dim() const { return hidden_size / num_heads; }

  bool operator==(const QwenVisionConfig& other) const;
  bool operator!=(const QwenVisionConfig& other) const { return !(*this == other); }
};
QwenVisionConfig qwen2_vl_default_vision();  // Qwen2VLVisionConfig's defaults (variant "qwen2_vl")

// Top-level LLaVA / LLaVA-NeXT fields. Member defaults are LlavaConfig's.
struct LlavaFields {
  int64_t image_token_index = 32000;
  std::string projector_hidden_act = "gelu";
  std::vector<int64_t> vision_feature_layers = {-2};  // `vision_feature_layer`: an int or a list
  bool vision_feature_layer_is_list = false;
  std::string vision_feature_select_strategy = "default";  // default (drop CLS) | full
  bool multimodal_projector_bias = true;
  int64_t image_seq_length = 576;
  std::optional<bool> tie_word_embeddings;  // the top-level key; see HfConfig::ties_word_embeddings()
  std::optional<int64_t> pad_token_id;      // the top-level pad id (llava-1.5: 32001)
  // llava_next: candidate (height, width) resolutions for AnyRes tiling. The `image_newline` separator is
  // a weight, not a config field.
  std::vector<std::vector<int64_t>> image_grid_pinpoints;

  bool operator==(const LlavaFields& other) const;
  bool operator!=(const LlavaFields& other) const { return !(*this == other); }
};
std::vector<std::vector<int64_t>> llava_next_default_pinpoints();

// Top-level Qwen2(.5)-VL special token ids. Member defaults are Qwen2_5_VLConfig's.
struct QwenVlFields {
  int64_t image_token_id = 151655;
  int64_t video_token_id = 151656;
  int64_t vision_start_token_id = 151652;
  int64_t vision_end_token_id = 151653;
  std::optional<int64_t> vision_token_id;  // in the hub files (151654); no class default

  bool operator==(const QwenVlFields& other) const;
  bool operator!=(const QwenVlFields& other) const { return !(*this == other); }
};

// DeepSeek-V3's MLA and MoE fields: what an MLA exporter writes. Member defaults are DeepseekV3Config's
// (moe_layer_freq, scoring_func, topk_method: the hub's configuration_deepseek.py).
struct DeepseekV3Fields {
  std::optional<int64_t> q_lora_rank = 1536;  // JSON null: queries are not compressed (plain q_proj)
  int64_t kv_lora_rank = 512;
  int64_t qk_rope_head_dim = 64;
  int64_t qk_nope_head_dim = 128;
  int64_t v_head_dim = 128;
  int64_t moe_intermediate_size = 2048;
  int64_t n_routed_experts = 256;
  int64_t n_shared_experts = 1;
  int64_t num_experts_per_tok = 8;
  int64_t first_k_dense_replace = 3;  // = num_hidden_layers: every layer dense
  int64_t moe_layer_freq = 1;
  int64_t n_group = 8;
  int64_t topk_group = 4;
  double routed_scaling_factor = 2.5;
  bool norm_topk_prob = true;
  std::string scoring_func = "sigmoid";
  std::string topk_method = "noaux_tc";
  std::optional<int64_t> num_nextn_predict_layers;
  std::optional<bool> rope_interleave;  // transformers' class: true when absent

  bool operator==(const DeepseekV3Fields& other) const;
  bool operator!=(const DeepseekV3Fields& other) const { return !(*this == other); }
};

struct HfConfig {
  ModelType model_type = ModelType::kLlama;
  TextConfig text;
  std::optional<ClipVisionConfig> clip_vision;  // llava, llava_next
  std::optional<QwenVisionConfig> qwen_vision;  // qwen2_vl, qwen2_5_vl
  LlavaFields llava;                            // meaningful for llava, llava_next
  QwenVlFields qwen_vl;                         // meaningful for qwen2_vl, qwen2_5_vl
  DeepseekV3Fields deepseek;                    // meaningful for deepseek_v3
  std::string torch_dtype;                      // top-level torch_dtype (or newer `dtype`); "" when absent
  // Qwen-VL: the text keys came in `text_config` (newer transformers); the writer then emits both forms.
  bool text_nested = false;

  std::string source;                         // the file parsed, for messages
  std::shared_ptr<const nlohmann::json> raw;  // the document as read (null for a config built in code)

  // Whether lm_head shares the embedding matrix (LLaVA: the top-level key or text_config's).
  bool ties_word_embeddings() const;

  // Structural equality: every typed field; `source` and `raw` are not compared.
  bool operator==(const HfConfig& other) const;
  bool operator!=(const HfConfig& other) const { return !(*this == other); }
};

// Parses a config document; `source` names it in errors. Runs validate().
HfConfig parse_hf_config(const nlohmann::json& document, const std::string& source);
// Same from JSON text (syntax errors name `source` and the byte offset).
HfConfig parse_hf_config_text(const std::string& text, const std::string& source);
// Reads `path`, or `path`/config.json when `path` is a folder.
HfConfig load_hf_config(const std::string& path);

// Checks the invariants transformers relies on: positive sizes, heads divisible by kv heads, mrope
// sections summing to head_dim / 2, a known projector strategy, etc. Errors name config.source.
void validate(const HfConfig& config);

// A config.json with real HF keys for config.model_type, every typed field written out (so
// parse(to_json(x)) == x). Qwen-VL with text_nested writes the flat and the nested text keys, as
// transformers >= 4.52 does, so that older and newer transformers both read it.
nlohmann::json to_json(const HfConfig& config);
std::string to_json_string(const HfConfig& config);                    // 2-space indent, trailing newline
void save_hf_config(const HfConfig& config, const std::string& path);  // atomic write

}  // namespace mha2mla::hf
