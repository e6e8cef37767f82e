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
  static const std::vector<std::string> archs = {"llama", "qwen2"};
  return archs;
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

}  // namespace

hf::HfConfig tiny_config(const std::string& arch) {
  hf::HfConfig config;
  if (arch == "llama") {
    config.model_type = hf::ModelType::kLlama;
    config.text = tiny_text("llama");
  } else if (arch == "qwen2") {
    config.model_type = hf::ModelType::kQwen2;
    config.text = tiny_text("qwen2");
  } else {
    fail_with_hint("choose one of: " + join(tiny_architectures(), ", "), "make-tiny: unknown --arch '{}'", arch);
  }
  config.torch_dtype = "float32";
  config.source = "make-tiny " + arch;
  hf::validate(config);
  return config;
}

hf::HfConfig make_tiny_model(const TinyModelOptions& options) {
  hf::HfConfig config = tiny_config(options.arch);
  if (options.vocab_size > 0) config.text.vocab_size = options.vocab_size;
  if (options.bos_token_id >= 0) config.text.bos_token_id = options.bos_token_id;
  if (options.eos_token_id >= 0) config.text.eos_token_ids = {options.eos_token_id};
  if (options.pad_token_id >= 0) config.text.pad_token_id = options.pad_token_id;
  hf::validate(config);
  auto model = build_model(config, ModelLoadOptions{});
  init_random([&](const ParamVisitor& v) { model->visit(v); }, options.seed);
  save_model(*model, options.out);
  spdlog::info("wrote tiny {} checkpoint to {} (seed {})", options.arch, options.out, options.seed);
  return config;
}

}  // namespace mha2mla
