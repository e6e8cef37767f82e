// The recipes under recipes/: every file loads as a valid recipe, the paper recipes carry the paper's numbers
// (shared/method.md section 5, typed in here from the paper's table), and the demo's conversion shrinks the
// demo teacher's KV cache by at least 75%.
#include <filesystem>
#include <map>

#include "model/tiny/make_tiny.h"
#include "tests/unit/test_support.h"
#include "trainer/recipe.h"

namespace mha2mla {
namespace {

namespace fs = std::filesystem;

std::string recipes_dir() { return (fs::path(testing::source_dir()) / "recipes").string(); }

std::vector<std::string> all_recipe_files() {
  std::vector<std::string> files;
  for (const auto& entry : fs::recursive_directory_iterator(recipes_dir()))
    if (entry.is_regular_file() && entry.path().extension() == ".yaml") files.push_back(entry.path().string());
  std::sort(files.begin(), files.end());
  return files;
}

TEST(ShippedRecipes, EveryRecipeLoads) {
  const auto files = all_recipe_files();
  ASSERT_GE(files.size(), 20u) << "recipes/ should hold the demo's and the three paper models' recipes";
  for (const auto& file : files) {
    SCOPED_TRACE(file);
    EXPECT_NO_THROW(load_recipe(file));
  }
}

// The paper's stage-1 learning rate and stage-2 learning rate per d_kv.
struct PaperModel {
  std::string folder;
  double stage1_lr;
  std::map<int64_t, double> stage2_lr;
  std::string chat_template;
};

const std::vector<PaperModel>& paper_models() {
  static const std::vector<PaperModel> models = {
      {"llava-1.5-7b", 5e-5, {{16, 1e-5}, {32, 5e-6}, {64, 1e-6}}, "vicuna_v1"},
      {"llava-next-8b", 5e-6, {{32, 5e-6}, {64, 1e-6}, {128, 8e-7}}, "llama3"},
      {"qwen2.5-vl-7b", 1e-5, {{32, 5e-5}, {64, 1e-5}, {128, 5e-6}}, "chatml"},
  };
  return models;
}

void expect_paper_settings(const Recipe& recipe, const PaperModel& model) {
  EXPECT_EQ(recipe.convert.rope_dims, 32);
  EXPECT_EQ(recipe.data.max_length, 4096);
  EXPECT_EQ(recipe.model.dtype, "bfloat16");
  EXPECT_EQ(recipe.model.device, "cuda");
  EXPECT_EQ(recipe.data.chat_template, model.chat_template);
  EXPECT_EQ(recipe.train.schedule.kind, "wsd_sqrt");
}

TEST(ShippedRecipes, PaperModelsUseThePapersRankAndLearningRates) {
  for (const auto& model : paper_models()) {
    const fs::path dir = fs::path(recipes_dir()) / model.folder;
    SCOPED_TRACE(model.folder);
    Recipe stage1 = load_recipe((dir / "stage1.yaml").string());
    expect_paper_settings(stage1, model);
    EXPECT_EQ(stage1.convert.stage, "partial_rope");
    EXPECT_EQ(stage1.train.stage, "stage1");
    EXPECT_EQ(stage1.train.trainable, "stage1");
    EXPECT_DOUBLE_EQ(stage1.train.optimizer.lr, model.stage1_lr);
    for (const auto& [dkv, lr] : model.stage2_lr) {
      SCOPED_TRACE("d_kv " + std::to_string(dkv));
      Recipe stage2 = load_recipe((dir / ("dkv" + std::to_string(dkv) + ".yaml")).string());
      expect_paper_settings(stage2, model);
      EXPECT_EQ(stage2.convert.stage, "mla");
      EXPECT_EQ(stage2.convert.latent_rank, dkv);
      EXPECT_EQ(stage2.train.stage, "stage2");
      EXPECT_EQ(stage2.train.trainable, "stage2");
      EXPECT_DOUBLE_EQ(stage2.train.optimizer.lr, lr);
      // Stage 2 starts from the trained stage-1 checkpoint, and writes apart from it.
      EXPECT_EQ(stage2.model.path, stage1.output_path(stage1.train.output));
      EXPECT_NE(stage2.run.output_dir, stage1.run.output_dir);
    }
  }
}

TEST(ShippedRecipes, DemoConversionCutsTheTeachersKvCacheByThreeQuarters) {
  const fs::path dir = fs::path(recipes_dir()) / "demo";
  Recipe convert = load_recipe((dir / "convert.yaml").string());
  const hf::HfConfig teacher = tiny_config("qwen2_5_vl", "demo");
  const int64_t layers = teacher.text.num_hidden_layers, kv_heads = teacher.text.num_key_value_heads;
  const int64_t head_dim = teacher.text.head_dim;
  // Per token, float32: the teacher caches K and V of every KV head; the student r RoPE dims and d_kv latent
  // values per KV head, plus one modality bit per layer.
  const double teacher_bytes = static_cast<double>(layers * 2 * kv_heads * head_dim * 4);
  const double student_bytes =
      static_cast<double>(layers * kv_heads * (convert.convert.rope_dims + convert.convert.latent_rank) * 4) +
      static_cast<double>(layers) / 8;
  EXPECT_LE(student_bytes, 0.25 * teacher_bytes) << student_bytes << " vs " << teacher_bytes;
  EXPECT_LT(convert.convert.rope_dims, head_dim);
  EXPECT_EQ(convert.convert.rope_dims % 2, 0);

  // Every demo stage reads the same data, teacher and folders (they share base.yaml).
  Recipe distill = load_recipe((dir / "distill.yaml").string());
  Recipe eval = load_recipe((dir / "eval.yaml").string());
  EXPECT_EQ(distill.train.stage, "one_stage");
  EXPECT_EQ(distill.train.trainable, "default");
  EXPECT_EQ(distill.train.mode, "local");
  EXPECT_GT(distill.train.loss.activation, 0);
  EXPECT_EQ(distill.model.path, convert.model.path);
  EXPECT_EQ(eval.output_path(eval.convert.output), convert.output_path(convert.convert.output));
  EXPECT_GT(eval.data.held_out, 0);
  Recipe teacher_recipe = load_recipe((dir / "teacher.yaml").string());
  EXPECT_EQ(teacher_recipe.train.stage, "sft");
  EXPECT_EQ(teacher_recipe.train.trainable, "language");
  EXPECT_EQ(teacher_recipe.output_path(teacher_recipe.train.output), convert.model.path);
}

}  // namespace
}  // namespace mha2mla
