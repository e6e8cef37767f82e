#include "model/decoder_layer.h"

#include <ATen/ATen.h>

#include "common/error.h"

namespace mha2mla {

AttentionBlock& DecoderLayer::attention(AttentionPath path) {
  if (path == AttentionPath::student) {
    if (!student) fail("the student attention was requested, but this model has not been converted to MLA");
    return *student;
  }
  return *self_attn;
}

const RmsNorm& DecoderLayer::attention_norm(AttentionPath path) const {
  return path == AttentionPath::student && student_input_layernorm.weight.defined() ? student_input_layernorm
                                                                                     : input_layernorm;
}

at::Tensor DecoderLayer::forward(const at::Tensor& x, const AttentionInputs& inputs, AttentionPath path,
                                 LayerCache* cache, int64_t index, const LayerObserver& observer) {
  at::Tensor normed = attention_norm(path).forward(x);
  at::Tensor attended = attention(path).forward(normed, inputs, cache);
  if (observer) observer(index, normed, attended);
  return after_attention(x, attended);
}

at::Tensor DecoderLayer::after_attention(const at::Tensor& x, const at::Tensor& attended) {
  at::Tensor h = x + attended;
  return h + mlp.forward(post_attention_layernorm.forward(h));
}

void DecoderLayer::visit(const std::string& prefix, const ParamVisitor& visitor) {
  input_layernorm.visit(join_name(prefix, "input_layernorm"), visitor);
  self_attn->visit(join_name(prefix, "self_attn"), visitor);
  if (student) student->visit(join_name(prefix, "self_attn"), visitor);
  if (student_input_layernorm.weight.defined())
    student_input_layernorm.visit(join_name(prefix, "student_input_layernorm"), visitor);
  post_attention_layernorm.visit(join_name(prefix, "post_attention_layernorm"), visitor);
  mlp.visit(join_name(prefix, "mlp"), visitor);
}

}  // namespace mha2mla
