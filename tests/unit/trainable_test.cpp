// Trainable presets (trainer/trainable.h) against the sets written out by hand from shared/method.md section 5:
// default = latent projections + LoRA; stage1 = q_proj, the k_N and v projections and the input norm; stage2 = all
// attention weights and the norm. The shared q_proj / o_proj / norm are trained as the student's own copies.
#include <set>

#include <ATen/ATen.h>

#include "tests/unit/converted_model.h"
#include "tests/unit/test_support.h"
#include "trainer/trainable.h"

namespace mha2mla {
namespace {

std::set<std::string> chosen_names(Model& model, const TrainConfig& train) {
  give_preset_copies(model, train);
  attach_lora(model, train.lora, 1);
  std::set<std::string> names;
  for (const auto& p : select_trainable(model, train)) {
    names.insert(p.name);
    EXPECT_TRUE(p.tensor.requires_grad()) << p.name;
  }
  // Everything else is frozen.
  model.visit([&](ParamRef& ref) {
    if (!names.count(ref.name)) {
      EXPECT_FALSE(ref.tensor->requires_grad()) << ref.name;
    }
  });
  return names;
}

std::set<std::string> per_layer(const std::vector<std::string>& suffixes) {
  std::set<std::string> names;
  for (int layer = 0; layer < 2; ++layer)
    for (const auto& suffix : suffixes) names.insert("text.layers." + std::to_string(layer) + "." + suffix);
  return names;
}

TEST(Trainable, DefaultIsTheLatentProjectionsAndLora) {
  testing::TinyConversion c;
  c.arch = "qwen2";
  auto model = testing::converted_tiny(c);
  TrainConfig train;
  EXPECT_EQ(chosen_names(*model, train),
            per_layer({"self_attn.kv_down_proj.text.weight", "self_attn.k_up_proj.text.weight",
                       "self_attn.v_up_proj.text.weight", "self_attn.kv_down_proj.image.weight",
                       "self_attn.k_up_proj.image.weight", "self_attn.v_up_proj.image.weight",
                       "self_attn.q_proj.lora_A.weight", "self_attn.q_proj.lora_B.weight",
                       "self_attn.o_proj.lora_A.weight", "self_attn.o_proj.lora_B.weight"}));
}

TEST(Trainable, StageOneIsQueryKeyNopeValueAndNorm) {
  testing::TinyConversion c;
  c.arch = "qwen2";
  c.stage_one = true;
  auto model = testing::converted_tiny(c);
  TrainConfig train;
  train.stage = "stage1";
  train.trainable = "stage1";
  train.lora.rank = 0;
  EXPECT_EQ(chosen_names(*model, train),
            per_layer({"self_attn.student_q_proj.weight", "self_attn.student_q_proj.bias",
                       "self_attn.k_up_proj.bias", "self_attn.v_up_proj.bias", "self_attn.k_up_proj.text.weight",
                       "self_attn.v_up_proj.text.weight", "self_attn.k_up_proj.image.weight",
                       "self_attn.v_up_proj.image.weight", "student_input_layernorm.weight"}));
  EXPECT_EQ(model->mla->student_copies, (std::vector<std::string>{"q_proj", "input_layernorm"}));
}

TEST(Trainable, StageTwoIsEveryAttentionWeightAndNorm) {
  testing::TinyConversion c;
  c.arch = "qwen2";
  auto model = testing::converted_tiny(c);
  TrainConfig train;
  train.trainable = "stage2";
  train.lora.rank = 0;
  EXPECT_EQ(chosen_names(*model, train),
            per_layer({"self_attn.student_q_proj.weight", "self_attn.student_q_proj.bias",
                       "self_attn.student_o_proj.weight", "self_attn.k_rope_proj.weight", "self_attn.k_rope_proj.bias",
                       "self_attn.k_up_proj.bias", "self_attn.v_up_proj.bias", "self_attn.kv_down_proj.text.weight",
                       "self_attn.k_up_proj.text.weight", "self_attn.v_up_proj.text.weight",
                       "self_attn.kv_down_proj.image.weight", "self_attn.k_up_proj.image.weight",
                       "self_attn.v_up_proj.image.weight", "student_input_layernorm.weight"}));
  // The teacher's own tensors stay frozen and distinct from the copies.
  auto& layer = model->text->layers[0];
  EXPECT_FALSE(layer.self_attn->q_proj.weight.requires_grad());
  EXPECT_FALSE(layer.input_layernorm.weight.requires_grad());
}

}  // namespace
}  // namespace mha2mla
