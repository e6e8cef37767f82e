#include "model/tiny/make_tiny.h"

#include <ATen/ATen.h>
#include <spdlog/spdlog.h>

#include "common/error.h"
#include "common/files.h"
#include "common/strings.h"
#include "model/model.h"
#include "model/random_init.h"

namespace mha2mla {

const std::vector<std::string>& tiny_architectures() {
  static const std::vector<std::string> archs = {"llama", "qwen2", "llava", "llava_next", "qwen2_5_vl"};
  return archs;
}

const std::vector<std::string>& tiny_sizes() {
  static const std::vector<std::string> sizes = {"tiny", "demo"};
  return sizes;
}

namespace {

hf::TextConfig tiny_text(const std::string& family) {
  hf::TextConfig t;
  t.model_type = family;
  t.vocab_size = kTinyVocabularyTarget;
  t.hidden_size = 128;
  t.intermediate_size = 256;
  t.num_hidden_layers = 2;
  t.num_attention_heads = 4;
  t.num_key_value_heads = 2;
  t.head_dim = 32;
  t.max_position_embeddings = 4096;
  t.hidden_act = "silu";
  t.bos_token_id = 1;
  t.eos_token_ids = {2};
  if (family == "llama") {
    // Llama-3 style: large theta, llama3 frequency scaling (a small original context so that it matters).
    t.rms_norm_eps = 1e-5;
    t.rope_theta = 500000.0;
    t.rope_scaling.type = "llama3";
    t.rope_scaling.factor = 8.0;
    t.rope_scaling.low_freq_factor = 1.0;
    t.rope_scaling.high_freq_factor = 4.0;
    t.rope_scaling.original_max_position_embeddings = 64;
    t.tie_word_embeddings = true;
  } else {
    t.rms_norm_eps = 1e-6;
    t.rope_theta = 1000000.0;
    t.qkv_bias = true;
    t.tie_word_embeddings = false;
  }
  return t;
}

// Token ids of the tiny VLMs: where the tiny tokenizers put the added tokens (model/tiny/README.md has the table).
constexpr int64_t kLlavaImageToken = 500, kLlavaPadToken = 501;                       // llama2 family, target 500
constexpr int64_t kLlama3Bos = 500, kLlama3Eot = 509;                                 // llama3 family, target 500
constexpr int64_t kLlavaNextImageToken = 510, kLlavaNextPadToken = 511;
constexpr int64_t kQwenEndOfText = 490, kQwenImEnd = 492;                             // qwen2 family, target 490
constexpr int64_t kQwenVisionStart = 499, kQwenVisionEnd = 500, kQwenVisionPad = 501;
constexpr int64_t kQwenImagePad = 502, kQwenVideoPad = 503;

}  // namespace

int64_t tiny_tokenizer_target(const std::string& arch) {
  if (arch == "qwen2" || arch == "qwen2_5_vl") return kQwenEndOfText;
  return kLlavaImageToken;  // llama2 / llama3 families: added tokens from 500
}

namespace {

// CLIP ViT-L/14 in miniature: 56-pixel images of 14-pixel patches (4x4 = 16 patches + CLS), three layers so that
// LLaVA's vision_feature_layer -2 is an inner one.
hf::ClipVisionConfig tiny_clip() {
  hf::ClipVisionConfig v;
  v.hidden_size = 64;
  v.intermediate_size = 128;
  v.num_hidden_layers = 3;
  v.num_attention_heads = 4;
  v.image_size = 56;
  v.patch_size = 14;
  v.projection_dim = 32;
  v.layer_norm_eps = 1e-5;
  v.hidden_act = "quick_gelu";
  return v;
}

hf::HfConfig tiny_llava(bool next) {
  hf::HfConfig c;
  c.model_type = next ? hf::ModelType::kLlavaNext : hf::ModelType::kLlava;
  c.text = tiny_text("llama");
  c.text.tie_word_embeddings = false;
  c.text.rope_scaling = hf::RopeScaling{};
  if (next) {  // llama3-llava-next-8b: Llama-3 text model without rope scaling
    c.text.rope_theta = 500000.0;
    c.text.bos_token_id = kLlama3Bos;
    c.text.eos_token_ids = {kLlama3Eot};
  } else {  // llava-1.5: Vicuna (Llama-2)
    c.text.rope_theta = 10000.0;
  }
  c.clip_vision = tiny_clip();
  hf::LlavaFields& l = c.llava;
  l.image_token_index = next ? kLlavaNextImageToken : kLlavaImageToken;
  l.pad_token_id = next ? kLlavaNextPadToken : kLlavaPadToken;
  l.projector_hidden_act = "gelu";
  l.vision_feature_layers = {-2};
  l.vision_feature_select_strategy = "default";
  l.image_seq_length = 16;
  l.tie_word_embeddings = false;
  if (next) l.image_grid_pinpoints = {{56, 112}, {112, 56}, {112, 112}, {168, 56}, {56, 168}};  // the real ones / 6
  return c;
}

hf::HfConfig tiny_qwen2_5_vl() {
  hf::HfConfig c;
  c.model_type = hf::ModelType::kQwen2_5Vl;
  c.text = tiny_text("qwen2");
  c.text.model_type = "qwen2_5_vl_text";
  c.text.rope_scaling.type = "mrope";
  c.text.rope_scaling.mrope_section = {4, 6, 6};  // [16, 24, 24] scaled to head_dim 32
  c.text.bos_token_id = kQwenEndOfText;
  c.text.eos_token_ids = {kQwenImEnd};
  hf::QwenVisionConfig v;
  v.variant = "qwen2_5_vl";
  v.depth = 4;
  v.hidden_size = 64;
  v.intermediate_size = 96;
  v.num_heads = 4;
  v.patch_size = 14;
  v.spatial_merge_size = 2;
  v.temporal_patch_size = 2;
  v.out_hidden_size = c.text.hidden_size;
  v.hidden_act = "silu";
  v.window_size = 56;  // 2x2 merge blocks per window (the real 112 px gives 4x4)
  v.fullatt_block_indexes = {1, 3};
  v.tokens_per_second = 2;
  c.qwen_vision = v;
  c.qwen_vl.image_token_id = kQwenImagePad;
  c.qwen_vl.video_token_id = kQwenVideoPad;
  c.qwen_vl.vision_start_token_id = kQwenVisionStart;
  c.qwen_vl.vision_end_token_id = kQwenVisionEnd;
  c.qwen_vl.vision_token_id = kQwenVisionPad;
  return c;
}

// The demo teacher: the tiny layout (GQA 4/2 heads of 32 dims, M-RoPE or CLIP, the same token ids) with the depth
// and widths meant for learning the synthetic shapes task from scratch (docs/quickstart.md has the numbers).
void scale_to_demo(hf::HfConfig& c) {
  c.text.num_hidden_layers = 4;
  c.text.intermediate_size = 384;
  if (c.qwen_vision) {
    c.qwen_vision->hidden_size = 96;
    c.qwen_vision->num_heads = 4;
    c.qwen_vision->intermediate_size = 192;
  }
  if (c.clip_vision) {
    c.clip_vision->hidden_size = 96;
    c.clip_vision->intermediate_size = 192;
  }
}

}  // namespace

hf::HfConfig tiny_config(const std::string& arch, const std::string& size) {
  hf::HfConfig config;
  if (arch == "llama") {
    config.model_type = hf::ModelType::kLlama;
    config.text = tiny_text("llama");
  } else if (arch == "qwen2") {
    config.model_type = hf::ModelType::kQwen2;
    config.text = tiny_text("qwen2");
  } else if (arch == "llava" || arch == "llava_next") {
    config = tiny_llava(arch == "llava_next");
  } else if (arch == "qwen2_5_vl") {
    config = tiny_qwen2_5_vl();
  } else {
    fail_with_hint("choose one of: " + join(tiny_architectures(), ", "), "make-tiny: unknown --arch '{}'", arch);
  }
  if (size == "demo") {
    if (!hf::is_llava_family(config.model_type) && !hf::is_qwen_vl_family(config.model_type))
      fail_with_hint("use --arch qwen2_5_vl, llava or llava_next with --size demo",
                     "make-tiny: --size demo is a vision-language teacher, but --arch {} is a text model", arch);
    scale_to_demo(config);
  } else if (size != "tiny") {
    fail_with_hint("choose one of: " + join(tiny_sizes(), ", "), "make-tiny: unknown --size '{}'", size);
  }
  config.torch_dtype = "float32";
  config.source = "make-tiny " + arch + (size == "tiny" ? "" : " --size " + size);
  hf::validate(config);
  return config;
}

std::optional<image::PreprocessorConfig> tiny_preprocessor_config(const std::string& arch, const std::string& size) {
  const hf::HfConfig config = tiny_config(arch, size);
  image::PreprocessorConfig p;
  if (config.model_type == hf::ModelType::kLlava) {
    p.kind = image::ImageProcessorKind::kClip;  // llava-hf/llava-1.5-*-hf ship a CLIPImageProcessor
    p.processor_class = "LlavaProcessor";
    p.clip.shortest_edge = config.clip_vision->image_size;
    p.clip.crop = {config.clip_vision->image_size, config.clip_vision->image_size};
  } else if (config.model_type == hf::ModelType::kLlavaNext) {
    p.kind = image::ImageProcessorKind::kLlavaNext;
    p.processor_class = "LlavaNextProcessor";
    p.llava_next.clip.shortest_edge = config.clip_vision->image_size;
    p.llava_next.clip.crop = {config.clip_vision->image_size, config.clip_vision->image_size};
    p.llava_next.grid_pinpoints.clear();
    for (const auto& pin : config.llava.image_grid_pinpoints) p.llava_next.grid_pinpoints.push_back({pin[0], pin[1]});
    p.llava_next.vision_patch_size = config.clip_vision->patch_size;
  } else if (config.model_type == hf::ModelType::kQwen2_5Vl) {
    p.kind = image::ImageProcessorKind::kQwen2Vl;
    p.processor_class = "Qwen2_5_VLProcessor";
    const auto& v = *config.qwen_vision;
    const int64_t factor = v.patch_size * v.spatial_merge_size;  // 28 px per merged token
    p.qwen.patch_size = v.patch_size;
    p.qwen.temporal_patch_size = v.temporal_patch_size;
    p.qwen.merge_size = v.spatial_merge_size;
    p.qwen.min_pixels = 4 * factor * factor;   // at least 4 merged tokens
    p.qwen.max_pixels = 64 * factor * factor;  // at most 64 merged tokens (256 patches)
  } else {
    return std::nullopt;
  }
  p.source = config.source;
  return p;
}

hf::HfConfig make_tiny_model(const TinyModelOptions& options) {
  hf::HfConfig config = tiny_config(options.arch, options.size);
  if (options.vocab_size > 0) config.text.vocab_size = options.vocab_size;
  if (options.bos_token_id >= 0) config.text.bos_token_id = options.bos_token_id;
  if (options.eos_token_id >= 0) config.text.eos_token_ids = {options.eos_token_id};
  if (options.pad_token_id >= 0) config.text.pad_token_id = options.pad_token_id;
  hf::validate(config);
  auto model = build_model(config, ModelLoadOptions{});
  init_random([&](const ParamVisitor& v) { model->visit(v); }, options.seed);
  save_model(*model, options.out);
  if (auto preprocessor = tiny_preprocessor_config(options.arch, options.size))
    image::save_preprocessor_config(*preprocessor, path_join(options.out, "preprocessor_config.json"));
  spdlog::info("wrote {} {} checkpoint to {} (seed {})", options.size, options.arch, options.out, options.seed);
  return config;
}

}  // namespace mha2mla
