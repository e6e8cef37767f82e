// The language model of Llama / Qwen2 (and of the VLMs): token embeddings, decoder layers, final norm,
// lm_head (tied or not), rotary tables, and the per-batch attention inputs every layer shares.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "model/decoder_layer.h"
#include "model/kv_cache.h"
#include "model/layers/rotary.h"

namespace mha2mla {

struct DecoderConfig {
  int64_t vocab_size = 0;
  int64_t hidden = 0;
  int64_t intermediate = 0;
  int64_t layers = 0;
  int64_t heads = 0;
  int64_t kv_heads = 0;
  int64_t head_dim = 0;
  double rms_eps = 1e-6;
  bool qkv_bias = false;
  bool o_bias = false;
  bool mlp_bias = false;
  bool tie_embeddings = false;
  std::string activation = "silu";
  RopeConfig rope;
};

// One batch as the language model sees it (embeddings come separately: VLMs merge image features first).
struct TextBatch {
  at::Tensor positions;        // int64 [B, T], or [3, B, T] for M-RoPE
  at::Tensor attention_mask;   // [B, T] 1 = token, 0 = padding; undefined = all tokens
  at::Tensor segments;         // [B, T] packed-sample ids; undefined = one sample per row
  at::Tensor image_mask;       // [B, T] bool, true at image tokens; undefined = text only
};

struct ForwardOptions {
  AttentionPath path = AttentionPath::teacher;
  ModelCache* cache = nullptr;     // decoding: appended to, attended over
  LayerObserver observer;          // per-layer attention inputs/outputs (distillation, calibration)
  int64_t stop_after_layer = -1;   // >= 0: return the hidden state after this layer (no final norm)
};

class TextModel {
 public:
  // With a tensor-parallel group, every layer keeps this rank's heads and MLP slice (model/tensor_parallel.h);
  // embeddings, norms and lm_head stay whole.
  TextModel(const DecoderConfig& config, const at::TensorOptions& options, const dist::TensorParallel& tp = {});

  at::Tensor embed(const at::Tensor& token_ids) const;
  // Returns the final-normed hidden states [B, T, hidden].
  at::Tensor forward(const at::Tensor& embeddings, const TextBatch& batch, const ForwardOptions& options = {});
  at::Tensor logits(const at::Tensor& hidden) const;

  // Builds the rotary tables and the attention bias for `batch` (and the cache's past, when given).
  AttentionInputs attention_inputs(const TextBatch& batch, int64_t tokens, ModelCache* cache) const;

  // A fresh decoding cache with one layer cache per layer for the chosen path (`options`: the student's latent
  // cache storage; the teacher takes none).
  ModelCache make_cache(AttentionPath path, const LatentCacheOptions& options = {});

  // HF names relative to the text model: embed_tokens.weight, layers.N..., norm.weight, lm_head.weight.
  void visit(const ParamVisitor& visitor);

  const DecoderConfig& config() const { return config_; }
  const RotaryEmbedding& rope() const { return rope_; }
  at::TensorOptions options() const { return options_; }
  const dist::TensorParallel& tensor_parallel() const { return tp_; }

  at::Tensor embed_tokens;     // [vocab, hidden]
  std::vector<DecoderLayer> layers;
  RmsNorm norm;
  Linear lm_head;              // weight undefined when tied to embed_tokens

 private:
  DecoderConfig config_;
  RotaryEmbedding rope_;
  at::TensorOptions options_;
  dist::TensorParallel tp_;
};

// Default positions 0..T-1 for every row, or HF's cumsum(mask) - 1 (padding at 1) when a mask is given.
at::Tensor default_positions(int64_t batch, int64_t tokens, const at::Tensor& attention_mask, const at::Device& device);

}  // namespace mha2mla
