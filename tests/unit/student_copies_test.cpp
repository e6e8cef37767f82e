// Student copies (model/mla/student_copies.h): the student's own q_proj / o_proj / input norm are independent of the
// teacher's, save and load back under their own names, carry from a stage-1 conversion into stage 2, and the hf-mla
// export writes them under the teacher's names (the export computes what the student computed).
#include <ATen/ATen.h>

#include "common/files.h"
#include "model/export/export.h"
#include "model/mla/student_copies.h"
#include "tests/unit/converted_model.h"
#include "tests/unit/test_support.h"
#include "trainer/trainable.h"

namespace mha2mla {
namespace {

const std::vector<std::string> kAll = {"q_proj", "o_proj", "input_layernorm"};

std::map<std::string, at::Tensor> named(Model& model) {
  std::map<std::string, at::Tensor> out;
  model.visit([&](ParamRef& ref) { out[ref.name] = *ref.tensor; });
  return out;
}

void perturb_copies(Model& model, uint64_t seed) {
  at::NoGradGuard no_grad;
  at::manual_seed(seed);
  for (auto& layer : model.text->layers) {
    auto& student = static_cast<MlaAttention&>(*layer.student);
    if (student.own_q_proj) student.q_proj.weight.add_(at::randn_like(student.q_proj.weight) * 0.02);
    if (student.own_o_proj) student.o_proj.weight.add_(at::randn_like(student.o_proj.weight) * 0.02);
    if (layer.student_input_layernorm.weight.defined())
      layer.student_input_layernorm.weight.mul_(1.0 + 0.2 * at::rand_like(layer.student_input_layernorm.weight));
  }
}

at::Tensor logits(Model& model, AttentionPath path, const GreedyRequest& request) {
  at::NoGradGuard no_grad;
  ForwardOptions options;
  options.path = path;
  return model.text->logits(model.text->forward(request.prompt_embeddings, request.prompt, options));
}

TEST(StudentCopies, AreIndependentOfTheTeacherAndSaveAndLoadBack) {
  testing::TinyConversion c;
  c.arch = "qwen2";  // q_proj with a bias
  auto model = testing::converted_tiny(c);
  GreedyRequest request = testing::left_padded_request(*model, 12, 0, 3);
  at::Tensor teacher = logits(*model, AttentionPath::teacher, request);
  at::Tensor student = logits(*model, AttentionPath::student, request);

  give_student_copies(*model->text, *model->mla, {"input_layernorm", "q_proj", "o_proj", "q_proj"});
  EXPECT_EQ(model->mla->student_copies, kAll);  // canonical order, once each
  auto& layer = model->text->layers[0];
  auto& attention = static_cast<MlaAttention&>(*layer.student);
  ASSERT_TRUE(attention.own_q_proj && attention.own_o_proj);
  EXPECT_TRUE(at::equal(attention.q_proj.weight, layer.self_attn->q_proj.weight));
  EXPECT_NE(attention.q_proj.weight.data_ptr(), layer.self_attn->q_proj.weight.data_ptr());
  EXPECT_NE(attention.q_proj.bias.data_ptr(), layer.self_attn->q_proj.bias.data_ptr());
  EXPECT_NE(layer.student_input_layernorm.weight.data_ptr(), layer.input_layernorm.weight.data_ptr());
  // Identical copies compute what the shared tensors computed.
  EXPECT_TRUE(at::equal(logits(*model, AttentionPath::student, request), student));

  perturb_copies(*model, 5);
  EXPECT_TRUE(at::equal(logits(*model, AttentionPath::teacher, request), teacher));
  at::Tensor changed = logits(*model, AttentionPath::student, request);
  EXPECT_GT(testing::relative_difference(changed, student), 1e-4);

  auto names = named(*model);
  for (const char* name : {"text.layers.1.self_attn.student_q_proj.weight", "text.layers.1.self_attn.student_q_proj.bias",
                           "text.layers.1.self_attn.student_o_proj.weight", "text.layers.1.student_input_layernorm.weight"})
    EXPECT_TRUE(names.count(name)) << name;

  const std::string dir = testing::scratch_dir();
  save_model(*model, path_join(dir, "saved"));
  auto loaded = load_model(path_join(dir, "saved"), ModelLoadOptions{at::kFloat, "cpu"});
  ASSERT_TRUE(loaded->mla);
  EXPECT_EQ(loaded->mla->student_copies, kAll);
  auto reloaded = named(*loaded);
  ASSERT_EQ(reloaded.size(), names.size());
  for (const auto& [name, tensor] : names) {
    ASSERT_TRUE(reloaded.count(name)) << name;
    EXPECT_TRUE(at::equal(reloaded[name], tensor)) << name;
  }
  EXPECT_TRUE(at::equal(logits(*loaded, AttentionPath::student, request), changed));
  EXPECT_TRUE(at::equal(logits(*loaded, AttentionPath::teacher, request), teacher));
}

TEST(StudentCopies, TheHfMlaExportWritesThemUnderTheTeachersNames) {
  testing::TinyConversion c;
  c.arch = "qwen2";
  auto model = testing::converted_tiny(c);
  TrainConfig train;
  train.trainable = "stage2";
  give_preset_copies(*model, train);
  attach_lora(*model, train.lora, 3);  // adapters on the copies, merged by the export
  {
    at::NoGradGuard no_grad;
    for (auto& layer : model->text->layers) {
      auto& student = static_cast<MlaAttention&>(*layer.student);
      student.q_proj.lora.b.normal_(0, 0.05);
      student.o_proj.lora.b.normal_(0, 0.05);
    }
  }
  perturb_copies(*model, 9);
  GreedyRequest request = testing::left_padded_request(*model, 12, 0, 4);
  at::Tensor student = logits(*model, AttentionPath::student, request);

  const std::string dir = testing::scratch_dir();
  export_hf_mla(*model, path_join(dir, "export"));
  auto exported = load_model(path_join(dir, "export"), ModelLoadOptions{at::kFloat, "cpu"});
  EXPECT_TRUE(exported->mla->student_copies.empty());
  for (const auto& [name, tensor] : named(*exported)) EXPECT_EQ(name.find("student_"), std::string::npos) << name;
  auto& layer = exported->text->layers[1];
  EXPECT_TRUE(at::equal(layer.input_layernorm.weight, model->text->layers[1].student_input_layernorm.weight));
  EXPECT_FALSE(at::equal(layer.input_layernorm.weight, model->text->layers[1].input_layernorm.weight));
  EXPECT_LT(testing::relative_difference(logits(*exported, AttentionPath::student, request), student), 1e-5);
}

TEST(StudentCopies, StageOneCopiesCarryIntoTheStageTwoConversion) {
  testing::TinyConversion c;
  c.arch = "qwen2";
  c.stage_one = true;
  auto model = testing::converted_tiny(c);
  give_student_copies(*model->text, *model->mla, {"q_proj", "input_layernorm"});
  perturb_copies(*model, 11);
  std::vector<at::Tensor> q, norm;
  for (auto& layer : model->text->layers) {
    q.push_back(static_cast<MlaAttention&>(*layer.student).q_proj.weight.clone());
    norm.push_back(layer.student_input_layernorm.weight.clone());
  }
  ConversionOptions options;
  options.rope_dims = c.rope_dims;
  options.latent_rank = 8;
  options.strategy = "uniform";
  options.init = "svd";
  convert_to_mla(*model, options, nullptr);
  EXPECT_FALSE(model->mla->partial_rope_only);
  EXPECT_EQ(model->mla->student_copies, (std::vector<std::string>{"q_proj", "input_layernorm"}));
  for (size_t l = 0; l < model->text->layers.size(); ++l) {
    auto& layer = model->text->layers[l];
    auto& student = static_cast<MlaAttention&>(*layer.student);
    EXPECT_TRUE(student.own_q_proj);
    EXPECT_FALSE(student.own_o_proj);
    EXPECT_TRUE(at::equal(student.q_proj.weight, q[l])) << l;
    EXPECT_TRUE(at::equal(layer.student_input_layernorm.weight, norm[l])) << l;
    EXPECT_EQ(student.o_proj.weight.data_ptr(), layer.self_attn->o_proj.weight.data_ptr());
  }
}

// A trained folder's LoRA adapters: the mla block records their shape, loading attaches zeros that the file fills.
TEST(StudentCopies, LoraAdaptersSaveAndLoadBack) {
  auto model = testing::converted_tiny(testing::TinyConversion{});
  LoraConfig lora;
  lora.rank = 4;
  lora.alpha = 8;
  attach_lora(*model, lora, 5);
  {
    at::NoGradGuard no_grad;
    for (auto& layer : model->text->layers) static_cast<MlaAttention&>(*layer.student).q_proj.lora.b.normal_(0, 0.05);
  }
  EXPECT_EQ(model->mla->lora.rank, 4);
  GreedyRequest request = testing::left_padded_request(*model, 10, 0, 6);
  at::Tensor student = logits(*model, AttentionPath::student, request);
  const std::string dir = testing::scratch_dir();
  save_model(*model, dir);
  auto loaded = load_model(dir, ModelLoadOptions{at::kFloat, "cpu"});
  EXPECT_EQ(loaded->mla->lora.rank, 4);
  EXPECT_EQ(loaded->mla->lora.targets, lora.targets);
  auto& q = static_cast<MlaAttention&>(*loaded->text->layers[1].student).q_proj;
  ASSERT_TRUE(q.lora.defined());
  EXPECT_DOUBLE_EQ(q.lora.scale, 2.0);
  EXPECT_TRUE(at::equal(logits(*loaded, AttentionPath::student, request), student));
  // Training it again keeps its adapters (no fresh ones on top).
  at::Tensor b = q.lora.b.clone();
  attach_lora(*loaded, LoraConfig{}, 9);
  EXPECT_TRUE(at::equal(q.lora.b, b));
  EXPECT_EQ(loaded->mla->lora.rank, 4);
}

TEST(StudentCopies, UnknownNamesAreRefused) {
  auto model = testing::converted_tiny(testing::TinyConversion{});
  EXPECT_ERROR_CONTAINS(give_student_copies(*model->text, *model->mla, {"k_proj"}), "mla.student_copies", "'k_proj'",
                        "q_proj, o_proj, input_layernorm");
}

}  // namespace
}  // namespace mha2mla
