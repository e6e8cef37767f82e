// Quantised latent caches: the codes and scales follow the documented scheme (hand-computed bytes, the rounding
// bound), the bytes a cache reports equal the formula, a quantised layer equals an independently fake-quantised
// decompressed reference, and whole-model decoding with int8 / int4 stays close to the unquantised one.
#include <cmath>

#include <ATen/ATen.h>
#include <c10/util/Half.h>

#include "model/layers/attention_kernel.h"
#include "model/layers/rotary.h"
#include "model/mla/kv_quantization.h"
#include "model/mla/latent_kv_cache.h"
#include "tests/unit/converted_model.h"
#include "tests/unit/test_support.h"

namespace mha2mla {
namespace {

using testing::converted_tiny;
using testing::left_padded_request;
using testing::relative_difference;
using testing::TinyConversion;

LatentCacheOptions quantised(KvQuantization quantization, int64_t group_size) {
  LatentCacheOptions options;
  options.quantization = quantization;
  options.group_size = group_size;
  return options;
}

// An independent fake quantiser: element loops in float, float16 scales through c10::Half, as documented in
// model/mla/kv_quantization.h.
at::Tensor fake_quantise(const at::Tensor& rows, int bits, int64_t group_size) {
  at::Tensor x = rows.to(at::kFloat).contiguous().clone();
  const int64_t width = x.size(-1), count = x.numel() / width;
  const float limit = static_cast<float>((1 << (bits - 1)) - 1);
  float* data = x.data_ptr<float>();
  for (int64_t row = 0; row < count; ++row)
    for (int64_t start = 0; start < width; start += group_size) {
      float* group = data + row * width + start;
      const int64_t n = std::min(group_size, width - start);
      float amax = 0;
      for (int64_t i = 0; i < n; ++i) amax = std::max(amax, std::fabs(group[i]));
      const float scale = static_cast<float>(c10::Half(std::min(amax / limit, 65504.0f)));
      for (int64_t i = 0; i < n; ++i) {
        float code = scale == 0 ? 0.0f : std::nearbyint(group[i] / scale);
        group[i] = std::max(-limit, std::min(limit, code)) * scale;
      }
    }
  return x.to(rows.scalar_type());
}

TEST(KvQuantization, Int4PacksTwoCodesPerByteLowNibbleFirst) {
  // One group of 4 with max|x| = 7: the int4 scale is exactly 1. Codes 7, -7, round(3.5) = 4, round(-1.75) = -2,
  // stored +8 -> 15, 1, 12, 6 -> bytes 15 + 16 * 1 = 31 and 12 + 16 * 6 = 108.
  at::Tensor x = at::tensor(std::vector<float>{7, -7, 3.5, -1.75}).view({1, 4});
  QuantisedRows q = quantize_rows(x, KvQuantization::int4, 4);
  EXPECT_TRUE(at::equal(q.codes, at::tensor(std::vector<uint8_t>{31, 108}, at::kByte).view({1, 2})));
  EXPECT_EQ(q.scales.item<float>(), 1.0f);
  EXPECT_TRUE(at::equal(dequantize_rows(q, KvQuantization::int4, 4, 4, at::kFloat),
                        at::tensor(std::vector<float>{7, -7, 4, -2}).view({1, 4})));
  // int8: scale fp16(7/127); 7 -> 127 exactly.
  QuantisedRows q8 = quantize_rows(x, KvQuantization::int8, 4);
  EXPECT_EQ(q8.codes[0][0].item<int8_t>(), 127);
  EXPECT_EQ(q8.codes[0][1].item<int8_t>(), -127);
  EXPECT_EQ(q8.scales.item<float>(), static_cast<float>(c10::Half(7.0f / 127.0f)));
}

TEST(KvQuantization, RoundTripErrorIsAtMostHalfAScaleStepInEveryGroup) {
  at::manual_seed(3);
  at::Tensor x = at::randn({2, 3, 5, 20}) * at::exp(at::randn({2, 3, 5, 1}));  // rows of very different sizes
  x[0][0][0].zero_();                                                                     // an all-zero row
  for (auto [quantization, limit] : {std::pair{KvQuantization::int8, 127.0}, std::pair{KvQuantization::int4, 7.0}})
    for (int64_t group : {4, 8, 6, 20, 32}) {  // 6 and 8 leave a shorter last group; 32 > width
      QuantisedRows q = quantize_rows(x, quantization, group);
      EXPECT_EQ(q.scales.size(-1), (20 + group - 1) / group);
      EXPECT_EQ(q.codes.size(-1), quantized_code_bytes(20, quantization));
      at::Tensor back = dequantize_rows(q, quantization, group, 20, at::kFloat);
      for (int64_t start = 0; start < 20; start += group) {
        const int64_t n = std::min<int64_t>(group, 20 - start);
        at::Tensor part = x.narrow(-1, start, n), error = (back.narrow(-1, start, n) - part).abs();
        at::Tensor step = part.abs().amax(-1, true) / limit;  // the scale before float16 rounding
        EXPECT_TRUE((error <= step * 0.5 * 1.002 + 1e-7).all().item<bool>())
            << to_string(quantization) << " group " << group << " start " << start;
      }
      EXPECT_TRUE(at::equal(back, fake_quantise(x, kv_quantization_bits(quantization), group)));
      EXPECT_EQ(back[0][0][0].abs().max().item<float>(), 0.0f);
    }
}

TEST(KvQuantization, PackedModalityBitsRoundTrip) {
  PackedBits bits;
  at::manual_seed(4);
  std::vector<at::Tensor> parts;
  for (int64_t t : {3, 1, 1, 9, 1, 2}) {
    parts.push_back(at::rand({2, t}) < 0.4);
    bits.append(parts.back());
  }
  EXPECT_TRUE(at::equal(bits.unpack(), at::cat(parts, 1)));
  EXPECT_EQ(bits.length(), 17);
  EXPECT_EQ(bits.bytes(), 2 * 3);
}

// The bytes a decoding cache reports, against the formula and (unquantised) the converter's own KV accounting.
TEST(KvQuantization, CacheBytesFollowTheFormula) {
  TinyConversion c;
  c.variant = "split";
  auto model = converted_tiny(c);
  const auto layouts = model->mla->layouts(model->text->config());
  const MlaLayerLayout& layout = layouts.front();
  const int64_t prompt = 12, new_tokens = 5, cached = prompt + new_tokens - 1, B = 3;
  for (KvQuantization quantization : {KvQuantization::none, KvQuantization::int8, KvQuantization::int4})
    for (int64_t group : {8, 6, 32}) {
      GreedyRequest request = left_padded_request(*model, prompt, new_tokens, 2);
      request.cache_options = quantised(quantization, group);
      GreedyResult result = generate_greedy(*model->text, request);
      int64_t expected = 0;
      for (const auto& l : layouts)
        expected += latent_cache_bytes(l.latent_width(), l.kv_heads, l.rope_dims, request.cache_options, 4, B, cached);
      EXPECT_EQ(result.cache_bytes, expected) << to_string(quantization) << " group " << group;
      // Closed form per token and row: latent 16 values, 2 KV heads x 8 RoPE values.
      const int64_t groups_c = (16 + group - 1) / group, groups_k = (8 + group - 1) / group;
      const int64_t per_token = quantization == KvQuantization::none ? (16 + 2 * 8) * 4
                                : quantization == KvQuantization::int8 ? 16 + 2 * groups_c + 2 * (8 + 2 * groups_k)
                                                                       : 8 + 2 * groups_c + 2 * (4 + 2 * groups_k);
      EXPECT_EQ(expected, static_cast<int64_t>(layouts.size()) * B * (cached * per_token + (cached + 7) / 8));
    }
  EXPECT_DOUBLE_EQ(latent_cache_bytes_per_token(layouts, {}, 2), mla_kv_bytes_per_token(layouts, 2));
  EXPECT_EQ(mla_cache_elements(layout), 2 * (8 + 8));
}

// One layer decoding with a quantised cache equals an independently fake-quantised, decompressed reference: prefill
// and every decode step attend over c and k_R as the cache stores them.
TEST(KvQuantization, QuantisedDecodingEqualsAFakeQuantisedDecompressedReference) {
  for (KvQuantization quantization : {KvQuantization::int8, KvQuantization::int4})
    for (const std::string variant : {"joint", "split", "shared"}) {
      TinyConversion c;
      c.arch = "qwen2";
      c.variant = variant;
      auto model = converted_tiny(c);
      auto& student = static_cast<MlaAttention&>(*model->text->layers[0].student);
      const int64_t T = 11, prefill = 6, group = 4;
      GreedyRequest request = left_padded_request(*model, T, 1, 6);
      const TextBatch& all = request.prompt;
      at::manual_seed(10);
      at::Tensor x = at::randn({3, T, model->text->config().hidden});
      AttentionInputs full = model->text->attention_inputs(all, T, nullptr);

      // Reference: quantise c and k_R of every token independently, decompress, attend.
      const int bits = kv_quantization_bits(quantization);
      at::Tensor c_hat = fake_quantise(student.latent(x, all.image_mask), bits, group);
      at::Tensor k_rope_hat = fake_quantise(student.rope_keys(x, full), bits, group);
      auto [k_nope, v] = student.expand_latent(c_hat, all.image_mask);
      at::Tensor attended = grouped_attention(student.queries(x, full), at::cat({k_rope_hat, k_nope}, -1), v, full.bias,
                                              1.0 / std::sqrt(32.0));
      at::Tensor reference = student.o_proj.forward(merge_heads(attended));
      at::Tensor unquantised = student.forward(x, full, nullptr);

      // The student with a quantised cache: prefill, then one token at a time.
      ModelCache cache;
      cache.layers.push_back(student.make_cache(quantised(quantization, group)));
      std::vector<at::Tensor> outputs;
      for (int64_t start = 0; start < T; start += start < prefill ? prefill : 1) {
        const int64_t t = start < prefill ? prefill : 1;
        TextBatch step;
        step.positions = all.positions.narrow(1, start, t);
        step.attention_mask = all.attention_mask.narrow(1, start, t);
        step.image_mask = all.image_mask.narrow(1, start, t);
        AttentionInputs inputs = model->text->attention_inputs(step, t, &cache);
        outputs.push_back(student.forward(x.narrow(1, start, t), inputs, cache.layers[0].get()));
      }
      at::Tensor decoded = at::cat(outputs, 1);
      const std::string what = to_string(quantization) + " " + variant;
      // Left-padded rows' padding queries attend to nothing real; compare real tokens only.
      at::Tensor real = all.attention_mask.to(at::kBool);
      auto on_real = [&](const at::Tensor& t) { return t.index({real}); };
      EXPECT_LT(relative_difference(on_real(decoded), on_real(reference)), 1e-4) << what;
      // ... and the quantisation is really there: the unquantised layer is much further away.
      EXPECT_GT(relative_difference(on_real(unquantised), on_real(reference)), 1e-3) << what;
    }
}

TEST(KvQuantization, QuantisedCachesDecodeWholeModelsCloseToTheUnquantisedOne) {
  auto model = converted_tiny(TinyConversion{});
  GreedyRequest request = left_padded_request(*model, 12, 6, 7);
  GreedyResult exact = generate_greedy(*model->text, request);
  request.cache_options = quantised(KvQuantization::int8, 32);
  GreedyResult int8 = generate_greedy(*model->text, request);
  request.cache_options = quantised(KvQuantization::int4, 32);
  GreedyResult int4 = generate_greedy(*model->text, request);
  // The prefill logits (step 0) see the same tokens in all three runs; the prompt attends over the cached values.
  const double int8_difference = relative_difference(int8.step_logits.select(1, 0), exact.step_logits.select(1, 0));
  const double int4_difference = relative_difference(int4.step_logits.select(1, 0), exact.step_logits.select(1, 0));
  EXPECT_GT(int8_difference, 0);
  EXPECT_LT(int8_difference, 0.03);
  EXPECT_LT(int4_difference, 0.4);
  EXPECT_GT(int4_difference, int8_difference);
  EXPECT_TRUE(at::isfinite(int4.step_logits).all().item<bool>());
  EXPECT_EQ(int4.tokens.sizes(), exact.tokens.sizes());
}

}  // namespace
}  // namespace mha2mla
