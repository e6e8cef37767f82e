#include <nlohmann/json.hpp>
#include <spdlog/spdlog.h>

#include "common/files.h"
#include "model/convert/converter.h"
#include "model/model.h"
#include "trainer/cli/commands.h"
#include "trainer/cli/recipe_command.h"

namespace mha2mla::cli {

CommandSpec convert_command() {
  CommandSpec command;
  command.name = "convert";
  command.summary = "convert the model's attention to MLA and write an HF-style checkpoint folder";
  command.description =
      "Chooses each layer's RoPE pairs (convert.strategy), initialises the latent projections from the original "
      "weights (convert.init: plain or activation-aware SVD, per modality), and writes convert.output: config.json "
      "with an `mla` block, the weights (original tensors plus the MLA tensors), the tokenizer and processor files, "
      "convert_report.json (per-layer factorisation errors, KV bytes per token) and the effective recipe.";
  command.takes_recipe = true;
  command.run = [](const ParsedArgs& args) {
    RecipeSession session = start_recipe_command(args, "convert");
    const Recipe& recipe = session.recipe;
    require_existing_path(recipe, "model.path", recipe.model.path);
    auto model = load_model(recipe.model.path, ModelLoadOptions{at::kFloat, "cpu"});

    const ConvertConfig& c = recipe.convert;
    ConversionOptions options{c.rope_dims, c.latent_rank, c.strategy, c.uniform_start, c.variant, c.init, c.ridge,
                              c.stage == "partial_rope"};
    std::unique_ptr<Calibration> calibration;
    const std::string calibration_path = recipe.output_path(c.calibration);
    if (file_exists(path_join(calibration_path, "manifest.json")))
      calibration = std::make_unique<Calibration>(Calibration::load(calibration_path));

    ConversionReport report = convert_to_mla(*model, options, calibration.get());
    const std::string output = recipe.output_path(c.output);
    save_model(*model, output);
    copy_side_files(recipe.model.path, output);
    write_file_atomic(path_join(output, "convert_report.json"), to_json(report).dump(2) + "\n");
    save_recipe_beside(recipe, output);
    spdlog::info("conversion report:\n{}", format_report(report));
    spdlog::info("wrote {}", output);
    return 0;
  };
  return command;
}

}  // namespace mha2mla::cli
