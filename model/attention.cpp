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

GqaAttention::GqaAttention(const AttentionShape& shape, const at::TensorOptions& options)
    : q_proj(shape.hidden, shape.heads * shape.head_dim, shape.qkv_bias, options),
      k_proj(shape.hidden, shape.kv_heads * shape.head_dim, shape.qkv_bias, options),
      v_proj(shape.hidden, shape.kv_heads * shape.head_dim, shape.qkv_bias, options),
      o_proj(shape.heads * shape.head_dim, shape.hidden, shape.o_bias, options),
      shape_(shape) {}

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

at::Tensor GqaAttention::forward(const at::Tensor& x, const AttentionInputs& inputs, LayerCache* cache) {
  at::Tensor q = apply_rotary(project_queries(x), inputs.cos, inputs.sin);
  at::Tensor k = apply_rotary(project_keys(x), inputs.cos, inputs.sin);
  at::Tensor v = project_values(x);
  if (cache) std::tie(k, v) = static_cast<TeacherKvCache*>(cache)->append(k, v);
  at::Tensor attended = grouped_attention(q, k, v, inputs.bias, shape_.scale());
  return o_proj.forward(merge_heads(attended));
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
