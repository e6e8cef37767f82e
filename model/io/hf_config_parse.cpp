// config.json -> HfConfig, filling absent keys the way the transformers class that reads them would.
// Defaults below are the constructor arguments of LlamaConfig, Qwen2Config, Qwen2_5_VLTextConfig,
// Qwen2VLConfig, DeepseekV3Config, CLIPVisionConfig, Qwen2_5_VLVisionConfig, Qwen2VLVisionConfig,
// LlavaConfig, LlavaNextConfig and Qwen2_5_VLConfig.
#include <algorithm>

#include <nlohmann/json.hpp>

#include "common/error.h"
#include "common/strings.h"
#include "model/io/hf_config.h"
#include "model/io/json_reader.h"

namespace mha2mla::hf {

namespace {

// Class defaults of one text model family.
struct TextDefaults {
  const char* model_type;
  int64_t vocab_size, hidden_size, intermediate_size, num_hidden_layers, num_attention_heads;
  // num_key_value_heads when the key is absent; 0 = num_attention_heads. An explicit null always means
  // num_attention_heads (the classes' "for backward compatibility" branch).
  int64_t num_key_value_heads;
  int64_t max_position_embeddings;
  double rms_norm_eps, rope_theta;
  std::optional<int64_t> bos_token_id, eos_token_id;
};

const TextDefaults kLlama{"llama", 32000, 4096, 11008, 32, 32, 0, 2048, 1e-6, 10000.0, 1, 2};
const TextDefaults kQwen2{"qwen2", 151936, 4096, 22016, 32, 32, 32, 32768, 1e-6, 10000.0, std::nullopt, std::nullopt};
const TextDefaults kQwen25VlText{"qwen2_5_vl_text", 152064,       8192,        29568, 80, 64, 8, 32768, 1e-5,
                                 1000000.0,         std::nullopt, std::nullopt};
const TextDefaults kQwen2VlText{"qwen2_vl_text", 152064, 8192,      29568,        80,          64, 8,
                                32768,           1e-5,   1000000.0, std::nullopt, std::nullopt};
const TextDefaults kDeepseekV3{"deepseek_v3", 129280, 7168, 18432, 61, 128, 128, 4096, 1e-6, 10000.0, 0, 1};

const nlohmann::json& empty_object() {
  static const nlohmann::json empty = nlohmann::json::object();
  return empty;
}

bool is_qwen_text(const TextDefaults& d) {
  return d.model_type != kLlama.model_type && d.model_type != kDeepseekV3.model_type;
}

// The keys every published top-level LLM config.json carries. A file without them is not an HF config,
// even though the Python classes would quietly fill in a 7B model's sizes.
constexpr const char* kRequiredTopLevelTextKeys[] = {"vocab_size", "hidden_size", "intermediate_size",
                                                     "num_hidden_layers", "num_attention_heads"};

const std::vector<std::string> kRopeTypes = {"default", "linear", "dynamic", "llama3", "yarn", "mrope"};

// rope_theta and the scaling dict. Older files: top-level rope_theta + rope_scaling (null or a dict with
// "type" or "rope_type"). transformers v5 files: rope_parameters {"rope_type", "rope_theta", ...}.
// As in the v5 classes, rope_scaling wins over rope_parameters when both are present.
void parse_rope(const JsonReader& r, const TextDefaults& d, TextConfig& t) {
  std::optional<JsonReader> dict = r.object("rope_scaling");
  if (!dict) dict = r.object("rope_parameters");
  t.rope_theta = r.number_or("rope_theta", d.rope_theta);
  RopeScaling& rope = t.rope_scaling;
  rope = RopeScaling{};
  if (!dict) return;

  const JsonReader& s = *dict;
  if (!s.contains("rope_type") && !s.contains("type") && !s.contains("rope_theta") && !s.document().empty() &&
      s.document().begin()->is_object())
    fail("{}: key '{}' holds per-layer-type RoPE parameters, which none of the supported models use", r.file(),
         s.key_path(s.document().begin().key().c_str()));
  if (auto theta = s.optional_number("rope_theta")) t.rope_theta = *theta;
  rope.type = s.string_or("rope_type", s.string_or("type", "default"));
  rope.mrope_section = s.int_list("mrope_section");
  // Qwen-VL: transformers rewrites "mrope" to "default" and keys M-RoPE on mrope_section alone; files saved
  // by transformers >= 4.52 therefore say {"rope_type": "default", "mrope_section": [...]}.
  if (rope.type == "mrope" || (rope.type == "default" && !rope.mrope_section.empty())) rope.type = "mrope";
  if (!rope.mrope_section.empty() && rope.type != "mrope")
    s.fail_key("mrope_section", "is given with rope type '" + rope.type + "'; M-RoPE combines only with default");
  if (std::find(kRopeTypes.begin(), kRopeTypes.end(), rope.type) == kRopeTypes.end())
    s.fail_key(s.contains("rope_type") ? "rope_type" : "type",
               fmt::format("is '{}', which is not supported; supported: {}", rope.type, join(kRopeTypes, ", ")));
  rope.factor = s.optional_number("factor");
  rope.low_freq_factor = s.optional_number("low_freq_factor");
  rope.high_freq_factor = s.optional_number("high_freq_factor");
  rope.original_max_position_embeddings = s.optional_int("original_max_position_embeddings");
  rope.beta_fast = s.optional_number("beta_fast");
  rope.beta_slow = s.optional_number("beta_slow");
  rope.mscale = s.optional_number("mscale");
  rope.mscale_all_dim = s.optional_number("mscale_all_dim");
  rope.attention_factor = s.optional_number("attention_factor");
}

// The decoder fields of `r` (the top level, or a text_config). `top_level`: the file's own LLM keys, which
// must be present; a nested text_config is completed from the class defaults instead.
TextConfig parse_text(const JsonReader& r, const TextDefaults& d, bool top_level, const std::string& context) {
  if (top_level)
    for (const char* key : kRequiredTopLevelTextKeys)
      if (!r.has(key)) r.fail_missing(key, context);

  TextConfig t;
  t.model_type = d.model_type;
  t.vocab_size = r.int_or("vocab_size", d.vocab_size);
  t.hidden_size = r.int_or("hidden_size", d.hidden_size);
  t.intermediate_size = r.int_or("intermediate_size", d.intermediate_size);
  t.num_hidden_layers = r.int_or("num_hidden_layers", d.num_hidden_layers);
  t.num_attention_heads = r.int_or("num_attention_heads", d.num_attention_heads);
  if (r.is_null("num_key_value_heads"))
    t.num_key_value_heads = t.num_attention_heads;
  else
    t.num_key_value_heads =
        r.int_or("num_key_value_heads", d.num_key_value_heads ? d.num_key_value_heads : t.num_attention_heads);
  if (t.num_attention_heads <= 0)
    r.fail_key("num_attention_heads", fmt::format("must be positive, found {}", t.num_attention_heads));
  if (t.num_key_value_heads <= 0)
    r.fail_key("num_key_value_heads", fmt::format("must be positive, found {}", t.num_key_value_heads));
  if (t.num_attention_heads % t.num_key_value_heads != 0)
    r.fail_key("num_key_value_heads",
               fmt::format("= {} does not divide num_attention_heads = {}; each key/value head must serve the same "
                           "number of query heads",
                           t.num_key_value_heads, t.num_attention_heads));

  const std::optional<int64_t> explicit_head_dim = r.optional_int("head_dim");
  const bool divisible = t.hidden_size % t.num_attention_heads == 0;
  if (d.model_type == kDeepseekV3.model_type) {
    t.head_dim = 0;  // set from qk_nope_head_dim + qk_rope_head_dim by the caller
  } else if (explicit_head_dim && (d.model_type == kLlama.model_type || d.model_type == kQwen2.model_type)) {
    t.head_dim = *explicit_head_dim;  // LlamaConfig.head_dim; Qwen2Attention reads getattr(config, "head_dim")
  } else {
    if (!divisible)
      r.fail_key("hidden_size",
                 fmt::format("= {} is not divisible by num_attention_heads = {}, and there is no head_dim to say "
                             "the per-head width",
                             t.hidden_size, t.num_attention_heads));
    t.head_dim = t.hidden_size / t.num_attention_heads;
    // The Qwen-VL attention computes hidden_size / heads and never looks at head_dim.
    if (explicit_head_dim && *explicit_head_dim != t.head_dim)
      r.fail_key("head_dim", fmt::format("= {} but {} computes hidden_size / num_attention_heads = {} and ignores it",
                                         *explicit_head_dim, d.model_type, t.head_dim));
  }

  t.rms_norm_eps = r.number_or("rms_norm_eps", d.rms_norm_eps);
  parse_rope(r, d, t);
  t.max_position_embeddings = r.int_or("max_position_embeddings", d.max_position_embeddings);
  t.tie_word_embeddings = r.bool_or("tie_word_embeddings", false);
  t.hidden_act = r.string_or("hidden_act", "silu");
  if (is_qwen_text(d)) {
    t.qkv_bias = true;
    t.o_proj_bias = false;
    t.mlp_bias = false;
  } else {
    t.qkv_bias = t.o_proj_bias = r.bool_or("attention_bias", false);
    t.mlp_bias = d.model_type == kLlama.model_type && r.bool_or("mlp_bias", false);
  }

  // Absent ids take the class default, an explicit null means "none".
  t.bos_token_id = r.contains("bos_token_id") ? r.optional_int("bos_token_id") : d.bos_token_id;
  t.pad_token_id = r.optional_int("pad_token_id");
  if (r.contains("eos_token_id"))
    t.eos_token_ids = r.int_or_int_list("eos_token_id");
  else if (d.eos_token_id)
    t.eos_token_ids = {*d.eos_token_id};

  if (is_qwen_text(d) && r.bool_or("use_sliding_window", false)) {
    // Qwen2 slides the window only in layers >= max_window_layers.
    int64_t max_window_layers = r.int_or("max_window_layers", d.model_type == kQwen2.model_type ? 28 : 80);
    bool has_window = !r.is_null("sliding_window");
    if (has_window && max_window_layers < t.num_hidden_layers)
      r.fail_key("use_sliding_window",
                 fmt::format("is true, so layers {}..{} would use sliding-window attention, which is not supported",
                             max_window_layers, t.num_hidden_layers - 1));
  }
  return t;
}

const TextDefaults& llava_text_defaults(const JsonReader& text_config) {
  std::string type = text_config.string_or("model_type", "llama");
  if (type == "llama") return kLlama;
  if (type == "qwen2") return kQwen2;
  text_config.fail_key("model_type", fmt::format("is '{}'; supported LLaVA language models: llama, qwen2", type));
}

ClipVisionConfig parse_clip(const JsonReader& r) {
  std::string type = r.string_or("model_type", "clip_vision_model");
  if (type != "clip_vision_model")
    r.fail_key("model_type", fmt::format("is '{}'; the supported LLaVA vision tower is clip_vision_model", type));
  ClipVisionConfig c;
  c.hidden_size = r.int_or("hidden_size", c.hidden_size);
  c.intermediate_size = r.int_or("intermediate_size", c.intermediate_size);
  c.num_hidden_layers = r.int_or("num_hidden_layers", c.num_hidden_layers);
  c.num_attention_heads = r.int_or("num_attention_heads", c.num_attention_heads);
  c.image_size = r.int_or("image_size", c.image_size);
  c.patch_size = r.int_or("patch_size", c.patch_size);
  c.num_channels = r.int_or("num_channels", c.num_channels);
  c.projection_dim = r.int_or("projection_dim", c.projection_dim);
  c.layer_norm_eps = r.number_or("layer_norm_eps", c.layer_norm_eps);
  c.hidden_act = r.string_or("hidden_act", c.hidden_act);
  return c;
}

// The hub files say "in_chans" (the original Qwen code's name); the transformers classes read
// "in_channels" and default it to 3. Both are 3 in every published file; take in_channels, else in_chans.
int64_t parse_in_channels(const JsonReader& r) {
  std::optional<int64_t> channels = r.optional_int("in_channels");
  std::optional<int64_t> chans = r.optional_int("in_chans");
  if (channels && chans && *channels != *chans)
    r.fail_key("in_channels", fmt::format("= {} disagrees with in_chans = {}", *channels, *chans));
  return channels ? *channels : chans.value_or(3);
}

QwenVisionConfig parse_qwen2_5_vision(const JsonReader& r) {
  QwenVisionConfig v;  // member defaults are Qwen2_5_VLVisionConfig's
  v.depth = r.int_or("depth", v.depth);
  v.hidden_size = r.int_or("hidden_size", v.hidden_size);
  v.intermediate_size = r.int_or("intermediate_size", v.intermediate_size);
  v.num_heads = r.int_or("num_heads", v.num_heads);
  v.in_channels = parse_in_channels(r);
  v.patch_size = r.int_or("patch_size", v.patch_size);
  v.spatial_merge_size = r.int_or("spatial_merge_size", v.spatial_merge_size);
  v.temporal_patch_size = r.int_or("temporal_patch_size", v.temporal_patch_size);
  v.out_hidden_size = r.int_or("out_hidden_size", v.out_hidden_size);
  v.hidden_act = r.string_or("hidden_act", v.hidden_act);
  v.window_size = r.int_or("window_size", v.window_size);
  if (r.has("fullatt_block_indexes")) v.fullatt_block_indexes = r.int_list("fullatt_block_indexes");
  v.tokens_per_second = r.int_or("tokens_per_second", v.tokens_per_second);
  return v;
}

QwenVisionConfig parse_qwen2_vision(const JsonReader& r) {
  QwenVisionConfig v = qwen2_vl_default_vision();
  v.depth = r.int_or("depth", v.depth);
  v.hidden_size = r.int_or("embed_dim", v.hidden_size);
  v.out_hidden_size = r.int_or("hidden_size", v.out_hidden_size);
  v.hidden_act = r.string_or("hidden_act", v.hidden_act);
  v.mlp_ratio = r.number_or("mlp_ratio", v.mlp_ratio);
  v.intermediate_size = static_cast<int64_t>(static_cast<double>(v.hidden_size) * v.mlp_ratio);
  v.num_heads = r.int_or("num_heads", v.num_heads);
  v.in_channels = parse_in_channels(r);
  v.patch_size = r.int_or("patch_size", v.patch_size);
  v.spatial_merge_size = r.int_or("spatial_merge_size", v.spatial_merge_size);
  v.temporal_patch_size = r.int_or("temporal_patch_size", v.temporal_patch_size);
  return v;
}

void parse_llava(const JsonReader& top, HfConfig& c) {
  const std::string context = std::string("model_type ") + model_type_name(c.model_type);
  if (std::optional<JsonReader> text = top.object("text_config"))
    c.text = parse_text(*text, llava_text_defaults(*text), false, context);
  else  // LlavaConfig: text_config=None gives LlamaConfig()
    c.text = parse_text(JsonReader(empty_object(), top.file(), "text_config"), kLlama, false, context);

  if (std::optional<JsonReader> vision = top.object("vision_config"))
    c.clip_vision = parse_clip(*vision);
  else
    c.clip_vision = llava_default_clip_vision();

  LlavaFields& l = c.llava;
  // attribute_map: a file may spell image_token_index as image_token_id.
  l.image_token_index = top.int_or("image_token_index", top.int_or("image_token_id", l.image_token_index));
  l.projector_hidden_act = top.string_or("projector_hidden_act", l.projector_hidden_act);
  if (top.has("vision_feature_layer"))
    l.vision_feature_layers = top.int_or_int_list("vision_feature_layer", &l.vision_feature_layer_is_list);
  l.vision_feature_select_strategy = top.string_or("vision_feature_select_strategy", l.vision_feature_select_strategy);
  l.multimodal_projector_bias = top.bool_or("multimodal_projector_bias", l.multimodal_projector_bias);
  l.image_seq_length = top.int_or("image_seq_length", l.image_seq_length);
  l.tie_word_embeddings = top.optional_bool("tie_word_embeddings");
  l.pad_token_id = top.optional_int("pad_token_id");
  if (c.model_type == ModelType::kLlavaNext)
    l.image_grid_pinpoints =
        top.has("image_grid_pinpoints") ? top.int_pairs("image_grid_pinpoints") : llava_next_default_pinpoints();
}

void parse_qwen_vl(const JsonReader& top, HfConfig& c) {
  const bool v2_5 = c.model_type == ModelType::kQwen2_5Vl;
  const TextDefaults& defaults = v2_5 ? kQwen25VlText : kQwen2VlText;
  const std::string context = std::string("model_type ") + model_type_name(c.model_type) + ", flat text keys";
  // Newer transformers nest the text keys in text_config (and keep a flat copy); the class then reads
  // text_config alone. Older files have only the flat keys, which the class passes to its text config.
  if (std::optional<JsonReader> text = top.object("text_config")) {
    c.text_nested = true;
    c.text = parse_text(*text, defaults, false, context);
  } else {
    c.text = parse_text(top, defaults, true, context);
  }
  if (std::optional<JsonReader> vision = top.object("vision_config"))
    c.qwen_vision = v2_5 ? parse_qwen2_5_vision(*vision) : parse_qwen2_vision(*vision);
  else
    c.qwen_vision = v2_5 ? QwenVisionConfig{} : qwen2_vl_default_vision();

  QwenVlFields& q = c.qwen_vl;
  q.image_token_id = top.int_or("image_token_id", q.image_token_id);
  q.video_token_id = top.int_or("video_token_id", q.video_token_id);
  q.vision_start_token_id = top.int_or("vision_start_token_id", q.vision_start_token_id);
  q.vision_end_token_id = top.int_or("vision_end_token_id", q.vision_end_token_id);
  q.vision_token_id = top.optional_int("vision_token_id");
}

void parse_deepseek(const JsonReader& top, HfConfig& c) {
  c.text = parse_text(top, kDeepseekV3, true, "model_type deepseek_v3");
  DeepseekV3Fields& d = c.deepseek;
  // Absent: DeepseekV3Config's 1536; null: no query compression.
  d.q_lora_rank = top.contains("q_lora_rank") ? top.optional_int("q_lora_rank") : d.q_lora_rank;
  d.kv_lora_rank = top.int_or("kv_lora_rank", d.kv_lora_rank);
  d.qk_rope_head_dim = top.int_or("qk_rope_head_dim", d.qk_rope_head_dim);
  d.qk_nope_head_dim = top.int_or("qk_nope_head_dim", d.qk_nope_head_dim);
  d.v_head_dim = top.int_or("v_head_dim", d.v_head_dim);
  d.moe_intermediate_size = top.int_or("moe_intermediate_size", d.moe_intermediate_size);
  d.n_routed_experts = top.int_or("n_routed_experts", d.n_routed_experts);
  d.n_shared_experts = top.int_or("n_shared_experts", d.n_shared_experts);
  d.num_experts_per_tok = top.int_or("num_experts_per_tok", d.num_experts_per_tok);
  d.first_k_dense_replace = top.int_or("first_k_dense_replace", d.first_k_dense_replace);
  d.moe_layer_freq = top.int_or("moe_layer_freq", d.moe_layer_freq);
  d.n_group = top.int_or("n_group", d.n_group);
  d.topk_group = top.int_or("topk_group", d.topk_group);
  d.routed_scaling_factor = top.number_or("routed_scaling_factor", d.routed_scaling_factor);
  d.norm_topk_prob = top.bool_or("norm_topk_prob", d.norm_topk_prob);
  d.scoring_func = top.string_or("scoring_func", d.scoring_func);
  d.topk_method = top.string_or("topk_method", d.topk_method);
  d.num_nextn_predict_layers = top.optional_int("num_nextn_predict_layers");
  d.rope_interleave = top.optional_bool("rope_interleave");
  c.text.head_dim = d.qk_nope_head_dim + d.qk_rope_head_dim;
}

ModelType parse_model_type(const JsonReader& top) {
  if (!top.has("model_type"))
    fail_with_hint("every Hugging Face config.json names its architecture in model_type",
                   "{}: missing required key 'model_type' (one of: {})", top.file(),
                   join(supported_model_types(), ", "));
  std::string name = top.required_string("model_type");
  if (std::optional<ModelType> type = find_model_type(name)) return *type;
  const auto& names = supported_model_types();
  std::string near = nearest_match(name, names);
  top.fail_key("model_type", fmt::format("is '{}', which is not supported{}; supported: {}", name,
                                         near.empty() ? "" : " (did you mean '" + near + "'?)", join(names, ", ")));
}

}  // namespace

HfConfig parse_hf_config(const nlohmann::json& document, const std::string& source) {
  JsonReader top(document, source);
  HfConfig c;
  c.source = source;
  c.model_type = parse_model_type(top);
  c.torch_dtype = top.string_or("torch_dtype", top.string_or("dtype", ""));
  switch (c.model_type) {
    case ModelType::kLlama:
      c.text = parse_text(top, kLlama, true, "model_type llama");
      break;
    case ModelType::kQwen2:
      c.text = parse_text(top, kQwen2, true, "model_type qwen2");
      break;
    case ModelType::kDeepseekV3:
      parse_deepseek(top, c);
      break;
    case ModelType::kLlava:
    case ModelType::kLlavaNext:
      parse_llava(top, c);
      break;
    case ModelType::kQwen2Vl:
    case ModelType::kQwen2_5Vl:
      parse_qwen_vl(top, c);
      break;
  }
  validate(c);
  c.raw = std::make_shared<const nlohmann::json>(document);
  return c;
}

}  // namespace mha2mla::hf
