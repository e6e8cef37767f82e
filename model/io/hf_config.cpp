// Model types, defaults, equality, validation, and file entry points for hf_config.h. Parsing lives in
// hf_config_parse.cpp, writing in hf_config_write.cpp.
#include "model/io/hf_config.h"

#include <nlohmann/json.hpp>

#include "common/error.h"
#include "common/files.h"
#include "common/strings.h"

namespace mha2mla::hf {

namespace {

struct ModelTypeName {
  ModelType type;
  const char* name;
};
constexpr ModelTypeName kModelTypes[] = {
    {ModelType::kLlama, "llama"},
    {ModelType::kQwen2, "qwen2"},
    {ModelType::kDeepseekV3, "deepseek_v3"},
    {ModelType::kLlava, "llava"},
    {ModelType::kLlavaNext, "llava_next"},
    {ModelType::kQwen2Vl, "qwen2_vl"},
    {ModelType::kQwen2_5Vl, "qwen2_5_vl"},
};

}  // namespace

const char* model_type_name(ModelType type) {
  for (const auto& entry : kModelTypes)
    if (entry.type == type) return entry.name;
  MHA2MLA_CHECK(false, "unhandled ModelType {}", static_cast<int>(type));
  return "";
}

std::optional<ModelType> find_model_type(const std::string& name) {
  for (const auto& entry : kModelTypes)
    if (name == entry.name) return entry.type;
  return std::nullopt;
}

const std::vector<std::string>& supported_model_types() {
  static const std::vector<std::string> names = [] {
    std::vector<std::string> out;
    for (const auto& entry : kModelTypes) out.emplace_back(entry.name);
    return out;
  }();
  return names;
}

bool is_llava_family(ModelType type) { return type == ModelType::kLlava || type == ModelType::kLlavaNext; }
bool is_qwen_vl_family(ModelType type) { return type == ModelType::kQwen2Vl || type == ModelType::kQwen2_5Vl; }
bool is_vision_language(ModelType type) { return is_llava_family(type) || is_qwen_vl_family(type); }

ClipVisionConfig llava_default_clip_vision() {
  ClipVisionConfig clip;
  clip.intermediate_size = 4096;
  clip.hidden_size = 1024;
  clip.patch_size = 14;
  clip.image_size = 336;
  clip.num_hidden_layers = 24;
  clip.num_attention_heads = 16;
  clip.projection_dim = 768;
  return clip;
}

QwenVisionConfig qwen2_vl_default_vision() {
  QwenVisionConfig vision;
  vision.variant = "qwen2_vl";
  vision.depth = 32;
  vision.hidden_size = 1280;  // embed_dim
  vision.mlp_ratio = 4.0;
  vision.intermediate_size = 1280 * 4;
  vision.num_heads = 16;
  vision.out_hidden_size = 3584;  // hidden_size
  vision.hidden_act = "quick_gelu";
  // Window attention does not exist in Qwen2-VL: every block attends over the whole image.
  vision.window_size = 0;
  vision.fullatt_block_indexes.clear();
  vision.tokens_per_second = 0;
  return vision;
}

std::vector<std::vector<int64_t>> llava_next_default_pinpoints() {
  return {{336, 672}, {672, 336}, {672, 672}, {1008, 336}, {336, 1008}};
}

bool RopeScaling::operator==(const RopeScaling& o) const {
  return type == o.type && factor == o.factor && low_freq_factor == o.low_freq_factor &&
         high_freq_factor == o.high_freq_factor &&
         original_max_position_embeddings == o.original_max_position_embeddings && beta_fast == o.beta_fast &&
         beta_slow == o.beta_slow && mscale == o.mscale && mscale_all_dim == o.mscale_all_dim &&
         attention_factor == o.attention_factor && mrope_section == o.mrope_section;
}

bool TextConfig::operator==(const TextConfig& o) const {
  return model_type == o.model_type && vocab_size == o.vocab_size && hidden_size == o.hidden_size &&
         intermediate_size == o.intermediate_size && num_hidden_layers == o.num_hidden_layers &&
         num_attention_heads == o.num_attention_heads && num_key_value_heads == o.num_key_value_heads &&
         head_dim == o.head_dim && rms_norm_eps == o.rms_norm_eps && rope_theta == o.rope_theta &&
         rope_scaling == o.rope_scaling && max_position_embeddings == o.max_position_embeddings &&
         tie_word_embeddings == o.tie_word_embeddings && qkv_bias == o.qkv_bias && o_proj_bias == o.o_proj_bias &&
         mlp_bias == o.mlp_bias && hidden_act == o.hidden_act && bos_token_id == o.bos_token_id &&
         pad_token_id == o.pad_token_id && eos_token_ids == o.eos_token_ids;
}

bool ClipVisionConfig::operator==(const ClipVisionConfig& o) const {
  return hidden_size == o.hidden_size && intermediate_size == o.intermediate_size &&
         num_hidden_layers == o.num_hidden_layers && num_attention_heads == o.num_attention_heads &&
         image_size == o.image_size && patch_size == o.patch_size && num_channels == o.num_channels &&
         projection_dim == o.projection_dim && layer_norm_eps == o.layer_norm_eps && hidden_act == o.hidden_act;
}

bool QwenVisionConfig::operator==(const QwenVisionConfig& o) const {
  return variant == o.variant && depth == o.depth && hidden_size == o.hidden_size &&
         intermediate_size == o.intermediate_size && num_heads == o.num_heads && in_channels == o.in_channels &&
         patch_size == o.patch_size && spatial_merge_size == o.spatial_merge_size &&
         temporal_patch_size == o.temporal_patch_size && out_hidden_size == o.out_hidden_size &&
         hidden_act == o.hidden_act && window_size == o.window_size &&
         fullatt_block_indexes == o.fullatt_block_indexes && tokens_per_second == o.tokens_per_second &&
         mlp_ratio == o.mlp_ratio;
}

bool LlavaFields::operator==(const LlavaFields& o) const {
  return image_token_index == o.image_token_index && projector_hidden_act == o.projector_hidden_act &&
         vision_feature_layers == o.vision_feature_layers &&
         vision_feature_layer_is_list == o.vision_feature_layer_is_list &&
         vision_feature_select_strategy == o.vision_feature_select_strategy &&
         multimodal_projector_bias == o.multimodal_projector_bias && image_seq_length == o.image_seq_length &&
         tie_word_embeddings == o.tie_word_embeddings && pad_token_id == o.pad_token_id &&
         image_grid_pinpoints == o.image_grid_pinpoints;
}

bool QwenVlFields::operator==(const QwenVlFields& o) const {
  return image_token_id == o.image_token_id && video_token_id == o.video_token_id &&
         vision_start_token_id == o.vision_start_token_id && vision_end_token_id == o.vision_end_token_id &&
         vision_token_id == o.vision_token_id;
}

bool DeepseekV3Fields::operator==(const DeepseekV3Fields& o) const {
  return q_lora_rank == o.q_lora_rank && kv_lora_rank == o.kv_lora_rank && qk_rope_head_dim == o.qk_rope_head_dim &&
         qk_nope_head_dim == o.qk_nope_head_dim && v_head_dim == o.v_head_dim &&
         moe_intermediate_size == o.moe_intermediate_size && n_routed_experts == o.n_routed_experts &&
         n_shared_experts == o.n_shared_experts && num_experts_per_tok == o.num_experts_per_tok &&
         first_k_dense_replace == o.first_k_dense_replace && moe_layer_freq == o.moe_layer_freq &&
         n_group == o.n_group && topk_group == o.topk_group && routed_scaling_factor == o.routed_scaling_factor &&
         norm_topk_prob == o.norm_topk_prob && scoring_func == o.scoring_func && topk_method == o.topk_method &&
         num_nextn_predict_layers == o.num_nextn_predict_layers && rope_interleave == o.rope_interleave;
}

bool HfConfig::ties_word_embeddings() const {
  // LlavaConfig forwards text_config's tie_word_embeddings when its own is false.
  if (is_llava_family(model_type)) return llava.tie_word_embeddings.value_or(false) || text.tie_word_embeddings;
  return text.tie_word_embeddings;
}

bool HfConfig::operator==(const HfConfig& o) const {
  if (model_type != o.model_type || text != o.text || clip_vision != o.clip_vision || qwen_vision != o.qwen_vision ||
      torch_dtype != o.torch_dtype)
    return false;
  if (is_llava_family(model_type) && llava != o.llava) return false;
  if (is_qwen_vl_family(model_type) && (qwen_vl != o.qwen_vl || text_nested != o.text_nested)) return false;
  if (model_type == ModelType::kDeepseekV3 && deepseek != o.deepseek) return false;
  return true;
}

// ---------------------------------------------------------------------------------------------------------
// Validation

namespace {

// Where the text keys live in the file, for messages.
std::string text_key(const HfConfig& c, const char* key) {
  bool nested = is_llava_family(c.model_type) || (is_qwen_vl_family(c.model_type) && c.text_nested);
  return nested ? std::string("text_config.") + key : std::string(key);
}

void require_positive(const HfConfig& c, const std::string& key, double value) {
  if (!(value > 0)) fail("{}: key '{}' must be positive, found {}", c.source, key, value);
}

void validate_rope(const HfConfig& c) {
  const TextConfig& t = c.text;
  const RopeScaling& rope = t.rope_scaling;
  const std::string where = text_key(c, "rope_scaling");
  require_positive(c, text_key(c, "rope_theta"), t.rope_theta);
  auto need = [&](bool present, const char* field) {
    if (!present)
      fail("{}: rope type '{}' needs '{}.{}' (transformers' rope_config_validation requires it)", c.source, rope.type,
           where, field);
  };
  if (rope.type == "linear" || rope.type == "dynamic" || rope.type == "yarn") need(rope.factor.has_value(), "factor");
  if (rope.type == "llama3") {
    need(rope.factor.has_value(), "factor");
    need(rope.low_freq_factor.has_value(), "low_freq_factor");
    need(rope.high_freq_factor.has_value(), "high_freq_factor");
    need(rope.original_max_position_embeddings.has_value(), "original_max_position_embeddings");
  }
  if (rope.factor) require_positive(c, where + ".factor", *rope.factor);

  const bool wants_mrope = is_qwen_vl_family(c.model_type);
  if (wants_mrope && rope.type != "mrope")
    fail_with_hint(
        "Qwen2-VL / Qwen2.5-VL files carry \"rope_scaling\": {\"type\": \"mrope\", \"mrope_section\": "
        "[16, 24, 24]} (or the same inside rope_parameters)",
        "{}: model_type {} uses M-RoPE but '{}' has rope type '{}' and no mrope_section", c.source,
        model_type_name(c.model_type), where, rope.type);
  if (!wants_mrope && rope.type == "mrope")
    fail("{}: '{}' asks for M-RoPE (mrope_section), which only qwen2_vl and qwen2_5_vl use; model_type is {}", c.source,
         where, model_type_name(c.model_type));
  if (rope.type == "mrope") {
    int64_t sum = 0;
    for (int64_t s : rope.mrope_section) {
      if (s <= 0) fail("{}: '{}.mrope_section' entries must be positive, found {}", c.source, where, s);
      sum += s;
    }
    if (rope.mrope_section.size() != 3)
      fail("{}: '{}.mrope_section' must have 3 entries (temporal, height, width), found {}", c.source, where,
           rope.mrope_section.size());
    if (t.head_dim % 2 != 0 || sum != t.head_dim / 2)
      fail_with_hint("the sections split the head's rotary frequency pairs between time, height and width",
                     "{}: '{}.mrope_section' sums to {} but head_dim / 2 = {} / 2 = {}", c.source, where, sum,
                     t.head_dim, t.head_dim / 2.0);
  }
}

void validate_text(const HfConfig& c) {
  const TextConfig& t = c.text;
  require_positive(c, text_key(c, "vocab_size"), t.vocab_size);
  require_positive(c, text_key(c, "hidden_size"), t.hidden_size);
  require_positive(c, text_key(c, "intermediate_size"), t.intermediate_size);
  require_positive(c, text_key(c, "num_hidden_layers"), t.num_hidden_layers);
  require_positive(c, text_key(c, "num_attention_heads"), t.num_attention_heads);
  require_positive(c, text_key(c, "num_key_value_heads"), t.num_key_value_heads);
  require_positive(c, text_key(c, "head_dim"), t.head_dim);
  require_positive(c, text_key(c, "rms_norm_eps"), t.rms_norm_eps);
  require_positive(c, text_key(c, "max_position_embeddings"), t.max_position_embeddings);
  if (t.num_attention_heads % t.num_key_value_heads != 0)
    fail_with_hint("each key/value head must serve the same number of query heads",
                   "{}: num_attention_heads = {} is not divisible by num_key_value_heads = {} (key '{}')", c.source,
                   t.num_attention_heads, t.num_key_value_heads, text_key(c, "num_key_value_heads"));
  validate_rope(c);
}

void validate_clip(const HfConfig& c, const ClipVisionConfig& v) {
  auto key = [](const char* k) { return std::string("vision_config.") + k; };
  require_positive(c, key("hidden_size"), v.hidden_size);
  require_positive(c, key("intermediate_size"), v.intermediate_size);
  require_positive(c, key("num_hidden_layers"), v.num_hidden_layers);
  require_positive(c, key("num_attention_heads"), v.num_attention_heads);
  require_positive(c, key("image_size"), v.image_size);
  require_positive(c, key("patch_size"), v.patch_size);
  require_positive(c, key("num_channels"), v.num_channels);
  require_positive(c, key("layer_norm_eps"), v.layer_norm_eps);
  if (v.hidden_size % v.num_attention_heads != 0)
    fail("{}: vision_config.hidden_size = {} is not divisible by vision_config.num_attention_heads = {}", c.source,
         v.hidden_size, v.num_attention_heads);
  if (v.image_size < v.patch_size)
    fail("{}: vision_config.image_size = {} is smaller than vision_config.patch_size = {}", c.source, v.image_size,
         v.patch_size);

  const LlavaFields& l = c.llava;
  if (l.vision_feature_select_strategy != "default" && l.vision_feature_select_strategy != "full")
    fail("{}: key 'vision_feature_select_strategy' must be \"default\" or \"full\", found \"{}\"", c.source,
         l.vision_feature_select_strategy);
  if (l.vision_feature_layers.empty()) fail("{}: key 'vision_feature_layer' must not be an empty list", c.source);
  // The tower returns num_hidden_layers + 1 hidden states (embeddings first); Python indexing allows negatives.
  const int64_t states = v.num_hidden_layers + 1;
  for (int64_t layer : l.vision_feature_layers)
    if (layer < -states || layer >= states)
      fail(
          "{}: key 'vision_feature_layer' = {} is outside the {} hidden states of a {}-layer vision tower "
          "(expected {}..{})",
          c.source, layer, states, v.num_hidden_layers, -states, states - 1);
  require_positive(c, "image_seq_length", l.image_seq_length);
  if (c.model_type == ModelType::kLlavaNext) {
    if (l.image_grid_pinpoints.empty()) fail("{}: key 'image_grid_pinpoints' must not be empty", c.source);
    for (const auto& pair : l.image_grid_pinpoints)
      if (pair.size() != 2 || pair[0] <= 0 || pair[1] <= 0)
        fail("{}: key 'image_grid_pinpoints' must hold positive [height, width] pairs", c.source);
  }
}

void validate_qwen_vision(const HfConfig& c, const QwenVisionConfig& v) {
  auto key = [](const char* k) { return std::string("vision_config.") + k; };
  require_positive(c, key("depth"), v.depth);
  require_positive(c, key(v.variant == "qwen2_vl" ? "embed_dim" : "hidden_size"), v.hidden_size);
  require_positive(c, key("intermediate_size"), v.intermediate_size);
  require_positive(c, key("num_heads"), v.num_heads);
  require_positive(c, key("in_channels"), v.in_channels);
  require_positive(c, key("patch_size"), v.patch_size);
  require_positive(c, key("spatial_merge_size"), v.spatial_merge_size);
  require_positive(c, key("temporal_patch_size"), v.temporal_patch_size);
  if (v.hidden_size % v.num_heads != 0)
    fail("{}: the vision width {} is not divisible by vision_config.num_heads = {}", c.source, v.hidden_size,
         v.num_heads);
  if (v.out_hidden_size != c.text.hidden_size)
    fail_with_hint("the patch merger projects vision features into the LLM's embedding space",
                   "{}: the vision merger's output width {} (vision_config.{}) differs from the LLM's hidden_size {}",
                   c.source, v.out_hidden_size, v.variant == "qwen2_vl" ? "hidden_size" : "out_hidden_size",
                   c.text.hidden_size);
  if (v.variant == "qwen2_5_vl") {
    if (v.window_size < v.patch_size * v.spatial_merge_size)
      fail("{}: vision_config.window_size = {} is smaller than one merged patch ({} px)", c.source, v.window_size,
           v.patch_size * v.spatial_merge_size);
    for (int64_t index : v.fullatt_block_indexes)
      if (index < 0 || index >= v.depth)
        fail("{}: vision_config.fullatt_block_indexes has {}, outside the {} blocks", c.source, index, v.depth);
  } else if (v.variant == "qwen2_vl") {
    if (static_cast<int64_t>(static_cast<double>(v.hidden_size) * v.mlp_ratio) != v.intermediate_size)
      fail("{}: vision intermediate_size {} is not embed_dim * mlp_ratio = {} * {}", c.source, v.intermediate_size,
           v.hidden_size, v.mlp_ratio);
  } else {
    MHA2MLA_CHECK(false, "unknown Qwen vision variant '{}'", v.variant);
  }
}

void validate_deepseek(const HfConfig& c) {
  const DeepseekV3Fields& d = c.deepseek;
  if (d.q_lora_rank) require_positive(c, "q_lora_rank", static_cast<double>(*d.q_lora_rank));
  require_positive(c, "kv_lora_rank", d.kv_lora_rank);
  require_positive(c, "qk_rope_head_dim", d.qk_rope_head_dim);
  require_positive(c, "v_head_dim", d.v_head_dim);
  if (d.qk_nope_head_dim < 0) fail("{}: key 'qk_nope_head_dim' must be >= 0, found {}", c.source, d.qk_nope_head_dim);
  if (d.qk_rope_head_dim % 2 != 0)
    fail("{}: key 'qk_rope_head_dim' must be even (rotary pairs), found {}", c.source, d.qk_rope_head_dim);
  if (c.text.head_dim != d.qk_nope_head_dim + d.qk_rope_head_dim)
    fail("{}: head_dim {} must equal qk_nope_head_dim + qk_rope_head_dim = {} + {}", c.source, c.text.head_dim,
         d.qk_nope_head_dim, d.qk_rope_head_dim);
  require_positive(c, "moe_layer_freq", d.moe_layer_freq);
}

}  // namespace

void validate(const HfConfig& c) {
  if (c.source.empty()) {  // built in code: give the messages a name to start with
    HfConfig named = c;
    named.source = "config built in code";
    validate(named);
    return;
  }
  validate_text(c);
  if (is_llava_family(c.model_type)) {
    if (!c.clip_vision) fail("{}: model_type {} needs a CLIP vision config", c.source, model_type_name(c.model_type));
    validate_clip(c, *c.clip_vision);
  }
  if (is_qwen_vl_family(c.model_type)) {
    if (!c.qwen_vision) fail("{}: model_type {} needs a vision config", c.source, model_type_name(c.model_type));
    validate_qwen_vision(c, *c.qwen_vision);
  }
  if (c.model_type == ModelType::kDeepseekV3) validate_deepseek(c);
}

// ---------------------------------------------------------------------------------------------------------
// Files

HfConfig parse_hf_config_text(const std::string& text, const std::string& source) {
  nlohmann::json document;
  try {
    document = nlohmann::json::parse(text);
  } catch (const nlohmann::json::parse_error& e) {
    fail("{}: not valid JSON at byte {}: {}", source, e.byte, e.what());
  }
  return parse_hf_config(document, source);
}

HfConfig load_hf_config(const std::string& path) {
  std::string file = directory_exists(path) ? path_join(path, "config.json") : path;
  if (!file_exists(file))
    fail_with_hint("a Hugging Face checkpoint folder holds config.json next to its *.safetensors",
                   "config file '{}' does not exist", file);
  return parse_hf_config_text(read_file(file), file);
}

std::string to_json_string(const HfConfig& config) { return to_json(config).dump(2) + "\n"; }

void save_hf_config(const HfConfig& config, const std::string& path) {
  write_file_atomic(path, to_json_string(config));
}

}  // namespace mha2mla::hf
