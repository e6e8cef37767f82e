#include <spdlog/spdlog.h>

#include "common/files.h"
#include "model/export/export.h"
#include "model/model.h"
#include "trainer/cli/commands.h"
#include "trainer/cli/recipe_command.h"

namespace mha2mla::cli {
namespace {

// The newest checkpoint of the recipe: train.output once training wrote it, else convert.output.
std::string checkpoint_to_export(const Recipe& recipe) {
  const std::string trained = recipe.output_path(recipe.train.output);
  if (file_exists(path_join(trained, "config.json"))) return trained;
  const std::string converted = recipe.output_path(recipe.convert.output);
  require_existing_path(recipe, "convert.output", converted);
  return converted;
}

at::ScalarType export_dtype(const Recipe& recipe, const Model& model) {
  if (recipe.export_.dtype != "auto") return parse_dtype(recipe.export_.dtype);
  const std::string& declared = model.config.torch_dtype;
  return declared == "bfloat16" || declared == "float16" ? parse_dtype(declared) : at::kFloat;
}

}  // namespace

CommandSpec export_command() {
  CommandSpec command;
  command.name = "export";
  command.summary = "write the converted (and trained) model for inference: hf-mla or deepseek-v3";
  command.description =
      "Loads train.output if it holds a checkpoint, else convert.output, and writes export.output in export.format: "
      "hf-mla (config.json with the `mla` block, the student's tensors with LoRA merged, no teacher k_proj / v_proj, "
      "tokenizer and processor files; mha2mla loads it back) or deepseek-v3 (DeepSeek-V3's MLA tensors and config, "
      "only for models that format expresses exactly; others are refused with the reasons). docs/export.md documents "
      "every tensor and key.";
  command.takes_recipe = true;
  command.options = {{"--format", "F", "overrides export.format", {"hf-mla", "deepseek-v3"}, ""}};
  command.run = [](const ParsedArgs& args) {
    RecipeSession session = start_recipe_command(args, "export");
    const Recipe& recipe = session.recipe;
    const std::string checkpoint = checkpoint_to_export(recipe);
    auto model = load_model(checkpoint, ModelLoadOptions{at::kFloat, "cpu"});
    ExportOptions options;
    options.dtype = export_dtype(recipe, *model);
    const std::string format = args.has("--format") ? args.get("--format") : recipe.export_.format;
    const std::string output = recipe.output_path(recipe.export_.output);
    if (format == "deepseek-v3")
      export_deepseek_v3(*model, output, options);
    else
      export_hf_mla(*model, output, options);
    save_recipe_beside(recipe, output);
    spdlog::info("wrote {} ({}, {})", output, format, torch_dtype_name(options.dtype));
    return 0;
  };
  return command;
}

}  // namespace mha2mla::cli
