// Attention blocks of a decoder layer. `AttentionBlock` is the hook point: the original (teacher) GQA
// attention and the converted MLA student (model/mla/) both implement it and sit side by side in one layer.
#pragma once

#include <memory>
#include <string>

#include <ATen/core/Tensor.h>

#include "distributed/tensor_parallel.h"
#include "model/kv_cache.h"
#include "model/layers/linear.h"
#include "model/params.h"
#include "model/tensor_parallel.h"

namespace mha2mla {

// What every layer's attention needs for one forward pass, built once per batch by the model.
struct AttentionInputs {
  at::Tensor cos, sin;     // [B, T, head_dim] rotary tables of the new tokens (M-RoPE already merged)
  at::Tensor bias;         // [B, 1, T, S] additive: causal + padding + packing; S = cached + T
  at::Tensor image_mask;   // [B, T] bool: true where the token is an image token (MLA modality routing)
};

class AttentionBlock {
 public:
  virtual ~AttentionBlock() = default;
  // x: the normed layer input [B, T, hidden]; returns the block output after o_proj [B, T, hidden].
  // With a cache, appends this step's keys (or latents) and attends over everything cached.
  virtual at::Tensor forward(const at::Tensor& x, const AttentionInputs& inputs, LayerCache* cache) = 0;
  virtual std::unique_ptr<LayerCache> make_cache(const LatentCacheOptions& options) const = 0;
  virtual void visit(const std::string& prefix, const ParamVisitor& visitor) = 0;
};

struct AttentionShape {
  int64_t hidden = 0;
  int64_t heads = 0;      // query heads held by this rank
  int64_t kv_heads = 0;   // KV heads held by this rank
  int64_t head_dim = 0;
  bool qkv_bias = false;  // Qwen2: q/k/v have biases, o_proj none
  bool o_bias = false;
  double scale() const;   // head_dim^-0.5
};

// The original multi-head / grouped-query attention, exactly as HF's eager path computes it. Under tensor
// parallelism (model/tensor_parallel.h) it holds this rank's heads: q/k/v column-parallel, o_proj row-parallel.
class GqaAttention final : public AttentionBlock {
 public:
  // `shape` describes the whole layer; with a tensor-parallel group the layer keeps this rank's heads.
  GqaAttention(const AttentionShape& shape, const at::TensorOptions& options, const dist::TensorParallel& tp = {});

  at::Tensor forward(const at::Tensor& x, const AttentionInputs& inputs, LayerCache* cache) override;
  // forward(x) with q_proj(x) [B, T, heads * head_dim] (before RoPE) already computed, so that the caller can
  // keep it: the student shares q_proj, and local distillation reuses the teacher's instead of recomputing it.
  // For passes without gradients (the teacher's): under tensor parallelism no gradient reaches x through the
  // given queries.
  at::Tensor forward_with_queries(const at::Tensor& x, const at::Tensor& projected_queries, const AttentionInputs& inputs,
                                  LayerCache* cache);
  // Refuses quantisation: only the MLA latent cache is quantised.
  std::unique_ptr<LayerCache> make_cache(const LatentCacheOptions& options) const override;
  // q_proj and o_proj always; k_proj and v_proj unless dropped.
  void visit(const std::string& prefix, const ParamVisitor& visitor) override;

  // An exported MLA checkpoint (model/export/) ships only the student: the layer keeps q_proj / o_proj, which
  // the student shares, and loses k_proj / v_proj. The teacher path then fails with a message saying so.
  void drop_key_value_projections();
  bool has_key_value_projections() const { return k_proj.weight.defined(); }

  // Pre-RoPE projections [B, heads, T, head_dim] (calibration measures RoPE-invariant pair norms on these).
  at::Tensor project_queries(const at::Tensor& x) const;
  at::Tensor project_keys(const at::Tensor& x) const;
  at::Tensor project_values(const at::Tensor& x) const;

  const AttentionShape& shape() const { return shape_; }  // this rank's heads
  const HeadPartition& partition() const { return partition_; }
  const dist::TensorParallel& tensor_parallel() const { return tp_; }

  Linear q_proj, k_proj, v_proj, o_proj;

 private:
  // The forward after f (x already copied into the tensor-parallel region), from projected queries.
  at::Tensor attend(const at::Tensor& x, const at::Tensor& projected_queries, const AttentionInputs& inputs,
                    LayerCache* cache);

  AttentionShape shape_;
  HeadPartition partition_;
  dist::TensorParallel tp_;
};

// [B, T, heads*d] -> [B, heads, T, d] and back.
at::Tensor split_heads(const at::Tensor& x, int64_t heads);
at::Tensor merge_heads(const at::Tensor& x);

}  // namespace mha2mla
