// y = x W^T + b, optionally with a LoRA adapter: y += scale * (x A^T) B^T.
// Under tensor parallelism a Linear holds a shard; the parallel wrappers in distributed/ add the
// communication (this struct stays a plain local computation).
#pragma once

#include <string>

#include <ATen/core/Tensor.h>

#include "model/params.h"

namespace mha2mla {

struct LoraAdapter {
  at::Tensor a;        // [rank, in]
  at::Tensor b;        // [out, rank], zero-initialised so the adapter starts as the identity
  double scale = 0.0;  // alpha / rank
  bool defined() const { return a.defined(); }
};

struct Linear {
  at::Tensor weight;   // [out, in]
  at::Tensor bias;     // [out] or undefined
  LoraAdapter lora;

  Linear() = default;
  Linear(int64_t in_features, int64_t out_features, bool with_bias, const at::TensorOptions& options);

  int64_t in_features() const;
  int64_t out_features() const;

  at::Tensor forward(const at::Tensor& x) const;

  // The weight with the adapter folded in: W + scale * B A.
  at::Tensor merged_weight() const;

  // weight, bias (when present), and lora_a / lora_b (when present, named "<prefix>.lora_A.weight" as PEFT does).
  void visit(const std::string& prefix, const ParamVisitor& visitor);
};

}  // namespace mha2mla
