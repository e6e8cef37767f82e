#include "model/text_model.h"

#include <ATen/ATen.h>

#include "common/error.h"
#include "model/layers/attention_kernel.h"

namespace mha2mla {

TextModel::TextModel(const DecoderConfig& config, const at::TensorOptions& options, const dist::TensorParallel& tp)
    : config_(config), rope_(config.rope), options_(options), tp_(tp) {
  MHA2MLA_CHECK(config.heads % config.kv_heads == 0, "{} heads not divisible by {} kv heads", config.heads,
                config.kv_heads);
  embed_tokens = at::zeros({config.vocab_size, config.hidden}, options);
  AttentionShape shape{config.hidden, config.heads, config.kv_heads, config.head_dim, config.qkv_bias, config.o_bias};
  layers.resize(static_cast<size_t>(config.layers));
  for (auto& layer : layers) {
    layer.input_layernorm = RmsNorm(config.hidden, config.rms_eps, options);
    layer.self_attn = std::make_unique<GqaAttention>(shape, options, tp);
    layer.post_attention_layernorm = RmsNorm(config.hidden, config.rms_eps, options);
    layer.mlp = GatedMlp(config.hidden, config.intermediate, config.mlp_bias, config.activation, options, tp);
  }
  norm = RmsNorm(config.hidden, config.rms_eps, options);
  if (!config.tie_embeddings) lm_head = Linear(config.hidden, config.vocab_size, false, options);
}

at::Tensor TextModel::embed(const at::Tensor& token_ids) const { return at::embedding(embed_tokens, token_ids); }

AttentionInputs TextModel::attention_inputs(const TextBatch& batch, int64_t tokens, ModelCache* cache) const {
  const int64_t B = batch.positions.size(batch.positions.dim() == 3 ? 1 : 0);
  AttentionInputs inputs;
  std::tie(inputs.cos, inputs.sin) = rope_.cos_sin(batch.positions, options_.dtype().toScalarType());
  const int64_t past = cache ? cache->length() : 0;
  at::Tensor key_valid;
  if (cache) {
    at::Tensor now = batch.attention_mask.defined()
                         ? batch.attention_mask.to(at::kBool)
                         : at::ones({B, tokens}, at::TensorOptions().dtype(at::kBool).device(options_.device()));
    cache->key_valid = cache->key_valid.defined() ? at::cat({cache->key_valid, now}, 1) : now;
    key_valid = cache->key_valid;
  } else if (batch.attention_mask.defined()) {
    key_valid = batch.attention_mask;
  }
  inputs.bias = attention_bias(B, tokens, past, key_valid, batch.segments, options_.dtype().toScalarType(),
                               options_.device());
  inputs.image_mask = batch.image_mask.defined()
                          ? batch.image_mask.to(at::kBool)
                          : at::zeros({B, tokens}, at::TensorOptions().dtype(at::kBool).device(options_.device()));
  return inputs;
}

at::Tensor TextModel::forward(const at::Tensor& embeddings, const TextBatch& batch, const ForwardOptions& options) {
  const int64_t tokens = embeddings.size(1);
  AttentionInputs inputs = attention_inputs(batch, tokens, options.cache);
  at::Tensor h = embeddings;
  for (size_t i = 0; i < layers.size(); ++i) {
    LayerCache* layer_cache = options.cache ? options.cache->layers[i].get() : nullptr;
    h = layers[i].forward(h, inputs, options.path, layer_cache, static_cast<int64_t>(i), options.observer);
    if (options.stop_after_layer == static_cast<int64_t>(i)) return h;
  }
  return norm.forward(h);
}

at::Tensor TextModel::logits(const at::Tensor& hidden) const {
  return lm_head.weight.defined() ? lm_head.forward(hidden) : at::linear(hidden, embed_tokens);
}

ModelCache TextModel::make_cache(AttentionPath path, const LatentCacheOptions& options) {
  ModelCache cache;
  for (auto& layer : layers) cache.layers.push_back(layer.attention(path).make_cache(options));
  return cache;
}

void TextModel::visit(const ParamVisitor& visitor) {
  visit_full(visitor, "embed_tokens.weight", embed_tokens);
  for (size_t i = 0; i < layers.size(); ++i) layers[i].visit("layers." + std::to_string(i), visitor);
  norm.visit("norm", visitor);
  if (lm_head.weight.defined()) lm_head.visit("lm_head", visitor);
}

at::Tensor default_positions(int64_t batch, int64_t tokens, const at::Tensor& attention_mask, const at::Device& device) {
  if (!attention_mask.defined())
    return at::arange(tokens, at::TensorOptions().dtype(at::kLong).device(device)).unsqueeze(0).expand({batch, tokens});
  at::Tensor mask = attention_mask.to(at::kLong);
  return (mask.cumsum(-1) - 1).masked_fill(mask == 0, 1);
}

}  // namespace mha2mla
