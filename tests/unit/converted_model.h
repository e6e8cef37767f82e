// Tiny converted models and left-padded mixed-modality prompts shared by the decoding, quantisation and export
// tests.
#pragma once

#include <memory>
#include <string>

#include <ATen/ATen.h>

#include "model/convert/converter.h"
#include "model/generation.h"
#include "model/mla/mla_attention.h"
#include "model/model.h"
#include "model/random_init.h"
#include "model/tiny/make_tiny.h"

namespace mha2mla::testing {

struct TinyConversion {
  std::string arch = "llama";
  std::string variant = "joint";
  std::string strategy = "uniform";
  int64_t rope_dims = 8;
  int64_t latent_rank = 8;
  bool stage_one = false;
  at::ScalarType dtype = at::kFloat;
};

// Perturbs what plain-SVD conversion leaves symmetric or zero, so that a mix-up cannot go unnoticed: the image
// projections differ from the text ones, and the up-projection biases (Qwen2) are non-zero.
inline void perturb_student(Model& model, uint64_t seed) {
  at::NoGradGuard no_grad;
  at::manual_seed(seed);
  for (auto& layer : model.text->layers) {
    auto& student = static_cast<MlaAttention&>(*layer.student);
    if (student.layout().modality_split())
      for (Linear* linear : {&student.image.kv_down, &student.image.k_down, &student.image.v_down, &student.image.k_up,
                             &student.image.v_up})
        if (linear->weight.defined()) linear->weight.add_(at::randn_like(linear->weight) * 0.05);
    if (student.k_up_bias.defined()) {
      student.k_up_bias.add_(at::randn_like(student.k_up_bias) * 0.1);
      student.v_up_bias.add_(at::randn_like(student.v_up_bias) * 0.1);
    }
  }
}

inline std::unique_ptr<Model> converted_tiny(const TinyConversion& c, uint64_t seed = 17) {
  auto model = build_model(tiny_config(c.arch), ModelLoadOptions{c.dtype, "cpu"});
  init_random([&](const ParamVisitor& v) { model->visit(v); }, seed, 0.1);
  ConversionOptions options;
  options.rope_dims = c.rope_dims;
  options.latent_rank = c.latent_rank;
  options.strategy = c.strategy;
  options.variant = c.variant;
  options.init = "svd";
  options.partial_rope_only = c.stage_one;
  convert_to_mla(*model, options, nullptr);
  perturb_student(*model, seed + 1);
  return model;
}

// B = 3 rows of T tokens: row 0 full, row 1 left-padded by 3, row 2 by 5; image tokens in the middle of each row
// (a different span per row), text around them.
inline GreedyRequest left_padded_request(Model& model, int64_t T, int64_t new_tokens, uint64_t seed) {
  at::manual_seed(seed);
  const int64_t B = 3;
  at::Tensor ids = at::randint(0, model.text->config().vocab_size, {B, T}, at::kLong);
  at::Tensor mask = at::ones({B, T}, at::kLong);
  mask[1].narrow(0, 0, 3).zero_();
  mask[2].narrow(0, 0, 5).zero_();
  at::Tensor image = at::zeros({B, T}, at::kBool);
  image[0].narrow(0, 2, 4).fill_(true);
  image[1].narrow(0, 4, 3).fill_(true);
  image[2].narrow(0, 6, 2).fill_(true);
  GreedyRequest request;
  request.prompt_embeddings = model.text->embed(ids);
  request.prompt.attention_mask = mask;
  request.prompt.positions = default_positions(B, T, mask, at::kCPU);
  request.prompt.image_mask = image;
  request.max_new_tokens = new_tokens;
  request.path = AttentionPath::student;
  return request;
}

inline double relative_difference(const at::Tensor& a, const at::Tensor& b) {
  return (a - b).norm().item<double>() / b.norm().item<double>();
}

}  // namespace mha2mla::testing
