#include <ATen/ATen.h>
#include <nlohmann/json.hpp>
#include <spdlog/spdlog.h>

#include "common/error.h"
#include "common/files.h"
#include "data/data_pipeline.h"
#include "data/generation_prompt.h"
#include "distributed/distributed_runtime.h"
#include "trainer/cli/commands.h"
#include "trainer/cli/eval_checkpoints.h"
#include "trainer/cli/recipe_command.h"
#include "trainer/eval_report.h"
#include "trainer/evaluation.h"
#include "trainer/model_batch.h"
#include "trainer/rank_exchange.h"

namespace mha2mla::cli {
namespace {

int evaluate(const Recipe& recipe, dist::DistributedRuntime& runtime) {
  const EvalConfig& e = recipe.eval;
  dist::Communicator& world = runtime.world();
  const bool leader = world.rank() == 0;
  if (recipe.data.held_out == 0)
    fail_with_hint("set data.held_out (records per dataset kept out of training) and train with the same value",
                   "{}: data.held_out = 0: eval reads the held-out records, and the recipe keeps none",
                   recipe.source.empty() ? "recipe" : recipe.source);
  EvalCheckpoints checkpoints = load_eval_checkpoints(recipe);
  EvalModels models{&checkpoints.teacher(), checkpoints.student.get()};
  const LatentCacheOptions cache{parse_kv_quantization(e.kv_cache.quantization), e.kv_cache.group_size};
  const at::Device device(recipe.model.device);
  if (leader)
    spdlog::info("student {}, teacher {}; latent cache {}", checkpoints.student_folder, checkpoints.teacher_folder,
                 e.kv_cache.quantization == "none" ? std::string("unquantised")
                                                   : fmt::format("{} (groups of {})", e.kv_cache.quantization,
                                                                 e.kv_cache.group_size));

  // One sample per row, so that each row cuts into one prompt and one reference answer.
  DataConfig data = recipe.data;
  data.packing = false;
  data::PipelineOptions options;
  options.rank = world.rank();
  options.world = world.size();
  options.seed = static_cast<uint64_t>(recipe.model.seed);
  options.split = data::StreamSplit::kHeldOut;
  auto pipeline = data::open_data_pipeline(data, checkpoints.student_folder, options);
  const data::PromptTokenizer prompts(checkpoints.student_folder, recipe.data.chat_template);

  const int64_t quota = e.samples / world.size() + (world.rank() < e.samples % world.size() ? 1 : 0);
  const size_t layers = checkpoints.student->text->layers.size();
  TeacherForcedSums sums = TeacherForcedSums::unpack(std::vector<double>(6 + 2 * layers, 0.0), layers);
  std::vector<AnswerRecord> answers;
  GenerationTotals teacher_generation, student_generation;
  int64_t seen = 0;
  while (seen < quota) {
    std::optional<data::Batch> next = pipeline->next();
    if (!next) break;
    const data::Batch batch = first_rows(*next, quota - seen);
    sums.add(teacher_forced_sums(models, to_model_batch(batch, device), batch.labels));
    for (const EvalPrompt& p : split_prompts(batch, prompts, device)) {
      GeneratedAnswer teacher = generate_answer(*models.teacher, AttentionPath::teacher, p.prompt, e.max_new_tokens,
                                                prompts.end_of_turn_id());
      GeneratedAnswer student = generate_answer(*models.student, AttentionPath::student, p.prompt, e.max_new_tokens,
                                                prompts.end_of_turn_id(), cache);
      teacher_generation.add(teacher);
      student_generation.add(student);
      answers.push_back({p.id, prompts.decode(p.reference), prompts.decode(teacher.tokens), prompts.decode(student.tokens),
                         p.reference_complete});
    }
    seen += batch.rows();
    if (leader) spdlog::info("eval: {} / {} samples (rank 0)", seen, quota);
  }

  // Totals over ranks: the sums add up; the answers are gathered in rank order.
  std::vector<double> packed = sums.pack();
  at::Tensor t = at::tensor(packed, at::kDouble);
  world.all_reduce(t);
  for (size_t i = 0; i < packed.size(); ++i) packed[i] = t[static_cast<int64_t>(i)].item<double>();
  EvalReport report;
  report.sums = TeacherForcedSums::unpack(packed, layers);
  for (const std::string& part : all_gather_bytes(world, serialize_answers(answers, teacher_generation, student_generation)))
    merge_serialized_answers(part, report.answers, report.teacher_generation, report.student_generation);
  if (report.sums.samples == 0)
    fail("no held-out sample was read: data.held_out = {} over {} dataset(s)", recipe.data.held_out,
         recipe.data.datasets.size());

  if (leader) {
    report.student_checkpoint = checkpoints.student_folder;
    report.teacher_checkpoint = checkpoints.teacher_folder;
    report.dtype = recipe.model.dtype;
    report.cache = cache;
    report.max_new_tokens = e.max_new_tokens;
    report.kv_model_dtype = kv_bytes_per_token(*checkpoints.student, cache,
                                               static_cast<int64_t>(at::elementSize(parse_dtype(recipe.model.dtype))));
    report.kv_bf16 = kv_bytes_per_token(*checkpoints.student, cache, 2);
    nlohmann::json json = eval_report_json(report);
    json["recipe"] = recipe.to_yaml();
    const std::string output = recipe.output_path(e.output);
    const std::string folder = parent_directory(output);
    if (!folder.empty()) ensure_directory(folder);
    write_file_atomic(output, json.dump(2, ' ', false, nlohmann::json::error_handler_t::replace) + "\n");
    spdlog::info("evaluation:\n{}", format_eval_table(report));
    spdlog::info("wrote {}", output);
  }
  world.barrier();
  return 0;
}

}  // namespace

CommandSpec eval_command() {
  CommandSpec command;
  command.name = "eval";
  command.summary = "teacher vs student on held-out SFT samples: CE, KL, layer errors, exact match, KV bytes, speed";
  command.description =
      "Reads the data.held_out records (at most eval.samples; under mpirun / srun the ranks share them) and compares "
      "the student (eval.student, else train.output, else convert.output) with its teacher (the same folder when it "
      "holds the teacher's tensors, else model.path): answer-token cross-entropy and perplexity of both, "
      "KL(teacher || student) on the answer tokens, each layer's teacher-forced activation error, exact match of "
      "greedy answers (the prompt up to the first answer, eval.max_new_tokens, the student on its latent cache as "
      "eval.kv_cache stores it) against the reference answers and each other, KV-cache bytes per token and decoding "
      "speed. Writes eval.output (JSON) and logs a table.";
  command.takes_recipe = true;
  command.run = [](const ParsedArgs& args) {
    RecipeSession session = start_recipe_command(args, "eval");
    dist::DistributedRuntime runtime(session.recipe.distributed, session.launch);
    return runtime.run([&] { return evaluate(session.recipe, runtime); });
  };
  return command;
}

}  // namespace mha2mla::cli
