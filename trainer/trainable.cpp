#include "trainer/trainable.h"

#include <cmath>

#include <ATen/ATen.h>
#include <ATen/CPUGeneratorImpl.h>

#include "common/error.h"
#include "common/strings.h"
#include "model/mla/mla_attention.h"

namespace mha2mla {
namespace {

bool is_latent_projection(const std::string& name) {
  return (name.find("_down_proj.") != std::string::npos || name.find("_up_proj.") != std::string::npos) &&
         ends_with(name, ".weight");
}

bool is_student_attention(const std::string& name) {
  return name.find(".k_rope_proj.") != std::string::npos || name.find("_down_proj.") != std::string::npos ||
         name.find("_up_proj.") != std::string::npos;
}

bool is_lora(const std::string& name) { return name.find(".lora_A.") != std::string::npos || name.find(".lora_B.") != std::string::npos; }

}  // namespace

void attach_lora(Model& model, const LoraConfig& lora, uint64_t seed) {
  if (lora.rank == 0) return;
  if (!model.mla) fail("LoRA adapters go on the converted (student) attention, but this model is not converted");
  at::Generator generator = at::make_generator<at::CPUGeneratorImpl>(seed);
  at::NoGradGuard no_grad;
  for (auto& layer : model.text->layers) {
    auto& student = static_cast<MlaAttention&>(*layer.student);
    for (const auto& target : lora.targets) {
      Linear* linear = target == "q_proj" ? &student.q_proj : target == "o_proj" ? &student.o_proj : nullptr;
      if (!linear)
        fail_with_hint("the student attention has q_proj and o_proj; its keys and values are the latent projections, "
                       "which train directly",
                       "train.lora.targets: '{}' cannot carry an adapter in the converted model", target);
      if (linear->lora.defined()) continue;
      // The whole layer's A is drawn on every rank, so a tensor-parallel slice (o_proj) holds exactly the columns
      // one process would.
      const int64_t in = linear->full_in_features();
      const double bound = 1.0 / std::sqrt(static_cast<double>(in));
      at::Tensor a = at::empty({lora.rank, in}, at::kDouble);
      a.uniform_(-bound, bound, generator);
      linear->attach_lora(a, lora.alpha / static_cast<double>(lora.rank));
    }
  }
}

std::vector<TrainableParameter> select_trainable(Model& model, const TrainConfig& train) {
  const std::string& preset = train.trainable;
  if (preset != "full" && !model.mla)
    fail_with_hint("convert the model first (`mha2mla convert`), or train the original model with train.stage=sft",
                   "train.trainable = {} trains the converted attention, but {} has none", preset, model.source);
  std::vector<TrainableParameter> chosen;
  model.visit([&](ParamRef& ref) {
    const std::string& name = ref.name;
    std::string group;
    if (preset == "full") {
      group = "all";
    } else if (is_lora(name)) {
      group = "lora";
    } else if (preset == "default" && is_latent_projection(name)) {
      group = "latent";
    } else if ((preset == "stage1" || preset == "stage2") && is_student_attention(name)) {
      group = "attention";
    }
    ref.tensor->requires_grad_(!group.empty());
    if (!group.empty()) chosen.push_back({name, *ref.tensor, group});
  });
  if (chosen.empty()) fail("train.trainable = {} selects no parameter of {}", preset, model.source);
  return chosen;
}

}  // namespace mha2mla
