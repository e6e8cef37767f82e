// y = x W^T + b, optionally with a LoRA adapter: y += scale * (x A^T) B^T.
// Under tensor parallelism a Linear holds a slice of the full layer (LinearShard); the computation here stays
// local, and the blocks that use it add the communication (model/tensor_parallel.h: f before column-parallel
// layers, row_parallel_forward for the row-parallel one).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include <ATen/core/Tensor.h>

#include "model/params.h"

namespace mha2mla {

struct LoraAdapter {
  at::Tensor a;        // [rank, in]
  at::Tensor b;        // [out, rank], zero-initialised so the adapter starts as the identity
  double scale = 0.0;  // alpha / rank
  bool defined() const { return a.defined(); }
};

// The slice of the full layer this rank holds (model/tensor_parallel.h builds them).
//   output (column-parallel): rows `indices` of W, of b, of LoRA B; LoRA A whole (its gradient, which covers only
//            these rows, is summed over the tensor-parallel ranks).
//   input (row-parallel): columns `indices` of W and of LoRA A; b and LoRA B whole. Each rank's x_i W_i^T +
//            s (x_i A_i^T) B^T is a partial sum of the full product (the LoRA term is linear in A's columns too);
//            the bias is added once, after the partial sums are reduced; LoRA B's gradient is summed over the ranks.
struct LinearShard {
  enum class Split { none, output, input };
  Split split = Split::none;
  std::vector<int64_t> indices;  // output rows / input columns of the full weight held here
  int64_t full_size = 0;         // output / input features of the full layer
  int64_t copies = 1;            // tensor-parallel ranks holding the same rows (KV heads when kv_heads < tp)
  // Split::none under tensor parallelism: whole on every rank, but each rank's gradient covers only its own heads
  // (the MLA latent down projections), so it is summed over the ranks.
  bool replicated_trainable = false;
};

struct Linear {
  at::Tensor weight;   // [out, in] (this rank's slice under tensor parallelism)
  at::Tensor bias;     // [out] or undefined
  LoraAdapter lora;
  LinearShard shard;

  Linear() = default;
  Linear(int64_t in_features, int64_t out_features, bool with_bias, const at::TensorOptions& options);

  int64_t in_features() const;
  int64_t out_features() const;

  at::Tensor forward(const at::Tensor& x) const;
  // forward(x) when x W^T + b is already known: `frozen` was computed by a layer that shares this weight and bias
  // (the teacher's q_proj for the student's), so only the adapter's term is added.
  at::Tensor forward_from_frozen(const at::Tensor& x, const at::Tensor& frozen) const;
  // x W^T plus the adapter, without the bias (row-parallel: the bias is added once after the reduction).
  at::Tensor forward_without_bias(const at::Tensor& x) const;

  // Input features of the full layer (differs from in_features() for a row-parallel slice).
  int64_t full_in_features() const;
  // Adds an adapter: `full_a` [rank, full in] is the A of the whole layer (this rank keeps its columns when the
  // input is split), B starts at zero.
  void attach_lora(const at::Tensor& full_a, double scale);

  // The weight with the adapter folded in: W + scale * B A.
  at::Tensor merged_weight() const;

  // weight, bias (when present), and lora_a / lora_b (when present, named "<prefix>.lora_A.weight" as PEFT does),
  // each with its slice under tensor parallelism.
  void visit(const std::string& prefix, const ParamVisitor& visitor);
  // Only the adapter's tensors (the student shares the teacher's weight and visits its own adapters).
  void visit_lora(const std::string& prefix, const ParamVisitor& visitor);
};

}  // namespace mha2mla
