// Recipes: base inheritance, overrides, origins, validation errors, and the docs being in sync.
#include <cstdlib>
#include <filesystem>

#include "common/config_visitors.h"
#include "common/error.h"
#include "common/files.h"
#include "tests/unit/test_support.h"
#include "trainer/recipe.h"

namespace mha2mla {
namespace {

using testing::scratch_dir;
using testing::write_text;

TEST(Recipe, DefaultsWhenSectionsAreAbsent) {
  auto dir = scratch_dir();
  auto path = write_text(dir + "/r.yaml", "model:\n  path: /models/x\n");
  Recipe recipe = load_recipe(path);
  EXPECT_EQ(recipe.model.path, "/models/x");
  EXPECT_EQ(recipe.convert.rope_dims, ConvertConfig{}.rope_dims);
  EXPECT_EQ(recipe.train.lora.targets, (std::vector<std::string>{"q_proj", "o_proj"}));
  EXPECT_EQ(recipe.origin("model.path"), path + ":2");
  EXPECT_EQ(recipe.origin("convert.rope_dims"), "default");
}

TEST(Recipe, BaseInheritanceMergesMapsAndChildWins) {
  auto dir = scratch_dir();
  write_text(dir + "/common/base.yaml",
             "model:\n  path: base-model\n  dtype: bfloat16\n"
             "train:\n  optimizer:\n    lr: 1.0e-4\n    beta2: 0.99\n  lora:\n    targets: [q_proj, o_proj]\n");
  auto child = write_text(dir + "/child.yaml",
                          "base: common/base.yaml\n"
                          "model:\n  path: child-model\n"
                          "train:\n  optimizer:\n    lr: 5.0e-6\n  lora:\n    targets: [q_proj]\n");
  Recipe recipe = load_recipe(child);
  EXPECT_EQ(recipe.model.path, "child-model");
  EXPECT_EQ(recipe.model.dtype, "bfloat16");               // inherited
  EXPECT_DOUBLE_EQ(recipe.train.optimizer.lr, 5e-6);       // child wins
  EXPECT_DOUBLE_EQ(recipe.train.optimizer.beta2, 0.99);    // sibling key inherited
  EXPECT_EQ(recipe.train.lora.targets, std::vector<std::string>{"q_proj"});  // lists replace, not append
  EXPECT_EQ(recipe.origin("model.dtype"), dir + "/common/base.yaml:3");
  EXPECT_EQ(recipe.origin("train.optimizer.lr"), child + ":6");
}

TEST(Recipe, ListOfBasesAppliesInOrder) {
  auto dir = scratch_dir();
  write_text(dir + "/a.yaml", "model:\n  dtype: bfloat16\n  seed: 1\n");
  write_text(dir + "/b.yaml", "model:\n  seed: 2\n");
  auto child = write_text(dir + "/c.yaml", "base: [a.yaml, b.yaml]\n");
  Recipe recipe = load_recipe(child);
  EXPECT_EQ(recipe.model.dtype, "bfloat16");
  EXPECT_EQ(recipe.model.seed, 2);
}

TEST(Recipe, CommandLineOverridesWinAndAreTyped) {
  auto dir = scratch_dir();
  auto path = write_text(dir + "/r.yaml", "train:\n  steps: 10\n");
  Recipe recipe = load_recipe(path, {"train.steps=25", "train.optimizer.lr=3e-5", "train.lora.targets=[o_proj]",
                                     "data.packing=true"});
  EXPECT_EQ(recipe.train.steps, 25);
  EXPECT_DOUBLE_EQ(recipe.train.optimizer.lr, 3e-5);
  EXPECT_EQ(recipe.train.lora.targets, std::vector<std::string>{"o_proj"});
  EXPECT_TRUE(recipe.data.packing);
  EXPECT_EQ(recipe.origin("train.steps"), "command line (train.steps=25)");
}

TEST(Recipe, SectionListsReadEveryElement) {
  auto dir = scratch_dir();
  auto path = write_text(dir + "/r.yaml",
                         "data:\n  datasets:\n    - path: a.json\n      weight: 2\n    - path: shards/*.tar\n"
                         "      format: wds\n");
  Recipe recipe = load_recipe(path);
  ASSERT_EQ(recipe.data.datasets.size(), 2u);
  EXPECT_EQ(recipe.data.datasets[0].path, "a.json");
  EXPECT_DOUBLE_EQ(recipe.data.datasets[0].weight, 2.0);
  EXPECT_EQ(recipe.data.datasets[1].format, "wds");
  EXPECT_EQ(recipe.origin("data.datasets[1].format"), path + ":6");
}

TEST(Recipe, UnknownKeyNamesFileLineKeyAndNearestValidKey) {
  auto dir = scratch_dir();
  auto path = write_text(dir + "/r.yaml", "train:\n  optimizer:\n    lerning_rate: 1\n    lr: 2\n");
  const std::string where = path + ":3";
  EXPECT_ERROR_CONTAINS(load_recipe(path), where.c_str(), "unknown key 'train.optimizer.lerning_rate'");
  auto typo = write_text(dir + "/t.yaml", "trian:\n  steps: 3\n");
  EXPECT_ERROR_CONTAINS(load_recipe(typo), "unknown key 'trian'", "did you mean 'train'?");
  auto far = write_text(dir + "/f.yaml", "convert:\n  zzzzzzzz: 1\n");
  EXPECT_ERROR_CONTAINS(load_recipe(far), "valid keys here:", "rope_dims");
}

TEST(Recipe, UnknownKeyFromCommandLineSaysSo) {
  auto dir = scratch_dir();
  auto path = write_text(dir + "/r.yaml", "{}\n");
  EXPECT_ERROR_CONTAINS(load_recipe(path, {"train.stpes=3"}), "command line (train.stpes=3)",
                        "did you mean 'train.steps'?");
}

TEST(Recipe, WrongTypesAreRejectedWithWhatWasFound) {
  auto dir = scratch_dir();
  EXPECT_ERROR_CONTAINS(load_recipe(write_text(dir + "/a.yaml", "train:\n  steps: many\n")),
                        "train.steps expected an integer, found 'many'", ":2");
  EXPECT_ERROR_CONTAINS(load_recipe(write_text(dir + "/b.yaml", "train:\n  steps: 2.5\n")), "expected an integer");
  EXPECT_ERROR_CONTAINS(load_recipe(write_text(dir + "/c.yaml", "data:\n  packing: maybe\n")),
                        "data.packing expected true or false");
  EXPECT_ERROR_CONTAINS(load_recipe(write_text(dir + "/d.yaml", "train:\n  lora: 3\n")),
                        "train.lora expected a section");
  EXPECT_ERROR_CONTAINS(load_recipe(write_text(dir + "/e.yaml", "train:\n  lora:\n    targets: q_proj\n")),
                        "train.lora.targets expected a list");
  EXPECT_ERROR_CONTAINS(load_recipe(write_text(dir + "/f.yaml", "model: [1, 2]\n")), "model expected a section");
}

TEST(Recipe, OutOfRangeAndBadChoicesAreRejected) {
  auto dir = scratch_dir();
  EXPECT_ERROR_CONTAINS(load_recipe(write_text(dir + "/a.yaml", "train:\n  optimizer:\n    lr: -1\n")),
                        "train.optimizer.lr = -1 is out of range: expected > 0");
  EXPECT_ERROR_CONTAINS(load_recipe(write_text(dir + "/b.yaml", "data:\n  max_bad_fraction: 1.5\n")),
                        "expected in [0, 1]");
  EXPECT_ERROR_CONTAINS(load_recipe(write_text(dir + "/c.yaml", "convert:\n  variant: joined\n")),
                        "convert.variant = 'joined' is not allowed", "did you mean 'joint'?");
  EXPECT_ERROR_CONTAINS(load_recipe(write_text(dir + "/d.yaml", "train:\n  lora:\n    targets: [q_proj, x_proj]\n")),
                        "train.lora.targets[1] = 'x_proj' is not allowed");
}

TEST(Recipe, MissingFilesAndBadYamlAreReported) {
  auto dir = scratch_dir();
  EXPECT_ERROR_CONTAINS(load_recipe(dir + "/nope.yaml"), "recipe file", "nope.yaml", "not found");
  auto base_missing = write_text(dir + "/a.yaml", "base: missing.yaml\n");
  EXPECT_ERROR_CONTAINS(load_recipe(base_missing), "missing.yaml", "not found");
  auto bad = write_text(dir + "/b.yaml", "model:\n  path: [unclosed\n");
  EXPECT_ERROR_CONTAINS(load_recipe(bad), "invalid YAML", "b.yaml:");
  auto not_map = write_text(dir + "/c.yaml", "- a\n- b\n");
  EXPECT_ERROR_CONTAINS(load_recipe(not_map), "must be a YAML mapping");
  write_text(dir + "/loop1.yaml", "base: loop2.yaml\n");
  write_text(dir + "/loop2.yaml", "base: loop1.yaml\n");
  EXPECT_ERROR_CONTAINS(load_recipe(dir + "/loop1.yaml"), "circular");
}

TEST(Recipe, RequireExistingPathNamesKeyAndOrigin) {
  auto dir = scratch_dir();
  auto path = write_text(dir + "/r.yaml", "model:\n  path: /no/such/model\n");
  Recipe recipe = load_recipe(path);
  const std::string where = path + ":2";
  EXPECT_ERROR_CONTAINS(require_existing_path(recipe, "model.path", recipe.model.path), where.c_str(),
                        "model.path = '/no/such/model'", "no such file");
  recipe.model.path.clear();
  EXPECT_ERROR_CONTAINS(require_existing_path(recipe, "model.path", recipe.model.path), "model.path is empty");
  // An input path written as if it were an output (relative to run.output_dir): the error points there.
  recipe.run.output_dir = dir + "/run";
  std::filesystem::create_directories(dir + "/run/trained-student-of-this-test");
  const std::string fix = "eval.student=" + dir + "/run/trained-student-of-this-test";
  EXPECT_ERROR_CONTAINS(require_existing_path(recipe, "eval.student", "trained-student-of-this-test"),
                        "no such file or folder here", "input paths resolve against the working folder", fix.c_str());
}

TEST(Recipe, EnvironmentVariablesExpandInStrings) {
  auto dir = scratch_dir();
  ::setenv("MHA2MLA_TEST_SCRATCH", "/scratch/me", 1);
  ::unsetenv("MHA2MLA_TEST_UNSET");
  auto path = write_text(dir + "/r.yaml",
                         "run:\n  output_dir: ${MHA2MLA_TEST_SCRATCH}/runs\n"
                         "model:\n  path: ${MHA2MLA_TEST_UNSET:-/fallback}/m\n");
  Recipe recipe = load_recipe(path);
  EXPECT_EQ(recipe.run.output_dir, "/scratch/me/runs");
  EXPECT_EQ(recipe.model.path, "/fallback/m");
  auto bad = write_text(dir + "/b.yaml", "model:\n  path: ${MHA2MLA_TEST_UNSET}/m\n");
  EXPECT_ERROR_CONTAINS(load_recipe(bad), "MHA2MLA_TEST_UNSET", "is not set");
}

TEST(Recipe, SavedEffectiveRecipeLoadsBackToTheSameValues) {
  auto dir = scratch_dir();
  auto path = write_text(dir + "/r.yaml",
                         "model:\n  path: \"m: with colon\"\n  seed: 7\n"
                         "data:\n  datasets:\n    - path: a.json\n      weight: 0.25\n"
                         "convert:\n  ridge: 1.0e-7\n");
  Recipe original = load_recipe(path, {"train.lora.targets=[q_proj, o_proj, k_proj]", "train.optimizer.lr=1e-5"});
  save_recipe_beside(original, dir + "/out");
  Recipe reloaded = load_recipe(dir + "/out/recipe.yaml");
  auto rows = [](Recipe& r) { return config::flatten([&](config::Visitor& v) { r.describe(v); }); };
  EXPECT_EQ(rows(original), rows(reloaded));
  EXPECT_EQ(original.hash(), reloaded.hash());
}

TEST(Recipe, OutputPathsResolveUnderRunOutputDir) {
  Recipe recipe;
  recipe.run.output_dir = "runs/x";
  EXPECT_EQ(recipe.output_path("converted"), "runs/x/converted");
  EXPECT_EQ(recipe.output_path("/abs/converted"), "/abs/converted");
}

TEST(Recipe, DocsReferenceIsInSyncWithTheConfigStructs) {
  std::string committed = read_file(testing::source_dir() + "/docs/recipes.md");
  EXPECT_EQ(committed, recipes_reference_markdown())
      << "docs/recipes.md is stale: regenerate it with `build/mha2mla reference > docs/recipes.md`";
}

TEST(Recipe, EveryCommittedRecipeLoads) {
  namespace fs = std::filesystem;
  int count = 0;
  for (const auto& entry : fs::recursive_directory_iterator(testing::source_dir() + "/recipes")) {
    if (entry.path().extension() != ".yaml") continue;
    SCOPED_TRACE(entry.path().string());
    EXPECT_NO_THROW(load_recipe(entry.path().string()));
    ++count;
  }
  EXPECT_GT(count, 0);
}

}  // namespace
}  // namespace mha2mla
