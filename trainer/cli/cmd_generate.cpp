#include <cstdio>

#include <ATen/ATen.h>
#include <fmt/format.h>
#include <fmt/ranges.h>
#include <spdlog/spdlog.h>

#include "common/error.h"
#include "data/generation_prompt.h"
#include "trainer/cli/commands.h"
#include "trainer/cli/eval_checkpoints.h"
#include "trainer/cli/recipe_command.h"
#include "trainer/evaluation.h"

namespace mha2mla::cli {
namespace {

MultimodalBatch prompt_batch(const data::GenerationPrompt& prompt, const at::Device& device) {
  MultimodalBatch batch;
  std::vector<int64_t> ids(prompt.input_ids.begin(), prompt.input_ids.end());
  batch.input_ids = at::tensor(ids, at::kLong).unsqueeze(0).to(device);
  batch.attention_mask = at::ones_like(batch.input_ids);
  for (const data::ModelImage& image : prompt.images) {
    batch.pixel_values.push_back(image.pixel_values.to(device));
    if (!image.grid_thw.empty()) batch.image_grid_thw.push_back(image.grid_thw);
    if (image.size.first > 0) batch.image_sizes.push_back(image.size);
  }
  return batch;
}

int generate(const Recipe& recipe) {
  const GenerateConfig& g = recipe.generate;
  for (const std::string& image : g.images) require_existing_path(recipe, "generate.images", image);
  const ModelLoadOptions load{parse_dtype(recipe.model.dtype), recipe.model.device};

  // The teacher alone runs the original model; the student (and a teacher beside it) come as eval finds them.
  EvalCheckpoints checkpoints;
  if (g.which == "teacher") {
    require_existing_path(recipe, "model.path", recipe.model.path);
    checkpoints.teacher_folder = recipe.model.path;
    checkpoints.separate_teacher = load_model(recipe.model.path, load);
  } else {
    checkpoints = load_eval_checkpoints(recipe);
  }
  const std::string folder = g.which == "teacher" ? checkpoints.teacher_folder : checkpoints.student_folder;
  const data::PromptTokenizer prompts(folder, recipe.data.chat_template);
  const data::GenerationPrompt prompt = prompts.tokenize(g.prompt, g.images);
  const MultimodalBatch batch = prompt_batch(prompt, at::Device(recipe.model.device));
  const LatentCacheOptions cache{parse_kv_quantization(recipe.eval.kv_cache.quantization), recipe.eval.kv_cache.group_size};
  spdlog::info("prompt: {} tokens, {} image(s); {}", prompt.input_ids.size(), prompt.images.size(),
               g.which == "teacher" ? checkpoints.teacher_folder
                                    : fmt::format("student {}, teacher {}", checkpoints.student_folder,
                                                  checkpoints.teacher_folder));

  std::vector<std::pair<std::string, AttentionPath>> sides;
  if (g.which != "student") sides.emplace_back("teacher", AttentionPath::teacher);
  if (g.which != "teacher") sides.emplace_back("student", AttentionPath::student);
  for (const auto& [name, path] : sides) {
    Model& model = path == AttentionPath::teacher ? checkpoints.teacher() : *checkpoints.student;
    const GeneratedAnswer answer =
        generate_answer(model, path, batch, g.max_new_tokens, prompts.end_of_turn_id(), cache);
    const double seconds = answer.prefill_seconds + answer.decode_seconds;
    spdlog::info("{}: {} tokens{} in {:.3f} s ({:.1f} tokens/s; decode {:.1f} tokens/s), cache {} bytes for {} tokens "
                 "({:.1f} bytes/token{})",
                 name, answer.generated, answer.finished ? "" : " (max_new_tokens reached)", seconds,
                 seconds > 0 ? static_cast<double>(answer.generated) / seconds : 0.0,
                 answer.decode_seconds > 0 ? static_cast<double>(answer.generated) / answer.decode_seconds : 0.0,
                 answer.cache_bytes, answer.cached_tokens,
                 static_cast<double>(answer.cache_bytes) / static_cast<double>(std::max<int64_t>(1, answer.cached_tokens)),
                 path == AttentionPath::student && cache.quantization != KvQuantization::none
                     ? ", " + to_string(cache.quantization)
                     : std::string());
    spdlog::info("{} token ids: [{}]", name, fmt::join(answer.tokens, ", "));
    std::printf("%s: %s\n", name.c_str(), prompts.decode(answer.tokens).c_str());
    std::fflush(stdout);
  }
  return 0;
}

}  // namespace

CommandSpec generate_command() {
  CommandSpec command;
  command.name = "generate";
  command.summary = "greedy answers to generate.prompt (+ generate.images) from the teacher and/or the student";
  command.description =
      "Renders generate.prompt with generate.images (files; one \"<image>\\n\" each before the text unless the prompt "
      "places \"<image>\" itself) through the model's chat template and image processor, exactly as the training "
      "data is prepared, and decodes greedily for generate.max_new_tokens or until the end of the turn. "
      "generate.which picks the teacher (model.path; with the student, the student folder's teacher when it holds "
      "one), the student (as eval finds it, on the latent cache eval.kv_cache describes) or both. Prints each "
      "answer on stdout and logs its token ids, tokens/s and cache size in bytes.";
  command.takes_recipe = true;
  command.run = [](const ParsedArgs& args) {
    RecipeSession session = start_recipe_command(args, "generate");
    return generate(session.recipe);
  };
  return command;
}

}  // namespace mha2mla::cli
