// Whole-model conversion: full rank reproduces the teacher's logits; the written folder alone reloads the
// same student; stage 2 from a stage-1 checkpoint keeps its pairs; KV bytes follow the formula.
#include <ATen/ATen.h>
#include <nlohmann/json.hpp>

#include "common/files.h"
#include "model/convert/converter.h"
#include "model/model.h"
#include "model/random_init.h"
#include "model/tiny/make_tiny.h"
#include "tests/unit/test_support.h"

namespace mha2mla {
namespace {

std::unique_ptr<Model> tiny(const std::string& arch, at::ScalarType dtype = at::kDouble) {
  auto model = build_model(tiny_config(arch), ModelLoadOptions{dtype, "cpu"});
  init_random([&](const ParamVisitor& v) { model->visit(v); }, 17, 0.1);
  return model;
}

at::Tensor logits(Model& model, AttentionPath path) {
  at::manual_seed(9);
  MultimodalBatch batch;
  batch.input_ids = at::randint(0, 500, {2, 12}, at::kLong);
  batch.attention_mask = at::ones({2, 12}, at::kLong);
  PreparedInputs inputs = model.prepare(batch);
  ForwardOptions options;
  options.path = path;
  return model.text->logits(model.text->forward(inputs.embeddings, inputs.text, options));
}

double relative_difference(const at::Tensor& a, const at::Tensor& b) {
  return (a - b).norm().item<double>() / b.norm().item<double>();
}

TEST(Converter, FullRankFullRopeModelReproducesTheTeacherLogits) {
  for (std::string arch : {"llama", "qwen2"}) {
    auto model = tiny(arch);
    ConversionOptions options;
    options.rope_dims = 32;     // = head_dim
    options.latent_rank = 64;   // d_c = 128 = hidden: full rank
    options.strategy = "high";
    options.init = "svd";
    convert_to_mla(*model, options, nullptr);
    EXPECT_LT(relative_difference(logits(*model, AttentionPath::student), logits(*model, AttentionPath::teacher)), 1e-10)
        << arch;
  }
}

TEST(Converter, TheWrittenFolderAloneReloadsTheSameStudent) {
  auto model = tiny("qwen2", at::kFloat);
  ConversionOptions options;
  options.rope_dims = 8;
  options.latent_rank = 8;
  options.strategy = "uniform";
  options.variant = "split";
  options.init = "svd";
  ConversionReport report = convert_to_mla(*model, options, nullptr);
  std::string dir = testing::scratch_dir() + "/converted";
  save_model(*model, dir);
  auto reloaded = load_model(dir, ModelLoadOptions{});
  ASSERT_TRUE(reloaded->mla.has_value());
  EXPECT_EQ(reloaded->mla->rope_pairs, model->mla->rope_pairs);
  EXPECT_TRUE(at::equal(logits(*reloaded, AttentionPath::student), logits(*model, AttentionPath::student)));
  EXPECT_TRUE(at::equal(logits(*reloaded, AttentionPath::teacher), logits(*model, AttentionPath::teacher)));
  // KV bytes: 2 layers x 2 KV heads x (8 + 8) bf16 elements + a modality bit per layer; teacher 2 x 2 x 2 x 32 x 2.
  EXPECT_DOUBLE_EQ(report.student_kv_bytes_per_token, 2 * (2 * (8 + 8) * 2 + 1.0 / 8));
  EXPECT_DOUBLE_EQ(report.teacher_kv_bytes_per_token, 2 * 2 * 2 * 32 * 2);
}

TEST(Converter, StageTwoFromAStageOneCheckpointKeepsItsPairsAndIsExactAtFullRank) {
  auto model = tiny("qwen2");
  ConversionOptions stage_one;
  stage_one.rope_dims = 8;
  stage_one.strategy = "low";
  stage_one.init = "svd";
  stage_one.partial_rope_only = true;
  convert_to_mla(*model, stage_one, nullptr);
  at::Tensor partial_rope = logits(*model, AttentionPath::student);
  // Perturb the stage-1 student as training would; stage 2 must factorise the trained weights, not the teacher's.
  auto& student = static_cast<MlaAttention&>(*model->text->layers[0].student);
  student.text.v_up.weight.mul_(1.5);
  at::Tensor trained = logits(*model, AttentionPath::student);
  EXPECT_GT(relative_difference(trained, partial_rope), 1e-3);

  ConversionOptions stage_two = stage_one;
  stage_two.partial_rope_only = false;
  stage_two.strategy = "high";  // ignored: stage 2 keeps stage 1's pairs
  stage_two.latent_rank = 64;   // full rank
  convert_to_mla(*model, stage_two, nullptr);
  EXPECT_EQ(model->mla->rope_pairs[0][0], (std::vector<int64_t>{12, 13, 14, 15}));
  EXPECT_LT(relative_difference(logits(*model, AttentionPath::student), trained), 1e-10);
}

TEST(Converter, CalibratedStrategiesRequireACalibration) {
  auto model = tiny("llama");
  ConversionOptions options;
  options.strategy = "mkl";
  EXPECT_ERROR_CONTAINS(convert_to_mla(*model, options, nullptr), "need calibration statistics", "mha2mla calibrate");
}

}  // namespace
}  // namespace mha2mla
