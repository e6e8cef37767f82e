// The language model's building blocks against closed forms and identities (the HF-logits oracle is the
// Python reference test).
#include <cmath>

#include <ATen/ATen.h>

#include "model/generation.h"
#include "model/layers/attention_kernel.h"
#include "model/layers/rotary.h"
#include "model/random_init.h"
#include "model/text_model.h"
#include "tests/unit/test_support.h"

namespace mha2mla {
namespace {

DecoderConfig small_config() {
  DecoderConfig c;
  c.vocab_size = 97;
  c.hidden = 64;
  c.intermediate = 96;
  c.layers = 2;
  c.heads = 4;
  c.kv_heads = 2;
  c.head_dim = 16;
  c.rms_eps = 1e-6;
  c.qkv_bias = true;
  c.rope.head_dim = 16;
  c.rope.theta = 10000;
  return c;
}

TextModel random_model(const DecoderConfig& config, uint64_t seed = 7) {
  TextModel model(config, at::TensorOptions().dtype(at::kDouble));
  init_random([&](const ParamVisitor& v) { model.visit(v); }, seed, 0.08);
  return model;
}

TEST(Rotary, MatchesTheClosedFormPerPair) {
  RopeConfig config;
  config.head_dim = 8;
  config.theta = 500;
  RotaryEmbedding rope(config);
  at::Tensor positions = at::tensor({0, 3, 17}, at::kLong).view({1, 3});
  auto [cos, sin] = rope.cos_sin(positions, at::kDouble);
  for (int64_t t = 0; t < 3; ++t) {
    double pos = positions[0][t].item<double>();
    for (int64_t j = 0; j < 4; ++j) {
      double freq = 1.0 / std::pow(500.0, 2.0 * j / 8.0);
      for (int64_t dim : {j, j + 4}) {  // rotate_half layout: pair j is dims j and j + d/2
        EXPECT_NEAR(cos[0][t][dim].item<double>(), std::cos(pos * freq), 2e-5);
        EXPECT_NEAR(sin[0][t][dim].item<double>(), std::sin(pos * freq), 2e-5);
      }
    }
  }
}

TEST(Rotary, Llama3ScalingFollowsThePublishedFormula) {
  RopeConfig config;
  config.head_dim = 64;
  config.theta = 500000;
  config.scaling = "llama3";
  config.factor = 8;
  config.low_freq_factor = 1;
  config.high_freq_factor = 4;
  config.original_max_position = 8192;
  RotaryEmbedding rope(config);
  for (int64_t j = 0; j < 32; ++j) {
    double base = 1.0 / std::pow(500000.0, 2.0 * j / 64.0);
    double wavelen = 2 * M_PI / base;
    double low_wavelen = 8192.0 / 1, high_wavelen = 8192.0 / 4;
    double expected;
    if (wavelen < high_wavelen) {
      expected = base;
    } else if (wavelen > low_wavelen) {
      expected = base / 8;
    } else {
      double smooth = (8192.0 / wavelen - 1) / (4 - 1);
      expected = (1 - smooth) * base / 8 + smooth * base;
    }
    EXPECT_NEAR(rope.inv_freq()[j].item<double>() / expected, 1.0, 1e-5) << "pair " << j;
  }
}

TEST(Rotary, MropeGivesEachPairItsAxisPosition) {
  RopeConfig config;
  config.head_dim = 16;  // 8 pairs: t gets 2, h gets 3, w gets 3
  config.mrope_section = {2, 3, 3};
  RotaryEmbedding rope(config);
  at::Tensor positions = at::tensor({5, 11, 23}, at::kLong).view({3, 1, 1});  // t=5, h=11, w=23
  auto [cos, sin] = rope.cos_sin(positions, at::kDouble);
  const int64_t axis_pos[3] = {5, 11, 23};
  for (int64_t j = 0; j < 8; ++j) {
    int64_t axis = rope.axis_of_pair(j);
    EXPECT_EQ(axis, j < 2 ? 0 : j < 5 ? 1 : 2);
    double angle = axis_pos[axis] / std::pow(10000.0, 2.0 * j / 16.0);
    EXPECT_NEAR(cos[0][0][j].item<double>(), std::cos(angle), 2e-5);
    EXPECT_NEAR(cos[0][0][j + 8].item<double>(), std::cos(angle), 2e-5);
    EXPECT_NEAR(sin[0][0][j + 8].item<double>(), std::sin(angle), 2e-5);
  }
}

TEST(AttentionKernel, GroupedAttentionEqualsNaivePerHeadSoftmax) {
  at::manual_seed(3);
  const int64_t B = 2, H = 6, Hkv = 2, T = 5, S = 7, d = 4;
  auto opts = at::TensorOptions().dtype(at::kDouble);
  at::Tensor q = at::randn({B, H, T, d}, opts), k = at::randn({B, Hkv, S, d}, opts), v = at::randn({B, Hkv, S, 3}, opts);
  at::Tensor bias = attention_bias(B, T, S - T, at::Tensor(), at::Tensor(), at::kDouble, at::kCPU);
  at::Tensor out = grouped_attention(q, k, v, bias, 0.5);
  for (int64_t b = 0; b < B; ++b)
    for (int64_t h = 0; h < H; ++h)
      for (int64_t t = 0; t < T; ++t) {
        int64_t g = h / (H / Hkv);
        std::vector<double> scores;
        for (int64_t s = 0; s <= S - T + t; ++s) scores.push_back(0.5 * q[b][h][t].dot(k[b][g][s]).item<double>());
        double max = *std::max_element(scores.begin(), scores.end()), total = 0;
        for (double& x : scores) total += (x = std::exp(x - max));
        for (int64_t e = 0; e < 3; ++e) {
          double expected = 0;
          for (size_t s = 0; s < scores.size(); ++s) expected += scores[s] / total * v[b][g][s][e].item<double>();
          EXPECT_NEAR(out[b][h][t][e].item<double>(), expected, 1e-12);
        }
      }
}

// Long prompts go through the kernel in causal blocks of queries; an independent one-pass computation (keys and
// values repeated per query head, the whole score matrix) is the oracle, forward and gradients, with cached keys
// before the prompt, right padding and two packed segments. No row has every key masked (left padding would).
TEST(AttentionKernel, CausalBlocksEqualOnePassOverRepeatedKeys) {
  at::manual_seed(5);
  const int64_t B = 2, H = 6, Hkv = 2, T = 150, past = 20, S = past + T, d = 8;
  auto opts = at::TensorOptions().dtype(at::kDouble);
  at::Tensor q = at::randn({B, H, T, d}, opts).requires_grad_(), k = at::randn({B, Hkv, S, d}, opts).requires_grad_();
  at::Tensor v = at::randn({B, Hkv, S, 5}, opts).requires_grad_();
  at::Tensor valid = at::ones({B, S}, at::kLong), segments = at::zeros({B, S}, at::kLong);
  valid[1].narrow(0, S - 30, 30).fill_(0);
  segments[0].narrow(0, 97, S - 97).fill_(1);
  at::Tensor bias = attention_bias(B, T, past, valid, segments, at::kDouble, at::kCPU);
  at::Tensor out = grouped_attention(q, k, v, bias, 0.3);

  at::Tensor k_heads = k.repeat_interleave(H / Hkv, 1), v_heads = v.repeat_interleave(H / Hkv, 1);
  at::Tensor expected = at::matmul(at::softmax(at::matmul(q, k_heads.transpose(-2, -1)) * 0.3 + bias, -1), v_heads);
  EXPECT_LT((out - expected).abs().max().item<double>(), 1e-12);

  at::Tensor weights = at::randn_like(out);
  auto grads = [&](const at::Tensor& y) {
    (y * weights).sum().backward();
    std::vector<at::Tensor> g;
    for (at::Tensor* x : {&q, &k, &v}) {
      g.push_back(x->grad().clone());
      x->mutable_grad() = at::Tensor();
    }
    return g;
  };
  auto ours = grads(out), reference = grads(expected);
  for (size_t i = 0; i < 3; ++i) EXPECT_LT((ours[i] - reference[i]).abs().max().item<double>(), 1e-12) << "input " << i;
}

TEST(AttentionKernel, BiasEncodesCausalityPaddingAndSegments) {
  at::Tensor valid = at::tensor({0, 1, 1, 1}, at::kLong).view({1, 4});
  at::Tensor segments = at::tensor({0, 0, 0, 1}, at::kLong).view({1, 4});
  at::Tensor bias = attention_bias(1, 4, 0, valid, segments, at::kFloat, at::kCPU)[0][0];
  for (int64_t i = 0; i < 4; ++i)
    for (int64_t j = 0; j < 4; ++j) {
      bool allowed = j <= i && j != 0 && (i == 3) == (j == 3);
      EXPECT_EQ(bias[i][j].item<float>() == 0.0f, allowed) << i << "," << j;
    }
}

TEST(TextModel, CachedGreedyDecodingEqualsRerunningTheFullSequence) {
  for (bool mrope : {false, true}) {
    DecoderConfig config = small_config();
    if (mrope) config.rope.mrope_section = {2, 3, 3};
    TextModel model = random_model(config);
    at::Tensor ids = at::tensor({5, 9, 2, 77, 31, 0, 12, 8}, at::kLong).view({2, 4});
    GreedyRequest request;
    request.prompt_embeddings = model.embed(ids);
    request.prompt.attention_mask = at::tensor({0, 1, 1, 1, 1, 1, 1, 1}, at::kLong).view({2, 4});  // left padding
    at::Tensor positions = default_positions(2, 4, request.prompt.attention_mask, at::kCPU);
    request.prompt.positions = mrope ? positions.unsqueeze(0).expand({3, 2, 4}).contiguous() : positions;
    request.max_new_tokens = 6;
    GreedyResult cached = generate_greedy(model, request);
    request.use_cache = false;
    GreedyResult rerun = generate_greedy(model, request);
    EXPECT_TRUE(at::equal(cached.tokens, rerun.tokens)) << cached.tokens << rerun.tokens;
    EXPECT_TRUE(at::allclose(cached.step_logits, rerun.step_logits, 1e-9, 1e-9));
    EXPECT_GT(cached.cache_bytes, 0);
  }
}

TEST(TextModel, LeftPaddingDoesNotChangeTheValidTokensLogits) {
  TextModel model = random_model(small_config());
  at::Tensor ids = at::tensor({4, 8, 15, 16, 23}, at::kLong).view({1, 5});
  TextBatch plain;
  plain.positions = default_positions(1, 5, at::Tensor(), at::kCPU);
  at::Tensor expected = model.logits(model.forward(model.embed(ids), plain));

  at::Tensor padded_ids = at::tensor({0, 0, 4, 8, 15, 16, 23}, at::kLong).view({1, 7});
  TextBatch padded;
  padded.attention_mask = at::tensor({0, 0, 1, 1, 1, 1, 1}, at::kLong).view({1, 7});
  padded.positions = default_positions(1, 7, padded.attention_mask, at::kCPU);
  at::Tensor got = model.logits(model.forward(model.embed(padded_ids), padded)).narrow(1, 2, 5);
  EXPECT_TRUE(at::allclose(got, expected, 1e-10, 1e-10));
}

TEST(TextModel, PackedSamplesEqualSeparateRuns) {
  TextModel model = random_model(small_config());
  at::Tensor a = at::tensor({3, 1, 4, 1}, at::kLong).view({1, 4});
  at::Tensor b = at::tensor({5, 9, 2}, at::kLong).view({1, 3});
  auto run = [&](const at::Tensor& ids) {
    TextBatch batch;
    batch.positions = default_positions(1, ids.size(1), at::Tensor(), at::kCPU);
    return model.logits(model.forward(model.embed(ids), batch));
  };
  TextBatch packed;
  packed.positions = at::tensor({0, 1, 2, 3, 0, 1, 2}, at::kLong).view({1, 7});
  packed.segments = at::tensor({0, 0, 0, 0, 1, 1, 1}, at::kLong).view({1, 7});
  at::Tensor logits = model.logits(model.forward(model.embed(at::cat({a, b}, 1)), packed));
  EXPECT_TRUE(at::allclose(logits.narrow(1, 0, 4), run(a), 1e-10, 1e-10));
  EXPECT_TRUE(at::allclose(logits.narrow(1, 4, 3), run(b), 1e-10, 1e-10));
}

TEST(TextModel, CrossEntropyIgnoresMaskedLabelsAndMatchesLogSoftmax) {
  at::Tensor logits = at::randn({1, 3, 5}, at::kDouble);
  at::Tensor labels = at::tensor({-100, 2, -100}, at::kLong).view({1, 3});
  auto [loss, counted] = next_token_cross_entropy(logits, labels);
  EXPECT_TRUE(counted[0][0].item<bool>());
  EXPECT_FALSE(counted[0][1].item<bool>());
  double expected = -at::log_softmax(logits[0][0], -1)[2].item<double>();
  EXPECT_NEAR(loss[0][0].item<double>(), expected, 1e-6);
  EXPECT_EQ(loss[0][1].item<double>(), 0.0);
}

}  // namespace
}  // namespace mha2mla
