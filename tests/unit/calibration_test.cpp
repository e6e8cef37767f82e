// Calibration statistics against direct computations: pair norms, the RoPE-removal KL of the mkl scorer,
// 2norm ranks on a hand-computed example, sums that combine across runs, and the saved folder.
#include <cmath>

#include <ATen/ATen.h>

#include "model/convert/calibration.h"
#include "model/convert/partial_rope.h"
#include "model/layers/attention_kernel.h"
#include "model/layers/rotary.h"
#include "model/model.h"
#include "model/random_init.h"
#include "model/tiny/make_tiny.h"
#include "tests/unit/test_support.h"

namespace mha2mla {
namespace {

std::unique_ptr<Model> tiny_model(uint64_t seed = 5) {
  auto model = build_model(tiny_config("qwen2"), ModelLoadOptions{at::kDouble, "cpu"});
  init_random([&](const ParamVisitor& v) { model->visit(v); }, seed, 0.1);
  return model;
}

PreparedInputs batch_for(Model& model, uint64_t seed, bool with_images) {
  at::manual_seed(seed);
  MultimodalBatch batch;
  batch.input_ids = at::randint(0, 500, {2, 10}, at::kLong);
  batch.attention_mask = at::ones({2, 10}, at::kLong);
  batch.attention_mask[1].narrow(0, 7, 3).fill_(0);  // right padding
  PreparedInputs prepared = model.prepare(batch);
  if (with_images) prepared.text.image_mask = (at::arange(10, at::kLong) % 3 == 0).unsqueeze(0).expand({2, 10}).contiguous();
  return prepared;
}

TEST(Calibration, RopeRemovalKlEqualsABruteForceAttentionWithoutThatPair) {
  at::manual_seed(2);
  const int64_t B = 1, H = 4, Hkv = 2, T = 6, d = 8;
  at::Tensor q = at::randn({B, H, T, d}, at::kDouble), k = at::randn({B, Hkv, T, d}, at::kDouble);
  RopeConfig rope_config;
  rope_config.head_dim = d;
  rope_config.theta = 50;
  RotaryEmbedding rope(rope_config);
  auto [cos, sin] = rope.cos_sin(at::arange(T, at::kLong).view({1, T}) * 3, at::kDouble);
  at::Tensor bias = attention_bias(B, T, 0, at::Tensor(), at::Tensor(), at::kDouble, at::kCPU);
  at::Tensor kl = rope_removal_kl(q, k, cos, sin, bias);  // [B, T, Hkv, pairs]

  auto probabilities = [&](const at::Tensor& c, const at::Tensor& s, int64_t h) {
    at::Tensor qh = apply_rotary(q, c, s).select(1, h), kh = apply_rotary(k, c, s).select(1, h / (H / Hkv));
    return at::softmax(at::matmul(qh, kh.transpose(-2, -1)) / std::sqrt(double(d)) + bias.squeeze(1), -1);
  };
  for (int64_t j = 0; j < d / 2; ++j) {
    at::Tensor keep = at::ones({d}, at::kBool);
    keep[j] = false;
    keep[j + d / 2] = false;
    at::Tensor c_j = at::where(keep, cos, at::ones_like(cos)), s_j = at::where(keep, sin, at::zeros_like(sin));
    for (int64_t g = 0; g < Hkv; ++g) {
      at::Tensor expected = at::zeros({B, T}, at::kDouble);
      for (int64_t h = g * (H / Hkv); h < (g + 1) * (H / Hkv); ++h) {
        at::Tensor p = probabilities(cos, sin, h), p_j = probabilities(c_j, s_j, h);
        expected += (p * (p.clamp_min(1e-300).log() - p_j.clamp_min(1e-300).log())).sum(-1);
      }
      EXPECT_TRUE(at::allclose(kl.select(2, g).select(2, j), expected, 1e-9, 1e-12)) << "pair " << j << " group " << g;
    }
  }
}

TEST(Calibration, PairNormSumsEqualADirectComputation) {
  auto model = tiny_model();
  PreparedInputs inputs = batch_for(*model, 3, true);
  Calibration calibration(*model);
  calibration.observe(*model, inputs, false);
  // Direct: layer 0's attention input is input_layernorm(embeddings).
  at::Tensor x = model->text->layers[0].input_layernorm.forward(inputs.embeddings);
  at::Tensor q = model->text->layers[0].self_attn->project_queries(x);  // [B, H, T, d]
  at::Tensor valid = inputs.text.attention_mask.to(at::kBool), image = inputs.text.image_mask;
  at::Tensor expected = at::zeros({4, 16}, at::kDouble);
  for (int64_t b = 0; b < 2; ++b)
    for (int64_t t = 0; t < 10; ++t) {
      if (!valid[b][t].item<bool>() || !image[b][t].item<bool>()) continue;
      for (int64_t h = 0; h < 4; ++h)
        for (int64_t j = 0; j < 16; ++j)
          expected[h][j] += std::hypot(q[b][h][t][j].item<double>(), q[b][h][t][j + 16].item<double>());
    }
  EXPECT_TRUE(at::allclose(calibration.layers[0].q_pair_norm_sum[kImage], expected, 1e-10, 1e-10));
  EXPECT_EQ(calibration.tokens[kText] + calibration.tokens[kImage], 17);  // 20 positions, 3 padding
}

TEST(Calibration, TwoNormRanksMatchAHandComputedExample) {
  Calibration c;
  c.heads = 2;
  c.kv_heads = 1;
  c.head_dim = 8;  // 4 pairs
  c.layers.resize(1);
  c.tokens = {2, 0};
  auto t = [](std::vector<double> v, int64_t rows) { return at::tensor(v, at::kDouble).view({rows, -1}); };
  // mean||q|| per head: head 0 = [1, 2, 3, 4], head 1 = [4, 1, 1, 1]; mean||k|| = [1, 1, 0.5, 2]
  c.layers[0].q_pair_norm_sum = {t({2, 4, 6, 8, 8, 2, 2, 2}, 2), t({0, 0, 0, 0, 0, 0, 0, 0}, 2)};
  c.layers[0].k_pair_norm_sum = {t({2, 2, 1, 4}, 1), t({0, 0, 0, 0}, 1)};
  // scores = (1*1 + 4*1, 2*1 + 1*1, 3*0.5 + 1*0.5, 4*2 + 1*2) = (5, 3, 2, 10) -> keep pairs 0 and 3
  at::Tensor scores = c.scores(0, "2norm");
  EXPECT_TRUE(at::allclose(scores, t({5, 3, 2, 10}, 1))) << scores;
  EXPECT_EQ(top_scoring_pairs(scores, 4)[0], (std::vector<int64_t>{0, 3}));
}

TEST(Calibration, ModalityScoresNormaliseByEachModalitysOwnTokenCount) {
  auto model = tiny_model();
  Calibration c(*model);
  c.observe(*model, batch_for(*model, 4, true), false);
  at::Tensor mkl = c.scores(1, "mkl");
  at::Tensor expected = c.layers[1].kl_sum[kText] / double(c.tokens[kText]) + c.layers[1].kl_sum[kImage] / double(c.tokens[kImage]);
  EXPECT_TRUE(at::allclose(mkl, expected));
  EXPECT_GT(mkl.min().item<double>(), 0.0);
  for (std::string strategy : {"2norm", "2norm_modality", "mkl"}) {
    auto pairs = top_scoring_pairs(c.scores(0, strategy), 8);
    EXPECT_EQ(pairs.size(), 2u);
    EXPECT_EQ(pairs[0].size(), 4u);
  }
}

TEST(Calibration, SplitRunsAddUpToOneRunAndSurviveSaveLoad) {
  auto model = tiny_model();
  PreparedInputs a = batch_for(*model, 6, true), b = batch_for(*model, 7, false);
  Calibration whole(*model), first(*model), second(*model);
  whole.observe(*model, a, false);
  whole.observe(*model, b, false);
  whole.observe(*model, b, true);
  first.observe(*model, a, false);
  second.observe(*model, b, false);
  second.observe(*model, b, true);
  std::string dir = testing::scratch_dir() + "/calibration";
  first.save(dir, "tiny");
  Calibration resumed = Calibration::load(dir);
  resumed.add(second);
  EXPECT_EQ(resumed.samples, whole.samples);
  EXPECT_EQ(resumed.held_out_tokens, whole.held_out_tokens);
  for (const std::string strategy : {"2norm", "mkl"})
    EXPECT_TRUE(at::allclose(resumed.scores(1, strategy), whole.scores(1, strategy), 1e-12, 1e-12));
  EXPECT_TRUE(at::allclose(resumed.moments(0, true).text, whole.moments(0, true).text));
  std::remove((dir + "/manifest.json").c_str());
  EXPECT_ERROR_CONTAINS(Calibration::load(dir), "no manifest.json");
}

}  // namespace
}  // namespace mha2mla
