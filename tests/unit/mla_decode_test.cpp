// Decoding with the latent KV cache (shared/method.md section 6): the absorbed attention over compressed past tokens
// equals the decompressed attention (the no-cache forward, or expand_latent + grouped_attention) for every variant,
// mixed image/text prompts and left-padded batches; greedy decoding picks the same tokens.
#include <ATen/ATen.h>

#include "model/layers/attention_kernel.h"
#include "tests/unit/converted_model.h"
#include "tests/unit/test_support.h"

namespace mha2mla {
namespace {

using testing::converted_tiny;
using testing::left_padded_request;
using testing::relative_difference;
using testing::TinyConversion;

constexpr double kTolerance = 1e-4;  // relative, float32

void expect_cached_decoding_matches_recomputation(Model& model, const std::string& what) {
  GreedyRequest request = left_padded_request(model, 12, 6, 3);
  GreedyResult cached = generate_greedy(*model.text, request);
  request.use_cache = false;
  GreedyResult recomputed = generate_greedy(*model.text, request);
  ASSERT_EQ(cached.step_logits.sizes(), recomputed.step_logits.sizes()) << what;
  for (int64_t step = 0; step < cached.step_logits.size(1); ++step) {
    // Step 0 comes from the prefill (decompressed); every later step from the absorbed path.
    double difference = relative_difference(cached.step_logits.select(1, step), recomputed.step_logits.select(1, step));
    ASSERT_LT(difference, kTolerance) << what << ", step " << step;
  }
  EXPECT_TRUE(at::equal(cached.tokens, recomputed.tokens)) << what;
}

TEST(MlaDecode, AbsorbedDecodingMatchesTheDecompressedForwardForEveryVariant) {
  for (const std::string arch : {"llama", "qwen2"})
    for (const std::string variant : {"joint", "split", "shared"}) {
      TinyConversion c;
      c.arch = arch;
      c.variant = variant;
      auto model = converted_tiny(c);
      expect_cached_decoding_matches_recomputation(*model, arch + " " + variant);
    }
}

TEST(MlaDecode, StageOneLayoutsDecodeWithTheLayerInputAsLatent) {
  TinyConversion c;
  c.arch = "qwen2";
  c.stage_one = true;
  c.strategy = "low";
  auto model = converted_tiny(c);
  expect_cached_decoding_matches_recomputation(*model, "stage-1 qwen2");
}

// attend_absorbed directly against the decompressed formula on the same cache, with several queries at once
// (chunked decoding): RoPE and NoPE logits, both modalities, biases, left padding.
TEST(MlaDecode, AbsorbedAttentionEqualsDecompressedAttentionOverOneCache) {
  for (const std::string variant : {"joint", "split", "shared"}) {
    TinyConversion c;
    c.arch = "qwen2";
    c.variant = variant;
    auto model = converted_tiny(c);
    auto& student = static_cast<MlaAttention&>(*model->text->layers[1].student);
    GreedyRequest request = left_padded_request(*model, 11, 1, 5);
    const int64_t past = 8, T = 3;
    at::manual_seed(8);
    at::Tensor x = at::randn({3, past + T, model->text->config().hidden});
    TextBatch all = request.prompt;
    all.image_mask = all.image_mask.clone();
    all.image_mask[1].zero_();  // one row without image tokens beside rows with them
    AttentionInputs inputs = model->text->attention_inputs(all, past + T, nullptr);

    LatentKvCache cache;
    cache.append(student.latent(x, all.image_mask), student.rope_keys(x, inputs), all.image_mask);
    TextBatch chunk;
    chunk.positions = all.positions.narrow(1, past, T);
    AttentionInputs chunk_inputs = model->text->attention_inputs(chunk, T, nullptr);
    chunk_inputs.bias = inputs.bias.narrow(2, past, T);
    at::Tensor q = student.queries(x.narrow(1, past, T), chunk_inputs);

    at::Tensor absorbed = student.attend_absorbed(q, cache, chunk_inputs.bias);
    auto [k_nope, v] = student.expand_latent(cache.latent(), cache.image_mask());
    at::Tensor k = at::cat({cache.rope_keys(), k_nope}, -1);
    at::Tensor decompressed = grouped_attention(q, k, v, chunk_inputs.bias, 1.0 / std::sqrt(32.0));
    // Padded query rows (row 2 has none in the chunk) all count.
    EXPECT_LT(relative_difference(absorbed, decompressed), kTolerance) << variant;
    EXPECT_TRUE(cache.has_image_tokens());
  }
}

TEST(MlaDecode, TheTeacherCacheIsNeverQuantised) {
  auto model = converted_tiny(TinyConversion{});
  LatentCacheOptions int8;
  int8.quantization = KvQuantization::int8;
  EXPECT_ERROR_CONTAINS(model->text->make_cache(AttentionPath::teacher, int8), "applies to the MLA latent cache");
  EXPECT_NO_THROW(model->text->make_cache(AttentionPath::student, int8));
}

}  // namespace
}  // namespace mha2mla
