// Named parameters without torch::nn: every module lists its tensors through a visitor, with the name the
// checkpoint uses (relative to the module) and, under tensor parallelism, which slice of the full tensor this
// rank holds. Loading, saving, freezing, optimisers and gradient sync are all walks over this list.
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include <ATen/core/Tensor.h>

namespace mha2mla {

struct ParamRef {
  std::string name;                     // e.g. "layers.3.self_attn.q_proj.weight"
  at::Tensor* tensor = nullptr;
  // Tensor parallelism: this rank holds rows/cols `shard_indices` of the full tensor along `shard_dim`.
  int64_t shard_dim = -1;               // -1: the full tensor (replicated)
  std::vector<int64_t> shard_indices;
  int64_t full_size = 0;                // size of the full tensor along shard_dim
  // Replicated across tensor-parallel ranks although trainable (its gradient must be summed over them).
  bool tp_replicated_trainable = false;
};

using ParamVisitor = std::function<void(ParamRef&)>;

inline std::string join_name(const std::string& prefix, const std::string& name) {
  return prefix.empty() ? name : prefix + "." + name;
}

// Visits a tensor that every rank holds whole.
inline void visit_full(const ParamVisitor& visit, const std::string& name, at::Tensor& tensor) {
  ParamRef ref;
  ref.name = name;
  ref.tensor = &tensor;
  visit(ref);
}

}  // namespace mha2mla
