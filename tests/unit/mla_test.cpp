// MLA conversion identities (shared/method.md sections 2-4): at full rank the student reproduces the teacher
// (r = head_dim) or an independently computed partial-RoPE teacher (r < head_dim), for every variant and
// modality mix, with 1-D RoPE and M-RoPE; activation-aware SVD beats plain SVD on held-out activations.
#include <cmath>

#include <ATen/ATen.h>

#include "model/convert/low_rank.h"
#include "model/convert/mla_init.h"
#include "model/convert/partial_rope.h"
#include "model/layers/rotary.h"
#include "model/mla/attach.h"
#include "model/mla/mla_attention.h"
#include "model/random_init.h"
#include "model/text_model.h"
#include "tests/unit/test_support.h"

namespace mha2mla {
namespace {

DecoderConfig config(bool mrope) {
  DecoderConfig c;
  c.vocab_size = 50;
  c.hidden = 64;
  c.intermediate = 80;
  c.layers = 3;
  c.heads = 4;
  c.kv_heads = 2;
  c.head_dim = 16;
  c.qkv_bias = true;
  c.rope.head_dim = 16;
  if (mrope) c.rope.mrope_section = {2, 3, 3};
  return c;
}

TextModel model_with_anisotropic_norms(const DecoderConfig& c) {
  TextModel model(c, at::TensorOptions().dtype(at::kDouble));
  init_random([&](const ParamVisitor& v) { model.visit(v); }, 11, 0.1);
  at::manual_seed(5);
  for (auto& layer : model.layers)  // inputs far from isotropic: per-channel scales spanning ~3 decades
    layer.input_layernorm.weight.copy_(at::exp(at::randn({c.hidden}, at::kDouble) * 1.7));
  return model;
}

struct Batch {
  at::Tensor x;          // [B, T, hidden] layer input (already "normed")
  TextBatch text;
};

Batch random_batch(const TextModel& model, int64_t B, int64_t T, uint64_t seed) {
  at::manual_seed(seed);
  Batch b;
  b.x = at::randn({B, T, model.config().hidden}, at::kDouble);
  at::Tensor positions = at::arange(T, at::kLong).unsqueeze(0).expand({B, T}).contiguous();
  b.text.positions = model.rope().is_multimodal()
                         ? at::stack({positions, (positions * 7) % 5, (positions * 3) % 4}, 0)  // distinct axes
                         : positions;
  b.text.image_mask = (at::arange(T, at::kLong) % 3 == 1).unsqueeze(0).expand({B, T}).contiguous();
  return b;
}

// The original attention with RoPE removed from every dim outside the kept pairs of the query's KV group,
// computed directly from the teacher's weights (no MLA code involved).
at::Tensor partial_rope_teacher(const GqaAttention& t, const MlaLayerLayout& layout, const at::Tensor& x,
                                const AttentionInputs& in) {
  const int64_t B = x.size(0), T = x.size(1), H = layout.heads, G = layout.kv_heads, d = layout.head_dim;
  at::Tensor q = t.project_queries(x), k = t.project_keys(x), v = t.project_values(x);
  std::vector<at::Tensor> outputs;
  for (int64_t h = 0; h < H; ++h) {
    int64_t g = h / (H / G);
    at::Tensor keep = at::zeros({d}, at::kBool);
    for (int64_t j : layout.rope_pairs[g]) {
      keep[j] = true;
      keep[j + d / 2] = true;
    }
    at::Tensor cos = at::where(keep, in.cos, at::ones_like(in.cos)), sin = at::where(keep, in.sin, at::zeros_like(in.sin));
    at::Tensor qh = q.select(1, h) * cos + rotate_half(q.select(1, h)) * sin;  // [B, T, d]
    at::Tensor kh = k.select(1, g) * cos + rotate_half(k.select(1, g)) * sin;
    at::Tensor scores = at::matmul(qh, kh.transpose(1, 2)) / std::sqrt(static_cast<double>(d)) + in.bias.squeeze(1);
    outputs.push_back(at::matmul(at::softmax(scores, -1), v.select(1, g)));
  }
  return t.o_proj.forward(at::stack(outputs, 2).reshape({B, T, H * d}));
}

LayerInputMoments moments_of(const at::Tensor& x, const at::Tensor& image_mask) {
  LayerInputMoments m;
  at::Tensor flat = x.reshape({-1, x.size(-1)}), img = image_mask.reshape({-1});
  at::Tensor xt = flat.index({at::logical_not(img)}), xi = flat.index({img});
  m.text = at::matmul(xt.t(), xt);
  m.image = at::matmul(xi.t(), xi);
  m.text_tokens = xt.size(0);
  m.image_tokens = xi.size(0);
  return m;
}

MlaLayerLayout layout_for(const DecoderConfig& c, int64_t rope_dims, int64_t latent_rank, MlaVariant variant,
                          const std::string& strategy) {
  MlaLayerLayout l;
  l.heads = c.heads;
  l.kv_heads = c.kv_heads;
  l.head_dim = c.head_dim;
  l.rope_dims = rope_dims;
  l.latent_rank = latent_rank;
  l.variant = variant;
  if (strategy == "scored") {  // a different, non-contiguous selection per KV head
    at::Tensor scores = at::tensor(std::vector<double>{3, 9, 1, 7, 2, 8, 4, 6, 9, 1, 8, 2, 7, 3, 6, 4}, at::kDouble).view({2, 8});
    l.rope_pairs = top_scoring_pairs(scores, rope_dims);
  } else {
    l.rope_pairs = fixed_rope_pairs(strategy, c.head_dim, rope_dims, c.kv_heads);
  }
  return l;
}

double relative_difference(const at::Tensor& a, const at::Tensor& b) {
  return (a - b).norm().item<double>() / b.norm().item<double>();
}

TEST(Mla, FullRankFullRopeStudentEqualsTheTeacher) {
  for (bool mrope : {false, true})
    for (MlaVariant variant : {MlaVariant::joint, MlaVariant::split, MlaVariant::shared}) {
      DecoderConfig c = config(mrope);
      TextModel model = model_with_anisotropic_norms(c);
      Batch batch = random_batch(model, 2, 9, 1);
      AttentionInputs in = model.attention_inputs(batch.text, 9, nullptr);
      LayerInputMoments moments = moments_of(batch.x, batch.text.image_mask);
      for (auto& layer : model.layers) {
        MlaAttention student(layout_for(c, c.head_dim, 32, variant, "high"), *layer.self_attn, model.options());
        initialise_mla_layer(student, *layer.self_attn, LowRankInit::activation_svd, 1e-3, moments, moments);
        double diff = relative_difference(student.forward(batch.x, in, nullptr), layer.self_attn->forward(batch.x, in, nullptr));
        EXPECT_LT(diff, 1e-10) << "variant " << to_string(variant) << " mrope " << mrope;
      }
    }
}

TEST(Mla, FullRankPartialRopeStudentEqualsAnIndependentPartialRopeTeacher) {
  for (bool mrope : {false, true})
    for (const std::string strategy : {"high", "low", "uniform", "scored"})
      for (MlaVariant variant : {MlaVariant::joint, MlaVariant::split, MlaVariant::shared}) {
        DecoderConfig c = config(mrope);
        TextModel model = model_with_anisotropic_norms(c);
        Batch batch = random_batch(model, 2, 9, 2);
        AttentionInputs in = model.attention_inputs(batch.text, 9, nullptr);
        LayerInputMoments moments = moments_of(batch.x, batch.text.image_mask);
        auto& teacher = *model.layers[1].self_attn;
        MlaLayerLayout layout = layout_for(c, 4, 32, variant, strategy);
        MlaAttention student(layout, teacher, model.options());
        initialise_mla_layer(student, teacher, LowRankInit::svd, 1e-3, moments, moments);
        double diff = relative_difference(student.forward(batch.x, in, nullptr), partial_rope_teacher(teacher, layout, batch.x, in));
        EXPECT_LT(diff, 1e-10) << strategy << " " << to_string(variant) << " mrope " << mrope;
      }
}

TEST(Mla, StageOnePartialRopeAtFullRankNeedsNoFactorisation) {
  DecoderConfig c = config(false);
  TextModel model = model_with_anisotropic_norms(c);
  Batch batch = random_batch(model, 1, 7, 3);
  AttentionInputs in = model.attention_inputs(batch.text, 7, nullptr);
  MlaLayerLayout layout = layout_for(c, 6, 0, MlaVariant::joint, "scored");
  layout.identity_down = true;
  auto& teacher = *model.layers[0].self_attn;
  MlaAttention student(layout, teacher, model.options());
  initialise_mla_layer(student, teacher, LowRankInit::svd, 1e-3, {}, {});
  EXPECT_LT(relative_difference(student.forward(batch.x, in, nullptr), partial_rope_teacher(teacher, layout, batch.x, in)), 1e-12);
}

TEST(Mla, ModalityRoutingUsesEachModalitysProjections) {
  // Zeroing the image projections must change image-token outputs' inputs only: text tokens before the first
  // image token see no image latent, so their outputs are unchanged.
  DecoderConfig c = config(false);
  TextModel model = model_with_anisotropic_norms(c);
  Batch batch = random_batch(model, 1, 9, 4);
  AttentionInputs in = model.attention_inputs(batch.text, 9, nullptr);
  auto& teacher = *model.layers[0].self_attn;
  MlaAttention student(layout_for(c, 4, 8, MlaVariant::joint, "high"), teacher, model.options());
  LayerInputMoments moments = moments_of(batch.x, batch.text.image_mask);
  initialise_mla_layer(student, teacher, LowRankInit::activation_svd, 1e-3, moments, moments);
  at::Tensor before = student.forward(batch.x, in, nullptr);
  student.image.kv_down.weight.zero_();
  at::Tensor after = student.forward(batch.x, in, nullptr);
  EXPECT_TRUE(at::allclose(before.narrow(1, 0, 1), after.narrow(1, 0, 1), 0, 0));  // token 0 is text
  EXPECT_FALSE(at::allclose(before.narrow(1, 1, 1), after.narrow(1, 1, 1)));       // token 1 is an image token
}

TEST(Mla, ActivationAwareBeatsPlainSvdOnHeldOutActivationsOfEveryLayer) {
  DecoderConfig c = config(false);
  TextModel model = model_with_anisotropic_norms(c);
  // Real layer inputs: run the teacher and record each layer's attention input.
  std::vector<LayerInputMoments> calibration(c.layers), held_out(c.layers);
  auto collect = [&](std::vector<LayerInputMoments>& into, uint64_t seed) {
    at::manual_seed(seed);
    at::Tensor ids = at::randint(0, c.vocab_size, {4, 24}, at::kLong);
    TextBatch batch;
    batch.positions = default_positions(4, 24, at::Tensor(), at::kCPU);
    batch.image_mask = (at::arange(24, at::kLong) < 12).unsqueeze(0).expand({4, 24}).contiguous();
    ForwardOptions options;
    options.observer = [&](int64_t layer, const at::Tensor& input, const at::Tensor&) {
      into[static_cast<size_t>(layer)] = moments_of(input, batch.image_mask);
    };
    model.forward(model.embed(ids), batch, options);
  };
  collect(calibration, 21);
  collect(held_out, 22);
  for (int64_t l = 0; l < c.layers; ++l) {
    double previous_aware = 1e9;
    for (int64_t rank : {2, 4, 8, 16}) {
      MlaAttention student(layout_for(c, 4, rank, MlaVariant::joint, "high"), *model.layers[l].self_attn, model.options());
      LayerInitReport report = initialise_mla_layer(student, *model.layers[l].self_attn, LowRankInit::activation_svd,
                                                    1e-4, calibration[l], held_out[l]);
      for (const auto& m : report.modalities) {
        EXPECT_LT(m.aware.activation, m.plain.activation) << "layer " << l << " rank " << rank << " " << m.modality;
        EXPECT_LE(m.plain.parameter, m.aware.parameter + 1e-12) << "plain SVD is optimal in parameter distance";
      }
      double aware = report.modalities[0].aware.activation;
      EXPECT_LT(aware, previous_aware) << "error must fall as latent_rank grows (layer " << l << ")";
      previous_aware = aware;
    }
  }
}

TEST(LowRank, FactorisationsAreExactAtFullRankAndPadBeyondIt) {
  at::manual_seed(1);
  at::Tensor w = at::randn({12, 8}, at::kDouble), x = at::randn({40, 8}, at::kDouble);
  at::Tensor s = at::matmul(x.t(), x);
  for (int64_t rank : {8, 10}) {
    LowRankFactors plain = plain_svd(w, rank), aware = activation_aware_svd(w, s, rank, 1e-6);
    EXPECT_EQ(plain.up.size(1), rank);
    EXPECT_LT(parameter_error(w, plain), 1e-12);
    EXPECT_LT(parameter_error(w, aware), 1e-9);
  }
}

TEST(PartialRope, StrategiesArePairClosedWithRDimsPerHead) {
  for (const std::string strategy : {"high", "low", "uniform"}) {
    auto pairs = fixed_rope_pairs(strategy, 128, 32, 4);
    ASSERT_EQ(pairs.size(), 4u);
    MlaLayerLayout layout;
    layout.heads = 8;
    layout.kv_heads = 4;
    layout.head_dim = 128;
    layout.rope_dims = 32;
    layout.rope_pairs = pairs;
    EXPECT_NO_THROW(layout.validate("test"));
    auto dims = layout.rope_dim_indices(0);
    EXPECT_EQ(dims.size(), 32u);
    for (size_t i = 0; i < 16; ++i) EXPECT_EQ(dims[i] + 64, dims[i + 16]);  // pair-closed
    EXPECT_EQ(layout.nope_dim_indices(0).size(), 96u);
  }
  EXPECT_EQ(fixed_rope_pairs("high", 128, 8, 1)[0], (std::vector<int64_t>{0, 1, 2, 3}));
  EXPECT_EQ(fixed_rope_pairs("low", 128, 8, 1)[0], (std::vector<int64_t>{60, 61, 62, 63}));
  EXPECT_EQ(fixed_rope_pairs("uniform", 128, 8, 1, 3)[0], (std::vector<int64_t>{3, 19, 35, 51}));
  EXPECT_ERROR_CONTAINS(fixed_rope_pairs("uniform", 128, 8, 1, 16), "uniform_start");
}

TEST(PartialRope, TopScoringPairsKeepTheHighestScoresPerHead) {
  at::Tensor scores = at::tensor(std::vector<double>{0.1, 0.9, 0.5, 0.7, 0.8, 0.2, 0.3, 0.3}, at::kDouble).view({2, 4});
  auto pairs = top_scoring_pairs(scores, 4);
  EXPECT_EQ(pairs[0], (std::vector<int64_t>{1, 3}));
  EXPECT_EQ(pairs[1], (std::vector<int64_t>{0, 2}));  // tie between pairs 2 and 3: the lower wins
}

TEST(Mla, CacheBytesFollowTheFormula) {
  DecoderConfig c = config(false);
  TextModel model = model_with_anisotropic_norms(c);
  MlaLayerLayout layout = layout_for(c, 4, 8, MlaVariant::joint, "high");
  EXPECT_EQ(mla_cache_elements(layout), 2 * (4 + 8));
  EXPECT_EQ(teacher_cache_elements(2, 16), 64);
  MlaAttention student(layout, *model.layers[0].self_attn, model.options());
  auto cache = student.make_cache(LatentCacheOptions{});
  Batch batch = random_batch(model, 3, 5, 6);
  AttentionInputs in = model.attention_inputs(batch.text, 5, nullptr);
  student.forward(batch.x, in, cache.get());
  const int64_t tokens = 3 * 5, element = 8;  // float64; modality bits packed per batch row: 3 rows x 1 byte
  EXPECT_EQ(cache->bytes(), tokens * mla_cache_elements(layout) * element + 3 * ((5 + 7) / 8));
}

}  // namespace
}  // namespace mha2mla
