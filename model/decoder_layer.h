// One decoder layer of Llama/Qwen2: x + attn(norm(x)), then x + mlp(norm(x)). It owns the original
// (teacher) attention and, once converted, a student attention beside it; norms and MLP exist once and are
// shared by both paths (except an input norm the student was given its own copy of for training).
#pragma once

#include <functional>
#include <memory>
#include <string>

#include "model/attention.h"
#include "model/layers/mlp.h"
#include "model/layers/rms_norm.h"

namespace mha2mla {

enum class AttentionPath { teacher, student };

// Called after each layer's attention with the attention input (the normed layer input) and its output.
using LayerObserver = std::function<void(int64_t layer, const at::Tensor& attention_input,
                                         const at::Tensor& attention_output)>;

struct DecoderLayer {
  RmsNorm input_layernorm;
  // The student's own copy of input_layernorm (model/mla/student_copies.h: stage-1 / stage-2 training), used on
  // the student path; undefined weight when the student shares the teacher's.
  RmsNorm student_input_layernorm;
  std::unique_ptr<GqaAttention> self_attn;     // the original attention: the teacher
  std::unique_ptr<AttentionBlock> student;     // the converted attention, when present
  RmsNorm post_attention_layernorm;
  GatedMlp mlp;

  AttentionBlock& attention(AttentionPath path);
  // The norm in front of `path`'s attention.
  const RmsNorm& attention_norm(AttentionPath path) const;

  at::Tensor forward(const at::Tensor& x, const AttentionInputs& inputs, AttentionPath path, LayerCache* cache,
                     int64_t index, const LayerObserver& observer);
  // What follows the attention: the residual, then x + mlp(norm(x)). `x` is the layer input.
  at::Tensor after_attention(const at::Tensor& x, const at::Tensor& attended);

  // The frozen parts and the teacher under HF names; the student's tensors under "<prefix>.self_attn" (see its
  // visit), its own input norm, when it has one, as "<prefix>.student_input_layernorm".
  void visit(const std::string& prefix, const ParamVisitor& visitor);
};

}  // namespace mha2mla
