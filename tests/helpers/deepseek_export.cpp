// Test helper for tests/python/test_deepseek_export.py: builds a tiny converted llama that fits DeepSeek-V3's MLA
// format, gives its student random weights and LoRA adapters, exports it as deepseek-v3, and writes the student's
// logits and layer-0 attention (input and output) on a left-padded batch, for the Python DeepSeek-V3 oracle.
//   deepseek_export CASE OUT_DIR
// CASE: mqa_bias     1 KV head, pairs {0,1,2,3} (stride 1), attention biases (q bias zero), joint latent
//       mqa_uniform  1 KV head, pairs {0,4,8,12} (stride 4), shared latent
//       gqa_split    2 KV heads keeping pairs {0,2,4,6} and {1,3,5,7} (together stride 1), split latent
// OUT_DIR gets export/, request.json, logits.npy, attention_input.npy, attention_output.npy.
#include <cstdio>
#include <fstream>

#include <ATen/ATen.h>
#include <nlohmann/json.hpp>

#include "common/error.h"
#include "common/files.h"
#include "model/export/export.h"
#include "model/mla/mla_attention.h"
#include "model/model.h"
#include "model/random_init.h"
#include "model/tiny/make_tiny.h"
#include "tests/helpers/npy.h"

using namespace mha2mla;

namespace {

struct Case {
  int64_t kv_heads;
  bool attention_bias;
  MlaVariant variant;
  std::vector<std::vector<int64_t>> pairs;  // per KV head
};

Case case_named(const std::string& name) {
  if (name == "mqa_bias") return {1, true, MlaVariant::joint, {{0, 1, 2, 3}}};
  if (name == "mqa_uniform") return {1, false, MlaVariant::shared, {{0, 4, 8, 12}}};
  if (name == "gqa_split") return {2, false, MlaVariant::split, {{0, 2, 4, 6}, {1, 3, 5, 7}}};
  fail("unknown case '{}'; expected mqa_bias, mqa_uniform or gqa_split", name);
}

std::unique_ptr<Model> build(const Case& c) {
  hf::HfConfig config = tiny_config("llama");  // llama3 RoPE scaling, tied embeddings
  config.text.num_key_value_heads = c.kv_heads;
  config.text.qkv_bias = config.text.o_proj_bias = c.attention_bias;
  auto model = build_model(config, ModelLoadOptions{});
  MlaConfig mla;
  mla.rope_dims = 8;
  mla.latent_rank = 8;
  mla.strategy = "fixed";
  mla.variant = c.variant;
  mla.init = "random";
  mla.rope_pairs.assign(static_cast<size_t>(config.text.num_hidden_layers), c.pairs);
  model->attach_mla(mla);
  init_random([&](const ParamVisitor& v) { model->visit(v); }, 29, 0.1);
  at::NoGradGuard no_grad;
  at::manual_seed(31);
  for (auto& layer : model->text->layers) {
    auto& student = static_cast<MlaAttention&>(*layer.student);
    if (student.q_proj.bias.defined()) student.q_proj.bias.zero_();  // DeepSeek-V3's q_proj has no bias
    for (Linear* linear : {&student.q_proj, &student.o_proj}) {
      linear->lora.a = at::randn({4, linear->in_features()}) * 0.1;
      linear->lora.b = at::randn({linear->out_features(), 4}) * 0.1;
      linear->lora.scale = 2.0;
    }
  }
  return model;
}

nlohmann::json rows(const at::Tensor& t) {
  nlohmann::json out = nlohmann::json::array();
  for (int64_t i = 0; i < t.size(0); ++i) {
    at::Tensor row = t[i].contiguous();
    out.push_back(std::vector<int64_t>(row.data_ptr<int64_t>(), row.data_ptr<int64_t>() + row.numel()));
  }
  return out;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 3) {
    std::fprintf(stderr, "usage: deepseek_export CASE OUT_DIR\n");
    return 2;
  }
  try {
    const std::string out = argv[2];
    auto model = build(case_named(argv[1]));
    export_deepseek_v3(*model, path_join(out, "export"));

    at::NoGradGuard no_grad;
    at::manual_seed(7);
    const int64_t B = 2, T = 10;
    at::Tensor ids = at::randint(0, model->text->config().vocab_size, {B, T}, at::kLong);
    at::Tensor mask = at::ones({B, T}, at::kLong);
    mask[1].narrow(0, 0, 3).zero_();
    TextBatch batch;
    batch.attention_mask = mask;
    batch.positions = default_positions(B, T, mask, at::kCPU);
    ForwardOptions options;
    options.path = AttentionPath::student;
    at::Tensor attention_input, attention_output;
    options.observer = [&](int64_t layer, const at::Tensor& input, const at::Tensor& output) {
      if (layer == 0) {
        attention_input = input;
        attention_output = output;
      }
    };
    at::Tensor logits = model->text->logits(model->text->forward(model->text->embed(ids), batch, options));
    testing::write_npy(path_join(out, "logits.npy"), logits);
    testing::write_npy(path_join(out, "attention_input.npy"), attention_input);
    testing::write_npy(path_join(out, "attention_output.npy"), attention_output);
    nlohmann::json request = {{"input_ids", rows(ids)}, {"attention_mask", rows(mask)}, {"position_ids", rows(batch.positions)}};
    write_file_atomic(path_join(out, "request.json"), request.dump() + "\n");
    return 0;
  } catch (const Error& e) {
    std::fprintf(stderr, "error: %s\n", e.what());
    return 1;
  }
}
