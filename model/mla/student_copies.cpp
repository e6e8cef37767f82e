#include "model/mla/student_copies.h"

#include <algorithm>

#include <ATen/ATen.h>
#include <fmt/ranges.h>

#include "common/error.h"
#include "model/mla/mla_attention.h"

namespace mha2mla {
namespace {

Linear clone_linear(const Linear& linear) {
  Linear copy;
  copy.weight = linear.weight.detach().clone();
  if (linear.bias.defined()) copy.bias = linear.bias.detach().clone();
  copy.lora = linear.lora;
  copy.shard = linear.shard;  // under tensor parallelism the copy is this rank's slice, as the original
  return copy;
}

}  // namespace

const std::vector<std::string>& student_copy_names() {
  static const std::vector<std::string> names = {"q_proj", "o_proj", "input_layernorm"};
  return names;
}

void give_student_copies(TextModel& model, MlaConfig& mla, const std::vector<std::string>& which) {
  const auto& known = student_copy_names();
  for (const auto& name : which)
    if (std::find(known.begin(), known.end(), name) == known.end())
      fail("mla.student_copies: '{}' is not a tensor the student can hold a copy of ({})", name, fmt::join(known, ", "));
  auto wanted = [&](const std::string& name) {
    return std::find(which.begin(), which.end(), name) != which.end() ||
           std::find(mla.student_copies.begin(), mla.student_copies.end(), name) != mla.student_copies.end();
  };
  at::NoGradGuard no_grad;
  for (auto& layer : model.layers) {
    if (!layer.student) fail("student copies need a converted layer, but a layer has no student attention");
    auto& student = static_cast<MlaAttention&>(*layer.student);
    if (wanted("q_proj") && !student.own_q_proj) {
      student.q_proj = clone_linear(student.q_proj);
      student.own_q_proj = true;
    }
    if (wanted("o_proj") && !student.own_o_proj) {
      student.o_proj = clone_linear(student.o_proj);
      student.own_o_proj = true;
    }
    if (wanted("input_layernorm") && !layer.student_input_layernorm.weight.defined()) {
      layer.student_input_layernorm.weight = layer.input_layernorm.weight.detach().clone();
      layer.student_input_layernorm.eps = layer.input_layernorm.eps;
    }
  }
  std::vector<std::string> recorded;
  for (const auto& name : known)
    if (wanted(name)) recorded.push_back(name);
  mla.student_copies = recorded;
}

void give_student_adapters(TextModel& model, const MlaLora& lora) {
  if (lora.rank <= 0) return;
  for (auto& layer : model.layers) {
    auto& student = static_cast<MlaAttention&>(*layer.student);
    for (const auto& target : lora.targets) {
      Linear* linear = target == "q_proj" ? &student.q_proj : target == "o_proj" ? &student.o_proj : nullptr;
      if (!linear) fail("mla.lora.targets: '{}' is not a student projection that carries adapters (q_proj, o_proj)", target);
      if (linear->lora.defined()) continue;
      linear->lora.a = at::zeros({lora.rank, linear->in_features()}, linear->weight.options());
      linear->lora.b = at::zeros({linear->out_features(), lora.rank}, linear->weight.options());
      linear->lora.scale = lora.alpha / static_cast<double>(lora.rank);
    }
  }
}

}  // namespace mha2mla
