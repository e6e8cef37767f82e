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
  // Replicated across tensor-parallel ranks although trainable (its gradient must be summed over them): each
  // rank's gradient covers only the heads it computes. With shard_dim >= 0, the slice is summed over the ranks
  // holding the same indices (KV heads shared when kv_heads < tensor_parallel).
  bool tp_replicated_trainable = false;
  // Tensor-parallel ranks holding this same slice (> 1 only for shared KV heads): a global gradient norm counts
  // a sharded slice's squares once per holder, so it divides them by this.
  int64_t tp_copies = 1;
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

// Visits this rank's slice `indices` of dimension `dim` of a tensor `full_size` long along it, held by `copies`
// tensor-parallel ranks (> 1: shared, its gradient summed over the holders).
inline void visit_slice(const ParamVisitor& visit, const std::string& name, at::Tensor& tensor, int64_t dim,
                        const std::vector<int64_t>& indices, int64_t full_size, int64_t copies) {
  ParamRef ref;
  ref.name = name;
  ref.tensor = &tensor;
  ref.shard_dim = dim;
  ref.shard_indices = indices;
  ref.full_size = full_size;
  ref.tp_copies = copies;
  ref.tp_replicated_trainable = copies > 1;
  visit(ref);
}

}  // namespace mha2mla
