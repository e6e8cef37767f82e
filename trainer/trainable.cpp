#include "trainer/trainable.h"

#include <cmath>

#include <ATen/ATen.h>
#include <ATen/CPUGeneratorImpl.h>
#include <fmt/ranges.h>

#include "common/error.h"
#include "common/log.h"
#include "common/strings.h"
#include "model/mla/mla_attention.h"
#include "model/mla/student_copies.h"

namespace mha2mla {
namespace {

bool is_latent_projection(const std::string& name) {
  return (name.find("_down_proj.") != std::string::npos || name.find("_up_proj.") != std::string::npos) &&
         ends_with(name, ".weight");
}

bool contains(const std::string& name, const char* part) { return name.find(part) != std::string::npos; }

// The student's own copies of q_proj / o_proj (weight and bias; their adapters are LoRA).
bool is_student_copy(const std::string& name, const char* projection) {
  return contains(name, (std::string(".student_") + projection + ".").c_str()) &&
         (ends_with(name, ".weight") || ends_with(name, ".bias")) && !contains(name, ".lora_");
}

bool is_student_norm(const std::string& name) { return contains(name, ".student_input_layernorm."); }

// The paper's stage-1 attention set: q_proj, the NoPE key rows and the value rows (k_up / v_up and their biases).
bool in_stage_one_set(const std::string& name) {
  return is_student_copy(name, "q_proj") || contains(name, ".k_up_proj.") || contains(name, ".v_up_proj.");
}

// Stage 2: every attention weight of the student.
bool in_stage_two_set(const std::string& name) {
  return is_student_copy(name, "q_proj") || is_student_copy(name, "o_proj") || contains(name, ".k_rope_proj.") ||
         contains(name, "_down_proj.") || contains(name, "_up_proj.");
}

bool is_lora(const std::string& name) { return name.find(".lora_A.") != std::string::npos || name.find(".lora_B.") != std::string::npos; }

}  // namespace

void attach_lora(Model& model, const LoraConfig& lora, uint64_t seed) {
  if (lora.rank == 0) return;
  if (!model.mla) fail("LoRA adapters go on the converted (student) attention, but this model is not converted");
  const MlaLora& existing = model.mla->lora;
  if (existing.rank > 0) {  // a trained folder's adapters train on as they are
    if (existing.rank != lora.rank || existing.alpha != lora.alpha || existing.targets != lora.targets)
      spdlog::warn("{} carries LoRA adapters (rank {}, alpha {}, on {}); they train on, and train.lora (rank {}, alpha "
                   "{}, on {}) adds none", model.source, existing.rank, existing.alpha, fmt::join(existing.targets, ", "),
                   lora.rank, lora.alpha, fmt::join(lora.targets, ", "));
    return;
  }
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
  model.mla->lora = MlaLora{lora.rank, lora.alpha, lora.targets};  // saved with the model, so that it loads back
}

std::vector<std::string> preset_copies(const std::string& preset) {
  if (preset == "stage1") return {"q_proj", "input_layernorm"};
  if (preset == "stage2") return {"q_proj", "o_proj", "input_layernorm"};
  return {};
}

void give_preset_copies(Model& model, const TrainConfig& train) {
  std::vector<std::string> copies = preset_copies(train.trainable);
  if (copies.empty()) return;
  if (!model.mla)
    fail_with_hint("convert the model first (`mha2mla convert`)",
                   "train.trainable = {} trains the converted attention, but {} has none", train.trainable, model.source);
  give_student_copies(*model.text, *model.mla, copies);
}

bool trains_original_model(const std::string& preset) { return preset == "full" || preset == "language"; }

std::vector<TrainableParameter> select_trainable(Model& model, const TrainConfig& train) {
  const std::string& preset = train.trainable;
  if (!trains_original_model(preset) && !model.mla)
    fail_with_hint("convert the model first (`mha2mla convert`), or train the original model with train.stage=sft",
                   "train.trainable = {} trains the converted attention, but {} has none", preset, model.source);
  std::vector<TrainableParameter> chosen;
  model.visit([&](ParamRef& ref) {
    const std::string& name = ref.name;
    std::string group;
    if (preset == "full") {
      group = "all";
    } else if (preset == "language") {
      // The vision tower and projector stay as they are (LLaVA's recipe for the language stage).
      if (!starts_with(name, "vision.") && !starts_with(name, "projector.")) group = "language";
    } else if (is_lora(name)) {
      group = "lora";
    } else if (preset == "default" && is_latent_projection(name)) {
      group = "latent";
    } else if ((preset == "stage1" || preset == "stage2") && is_student_norm(name)) {
      group = "norm";
    } else if ((preset == "stage1" && in_stage_one_set(name)) || (preset == "stage2" && in_stage_two_set(name))) {
      group = "attention";
    }
    ref.tensor->requires_grad_(!group.empty());
    if (!group.empty()) chosen.push_back({name, *ref.tensor, group});
  });
  if (chosen.empty()) fail("train.trainable = {} selects no parameter of {}", preset, model.source);
  return chosen;
}

}  // namespace mha2mla
