#include "model/attention.h"

#include <cmath>

#include <ATen/ATen.h>

#include "common/error.h"
#include "model/layers/attention_kernel.h"
#include "model/layers/rotary.h"

namespace mha2mla {

double AttentionShape::scale() const { return 1.0 / std::sqrt(static_cast<double>(head_dim)); }

at::Tensor split_heads(const at::Tensor& x, int64_t heads) {
  return x.view({x.size(0), x.size(1), heads, -1}).transpose(1, 2);
}

at::Tensor merge_heads(const at::Tensor& x) {
  return x.transpose(1, 2).reshape({x.size(0), x.size(2), -1});
}

namespace {

AttentionShape local_shape(AttentionShape shape, const HeadPartition& partition) {
  shape.heads = partition.heads;
  shape.kv_heads = static_cast<int64_t>(partition.kv_heads.size());
  return shape;
}

}  // namespace

GqaAttention::GqaAttention(const AttentionShape& full, const at::TensorOptions& options, const dist::TensorParallel& tp)
    : partition_(partition_heads(full.heads, full.kv_heads, tp.size(), tp.rank(), "attention")), tp_(tp) {
  shape_ = local_shape(full, partition_);
  const AttentionShape& s = shape_;
  q_proj = Linear(s.hidden, s.heads * s.head_dim, s.qkv_bias, options);
  k_proj = Linear(s.hidden, s.kv_heads * s.head_dim, s.qkv_bias, options);
  v_proj = Linear(s.hidden, s.kv_heads * s.head_dim, s.qkv_bias, options);
  o_proj = Linear(s.heads * s.head_dim, s.hidden, s.o_bias, options);
  if (tp.enabled()) {
    std::vector<int64_t> query_rows = head_rows(query_head_list(partition_), s.head_dim);
    std::vector<int64_t> kv_rows = head_rows(partition_.kv_heads, s.head_dim);
    q_proj.shard = output_shard(query_rows, full.heads * s.head_dim);
    k_proj.shard = output_shard(kv_rows, full.kv_heads * s.head_dim, partition_.kv_copies);
    v_proj.shard = output_shard(kv_rows, full.kv_heads * s.head_dim, partition_.kv_copies);
    o_proj.shard = input_shard(query_rows, full.heads * s.head_dim);
  }
}

at::Tensor GqaAttention::project_queries(const at::Tensor& x) const { return split_heads(q_proj.forward(x), shape_.heads); }
namespace {

void require_key_value(const GqaAttention& attention) {
  if (!attention.has_key_value_projections())
    fail_with_hint("use the student attention (AttentionPath::student), or load the converted (not exported) checkpoint",
                   "the teacher attention was requested, but this model is an MLA export without the teacher's "
                   "k_proj / v_proj");
}

}  // namespace

at::Tensor GqaAttention::project_keys(const at::Tensor& x) const {
  require_key_value(*this);
  return split_heads(k_proj.forward(x), shape_.kv_heads);
}
at::Tensor GqaAttention::project_values(const at::Tensor& x) const {
  require_key_value(*this);
  return split_heads(v_proj.forward(x), shape_.kv_heads);
}

at::Tensor GqaAttention::forward(const at::Tensor& input, const AttentionInputs& inputs, LayerCache* cache) {
  at::Tensor x = dist::copy_to_tensor_parallel(input, tp_);  // f: each rank uses x for its own heads
  return attend(x, q_proj.forward(x), inputs, cache);
}

at::Tensor GqaAttention::forward_with_queries(const at::Tensor& input, const at::Tensor& projected_queries,
                                              const AttentionInputs& inputs, LayerCache* cache) {
  return attend(dist::copy_to_tensor_parallel(input, tp_), projected_queries, inputs, cache);
}

at::Tensor GqaAttention::attend(const at::Tensor& x, const at::Tensor& projected_queries, const AttentionInputs& inputs,
                                LayerCache* cache) {
  at::Tensor q = apply_rotary(split_heads(projected_queries, shape_.heads), inputs.cos, inputs.sin);
  at::Tensor k = apply_rotary(project_keys(x), inputs.cos, inputs.sin);
  at::Tensor v = project_values(x);
  if (cache) std::tie(k, v) = static_cast<TeacherKvCache*>(cache)->append(k, v);
  at::Tensor attended = grouped_attention(q, k, v, inputs.bias, shape_.scale());
  return row_parallel_forward(o_proj, merge_heads(attended), tp_);  // g inside
}

std::unique_ptr<LayerCache> GqaAttention::make_cache(const LatentCacheOptions& options) const {
  if (options.quantization != KvQuantization::none)
    fail("KV-cache quantization '{}' applies to the MLA latent cache; the teacher's key/value cache is not quantised",
         to_string(options.quantization));
  return std::make_unique<TeacherKvCache>();
}

void GqaAttention::drop_key_value_projections() {
  k_proj = Linear();
  v_proj = Linear();
}

void GqaAttention::visit(const std::string& prefix, const ParamVisitor& visitor) {
  q_proj.visit(join_name(prefix, "q_proj"), visitor);
  if (has_key_value_projections()) {
    k_proj.visit(join_name(prefix, "k_proj"), visitor);
    v_proj.visit(join_name(prefix, "v_proj"), visitor);
  }
  o_proj.visit(join_name(prefix, "o_proj"), visitor);
}

}  // namespace mha2mla
