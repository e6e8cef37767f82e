// HfConfig -> config.json with the keys transformers reads for each model_type. Every typed field is
// written out (not only those that differ from a class default), so the file means the same thing to
// any transformers version and parse_hf_config(to_json(x)) == x.
#include <nlohmann/json.hpp>

#include "common/error.h"
#include "model/io/hf_config.h"

namespace mha2mla::hf {

namespace {

using nlohmann::json;

json optional_int(const std::optional<int64_t>& value) { return value ? json(*value) : json(nullptr); }

json rope_scaling_json(const RopeScaling& rope) {
  if (rope.type == "default") return nullptr;
  json out = json::object();
  if (rope.type == "mrope") {
    // The hub spelling; every transformers version that knows Qwen-VL reads it.
    out["type"] = "mrope";
    out["mrope_section"] = rope.mrope_section;
    return out;
  }
  // Older transformers and DeepSeek's own code read "type", newer ones "rope_type": write both.
  out["type"] = rope.type;
  out["rope_type"] = rope.type;
  auto put = [&](const char* key, const auto& value) {
    if (value) out[key] = *value;
  };
  put("factor", rope.factor);
  put("low_freq_factor", rope.low_freq_factor);
  put("high_freq_factor", rope.high_freq_factor);
  put("original_max_position_embeddings", rope.original_max_position_embeddings);
  put("beta_fast", rope.beta_fast);
  put("beta_slow", rope.beta_slow);
  put("mscale", rope.mscale);
  put("mscale_all_dim", rope.mscale_all_dim);
  put("attention_factor", rope.attention_factor);
  return out;
}

// The decoder keys shared by every family.
void put_text(json& out, const TextConfig& t, const std::string& source) {
  out["vocab_size"] = t.vocab_size;
  out["hidden_size"] = t.hidden_size;
  out["intermediate_size"] = t.intermediate_size;
  out["num_hidden_layers"] = t.num_hidden_layers;
  out["num_attention_heads"] = t.num_attention_heads;
  out["num_key_value_heads"] = t.num_key_value_heads;
  out["hidden_act"] = t.hidden_act;
  out["max_position_embeddings"] = t.max_position_embeddings;
  out["rms_norm_eps"] = t.rms_norm_eps;
  out["rope_theta"] = t.rope_theta;
  out["rope_scaling"] = rope_scaling_json(t.rope_scaling);
  out["tie_word_embeddings"] = t.tie_word_embeddings;
  out["bos_token_id"] = optional_int(t.bos_token_id);
  out["pad_token_id"] = optional_int(t.pad_token_id);
  if (t.eos_token_ids.empty())
    out["eos_token_id"] = nullptr;
  else if (t.eos_token_ids.size() == 1)
    out["eos_token_id"] = t.eos_token_ids.front();
  else
    out["eos_token_id"] = t.eos_token_ids;

  const bool qwen = t.model_type == "qwen2" || t.model_type == "qwen2_5_vl_text" || t.model_type == "qwen2_vl_text";
  if (qwen) {
    // Qwen2's bias layout is fixed by the architecture, not by a key.
    if (!t.qkv_bias || t.o_proj_bias || t.mlp_bias)
      fail(
          "{}: a {} config cannot express qkv_bias={}, o_proj_bias={}, mlp_bias={}; Qwen2 always has q/k/v "
          "bias and no o_proj or MLP bias",
          source, t.model_type, t.qkv_bias, t.o_proj_bias, t.mlp_bias);
    out["use_sliding_window"] = false;
    // Qwen2Attention reads head_dim when present; the Qwen-VL attention never does.
    if (t.model_type == "qwen2" && t.head_dim * t.num_attention_heads != t.hidden_size) out["head_dim"] = t.head_dim;
    return;
  }
  if (t.qkv_bias != t.o_proj_bias)
    fail("{}: a {} config has one attention_bias for q, k, v and o; cannot write qkv_bias={} with o_proj_bias={}",
         source, t.model_type, t.qkv_bias, t.o_proj_bias);
  out["attention_bias"] = t.qkv_bias;
  if (t.model_type == "llama") {
    out["mlp_bias"] = t.mlp_bias;
    out["head_dim"] = t.head_dim;
  } else if (t.mlp_bias) {
    fail("{}: a {} config cannot express mlp_bias=true", source, t.model_type);
  }
}

json clip_json(const ClipVisionConfig& v) {
  json out = json::object();
  out["model_type"] = "clip_vision_model";
  out["hidden_size"] = v.hidden_size;
  out["intermediate_size"] = v.intermediate_size;
  out["num_hidden_layers"] = v.num_hidden_layers;
  out["num_attention_heads"] = v.num_attention_heads;
  out["image_size"] = v.image_size;
  out["patch_size"] = v.patch_size;
  out["num_channels"] = v.num_channels;
  out["projection_dim"] = v.projection_dim;
  out["layer_norm_eps"] = v.layer_norm_eps;
  out["hidden_act"] = v.hidden_act;
  return out;
}

json qwen_vision_json(const QwenVisionConfig& v) {
  json out = json::object();
  out["model_type"] = v.variant;
  out["depth"] = v.depth;
  out["num_heads"] = v.num_heads;
  // transformers reads in_channels; the original Qwen code (and the hub files) in_chans.
  out["in_channels"] = v.in_channels;
  out["in_chans"] = v.in_channels;
  out["patch_size"] = v.patch_size;
  out["spatial_patch_size"] = v.patch_size;
  out["spatial_merge_size"] = v.spatial_merge_size;
  out["temporal_patch_size"] = v.temporal_patch_size;
  out["hidden_act"] = v.hidden_act;
  if (v.variant == "qwen2_vl") {
    out["embed_dim"] = v.hidden_size;
    out["mlp_ratio"] = v.mlp_ratio;
    out["hidden_size"] = v.out_hidden_size;
    return out;
  }
  out["hidden_size"] = v.hidden_size;
  out["intermediate_size"] = v.intermediate_size;
  out["out_hidden_size"] = v.out_hidden_size;
  out["window_size"] = v.window_size;
  out["fullatt_block_indexes"] = v.fullatt_block_indexes;
  out["tokens_per_second"] = v.tokens_per_second;
  return out;
}

const char* causal_lm_architecture(const std::string& text_model_type) {
  if (text_model_type == "llama") return "LlamaForCausalLM";
  if (text_model_type == "qwen2") return "Qwen2ForCausalLM";
  if (text_model_type == "deepseek_v3") return "DeepseekV3ForCausalLM";
  return "";
}

void put_deepseek(json& out, const DeepseekV3Fields& d) {
  out["q_lora_rank"] = optional_int(d.q_lora_rank);
  out["kv_lora_rank"] = d.kv_lora_rank;
  out["qk_rope_head_dim"] = d.qk_rope_head_dim;
  out["qk_nope_head_dim"] = d.qk_nope_head_dim;
  out["v_head_dim"] = d.v_head_dim;
  out["moe_intermediate_size"] = d.moe_intermediate_size;
  out["n_routed_experts"] = d.n_routed_experts;
  out["n_shared_experts"] = d.n_shared_experts;
  out["num_experts_per_tok"] = d.num_experts_per_tok;
  out["first_k_dense_replace"] = d.first_k_dense_replace;
  out["moe_layer_freq"] = d.moe_layer_freq;
  out["n_group"] = d.n_group;
  out["topk_group"] = d.topk_group;
  out["routed_scaling_factor"] = d.routed_scaling_factor;
  out["norm_topk_prob"] = d.norm_topk_prob;
  out["scoring_func"] = d.scoring_func;
  out["topk_method"] = d.topk_method;
  if (d.num_nextn_predict_layers) out["num_nextn_predict_layers"] = *d.num_nextn_predict_layers;
  if (d.rope_interleave) out["rope_interleave"] = *d.rope_interleave;
}

void put_llava(json& out, const HfConfig& c) {
  const bool next = c.model_type == ModelType::kLlavaNext;
  out["architectures"] = {next ? "LlavaNextForConditionalGeneration" : "LlavaForConditionalGeneration"};
  json text = json::object();
  put_text(text, c.text, c.source);
  text["model_type"] = c.text.model_type;
  text["architectures"] = {causal_lm_architecture(c.text.model_type)};
  out["text_config"] = text;
  out["vision_config"] = clip_json(*c.clip_vision);
  const LlavaFields& l = c.llava;
  out["image_token_index"] = l.image_token_index;
  out["projector_hidden_act"] = l.projector_hidden_act;
  if (l.vision_feature_layer_is_list)
    out["vision_feature_layer"] = l.vision_feature_layers;
  else
    out["vision_feature_layer"] = l.vision_feature_layers.front();
  out["vision_feature_select_strategy"] = l.vision_feature_select_strategy;
  out["multimodal_projector_bias"] = l.multimodal_projector_bias;
  out["image_seq_length"] = l.image_seq_length;
  if (l.tie_word_embeddings) out["tie_word_embeddings"] = *l.tie_word_embeddings;
  if (l.pad_token_id) out["pad_token_id"] = *l.pad_token_id;
  if (next) out["image_grid_pinpoints"] = l.image_grid_pinpoints;
}

void put_qwen_vl(json& out, const HfConfig& c) {
  const bool v2_5 = c.model_type == ModelType::kQwen2_5Vl;
  out["architectures"] = {v2_5 ? "Qwen2_5_VLForConditionalGeneration" : "Qwen2VLForConditionalGeneration"};
  // The flat keys are what transformers < 4.52 reads; newer versions read text_config when present.
  put_text(out, c.text, c.source);
  if (c.text_nested) {
    json text = json::object();
    put_text(text, c.text, c.source);
    text["model_type"] = c.text.model_type;
    out["text_config"] = text;
  }
  out["vision_config"] = qwen_vision_json(*c.qwen_vision);
  const QwenVlFields& q = c.qwen_vl;
  out["image_token_id"] = q.image_token_id;
  out["video_token_id"] = q.video_token_id;
  out["vision_start_token_id"] = q.vision_start_token_id;
  out["vision_end_token_id"] = q.vision_end_token_id;
  if (q.vision_token_id) out["vision_token_id"] = *q.vision_token_id;
}

}  // namespace

nlohmann::json to_json(const HfConfig& c) {
  if (c.source.empty()) {  // built in code: give the messages a name to start with
    HfConfig named = c;
    named.source = "config built in code";
    return to_json(named);
  }
  validate(c);
  json out = json::object();
  out["model_type"] = model_type_name(c.model_type);
  switch (c.model_type) {
    case ModelType::kLlama:
    case ModelType::kQwen2:
    case ModelType::kDeepseekV3: {
      const char* expected = model_type_name(c.model_type);
      if (c.text.model_type != expected)
        fail("{}: model_type {} needs text.model_type \"{}\", found \"{}\"", c.source, expected, expected,
             c.text.model_type);
      out["architectures"] = {causal_lm_architecture(c.text.model_type)};
      put_text(out, c.text, c.source);
      if (c.model_type == ModelType::kDeepseekV3) put_deepseek(out, c.deepseek);
      break;
    }
    case ModelType::kLlava:
    case ModelType::kLlavaNext:
      if (c.text.model_type != "llama" && c.text.model_type != "qwen2")
        fail("{}: a LLaVA text_config must be llama or qwen2, found \"{}\"", c.source, c.text.model_type);
      put_llava(out, c);
      break;
    case ModelType::kQwen2Vl:
    case ModelType::kQwen2_5Vl: {
      const char* expected = c.model_type == ModelType::kQwen2_5Vl ? "qwen2_5_vl_text" : "qwen2_vl_text";
      if (c.text.model_type != expected)
        fail("{}: model_type {} needs text.model_type \"{}\", found \"{}\"", c.source, model_type_name(c.model_type),
             expected, c.text.model_type);
      const char* variant = c.model_type == ModelType::kQwen2_5Vl ? "qwen2_5_vl" : "qwen2_vl";
      if (c.qwen_vision->variant != variant)
        fail("{}: model_type {} needs a \"{}\" vision config, found \"{}\"", c.source, model_type_name(c.model_type),
             variant, c.qwen_vision->variant);
      put_qwen_vl(out, c);
      break;
    }
  }
  if (!c.torch_dtype.empty()) out["torch_dtype"] = c.torch_dtype;
  return out;
}

}  // namespace mha2mla::hf
