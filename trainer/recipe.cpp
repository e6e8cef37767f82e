#include "trainer/recipe.h"

#include <cstdint>

#include "common/config_visitors.h"
#include "common/error.h"
#include "common/files.h"

namespace mha2mla {

void Recipe::describe(config::Visitor& v) {
  v.section("run", "where outputs go", run);
  v.section("log", "logging", log);
  v.section("model", "the original (teacher) model", model);
  v.section("data", "streaming image-text SFT data", data);
  v.section("calibrate", "`mha2mla calibrate`: partial-RoPE scores and activation statistics", calibrate);
  v.section("convert", "`mha2mla convert`: MHA/GQA -> MLA", convert);
  v.section("train", "`mha2mla train`: distillation / SFT fine-tuning", train);
  v.section("distributed", "data x tensor parallelism", distributed);
  v.section("checkpoint", "training checkpoints and resume", checkpoint);
  v.section("eval", "`mha2mla eval`: teacher vs student", eval);
  v.section("generate", "`mha2mla generate`: greedy decoding with the latent KV cache", generate);
  v.section("export", "`mha2mla export`: checkpoints for inference engines", export_);
}

std::string Recipe::origin(const std::string& key_path) const {
  std::string o = tree.origin(key_path);
  return o.empty() ? "default" : o;
}

std::string Recipe::output_path(const std::string& path) const {
  if (path.empty() || path.front() == '/') return path;
  return path_join(run.output_dir, path);
}

std::string Recipe::to_yaml() const {
  auto& self = const_cast<Recipe&>(*this);  // visitors take mutable references; these ones only read
  return config::to_yaml([&](config::Visitor& v) { self.describe(v); });
}

std::string Recipe::to_table() const {
  auto& self = const_cast<Recipe&>(*this);
  auto rows = config::flatten([&](config::Visitor& v) { self.describe(v); });
  std::string title = source.empty() ? "effective recipe (defaults)" : "effective recipe: " + source;
  return config::format_table(rows, title);
}

std::string Recipe::hash() const {
  uint64_t h = 1469598103934665603ull;
  for (unsigned char c : to_yaml()) {
    h ^= c;
    h *= 1099511628211ull;
  }
  return fmt::format("{:016x}", h);
}

Recipe load_recipe(const std::string& path, const std::vector<std::string>& overrides) {
  Recipe recipe;
  recipe.source = path;
  recipe.tree = config::Tree::load_file(path);
  for (const auto& o : overrides) recipe.tree.apply_override(o);
  config::read(recipe.tree, [&](config::Visitor& v) { recipe.describe(v); });
  return recipe;
}

void save_recipe_beside(const Recipe& recipe, const std::string& dir) {
  ensure_directory(dir);
  write_file_atomic(path_join(dir, "recipe.yaml"),
                    "# effective recipe (mha2mla " MHA2MLA_VERSION "), from " +
                        (recipe.source.empty() ? std::string("defaults") : recipe.source) + "\n" + recipe.to_yaml());
}

std::string recipes_reference_markdown() {
  Recipe defaults;
  std::string body = config::reference_markdown([&](config::Visitor& v) { defaults.describe(v); });
  return "# Recipes reference\n\n"
         "Generated from the config structs by `mha2mla reference` (a test keeps this file in sync).\n"
         "A recipe is a YAML file with these sections; `base: other.yaml` (or a list) inherits from\n"
         "other recipes, relative to the including file, maps merging key by key. Any key can be\n"
         "overridden on the command line as `section.key=value`. `${VAR}` and `${VAR:-default}` in strings\n"
         "expand from the environment. Relative output paths resolve under `run.output_dir`; input\n"
         "paths resolve against the working directory.\n" +
         body;
}

void require_existing_path(const Recipe& recipe, const std::string& key_path, const std::string& path) {
  if (path.empty())
    fail_with_hint(fmt::format("set {} in the recipe or as {}=... on the command line", key_path, key_path),
                   "{}: {} is empty", recipe.source.empty() ? "recipe" : recipe.source, key_path);
  if (file_exists(path) || directory_exists(path)) return;
  // Input paths resolve against the working folder, outputs under run.output_dir: say so when the user meant the
  // latter (e.g. eval.student = student, the run's own train.output).
  const std::string under_run = recipe.output_path(path);
  if (under_run != path && (file_exists(under_run) || directory_exists(under_run)))
    fail_with_hint(fmt::format("input paths resolve against the working folder; write {}={}", key_path, under_run),
                   "{}: {} = '{}': no such file or folder here, but '{}' exists", recipe.origin(key_path), key_path,
                   path, under_run);
  fail("{}: {} = '{}': no such file or folder", recipe.origin(key_path), key_path, path);
}

}  // namespace mha2mla
