#include "trainer/train_loop.h"

#include <chrono>

#include <ATen/ATen.h>
#include <spdlog/spdlog.h>

#include "common/error.h"
#include "common/files.h"
#include "data/data_pipeline.h"
#include "distributed/gradient_sync.h"
#include "distributed/preemption.h"
#include "model/model.h"
#include "model/tensor_parallel.h"
#include "trainer/checkpoint.h"
#include "trainer/checkpoint_store.h"
#include "trainer/grad_utils.h"
#include "trainer/losses.h"
#include "trainer/metrics.h"
#include "trainer/model_batch.h"
#include "trainer/optimizer.h"
#include "trainer/progress.h"
#include "trainer/rng_state.h"
#include "trainer/schedule.h"
#include "trainer/trainable.h"

namespace mha2mla {
namespace {

double now_seconds() {
  return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count();
}

// The trainable tensors with the model's slice information (tensor parallelism: which part each rank holds,
// which gradients are summed over the tensor-parallel group).
std::vector<ParamRef> as_refs(Model& model, std::vector<TrainableParameter>& trainable) {
  std::map<std::string, ParamRef> by_name;
  model.visit([&](ParamRef& ref) { by_name[ref.name] = ref; });
  std::vector<ParamRef> refs;
  for (auto& p : trainable) {
    ParamRef ref = by_name.at(p.name);
    ref.tensor = &p.tensor;
    refs.push_back(ref);
  }
  return refs;
}

std::map<std::string, at::Tensor> named_weights(const std::vector<TrainableParameter>& trainable) {
  std::map<std::string, at::Tensor> weights;
  for (const auto& p : trainable) weights[p.name] = p.tensor;
  return weights;
}

}  // namespace

std::string training_init_folder(const Recipe& recipe) {
  if (!recipe.train.init_from.empty()) return recipe.train.init_from;
  return recipe.train.stage == "sft" ? recipe.model.path : recipe.output_path(recipe.convert.output);
}

int run_training(const Recipe& recipe, dist::DistributedRuntime& runtime) {
  const TrainConfig& train = recipe.train;
  dist::ProcessGrid& grid = runtime.grid();
  dist::Communicator& dp = grid.dp();
  // The model is split over the tensor-parallel group (one group of consecutive ranks per replica).
  dist::TensorParallel tp;
  if (grid.shape().tensor_parallel > 1) tp.group = &grid.tp();
  const bool leader = runtime.world().rank() == 0;

  // Model and trainable set.
  const std::string init_folder = training_init_folder(recipe);
  require_existing_path(recipe, recipe.train.init_from.empty() ? (train.stage == "sft" ? "model.path" : "convert.output")
                                                               : "train.init_from",
                        init_folder);
  auto model = load_model(init_folder, ModelLoadOptions{parse_dtype(recipe.model.dtype), recipe.model.device, tp});
  if (train.stage != "sft") {
    if (!model->mla)
      fail_with_hint("run `mha2mla convert` first, or set train.stage=sft to train the original model",
                     "train.stage = {} needs a converted checkpoint, but {} has no mla block", train.stage, init_folder);
    if (train.stage == "stage1" && !model->mla->partial_rope_only)
      fail_with_hint("convert with convert.stage=partial_rope for stage 1, or set train.stage=stage2 / one_stage",
                     "train.stage = stage1 trains a partial-RoPE (stage-1) conversion, but {} holds a low-rank MLA "
                     "conversion (latent_rank {})", init_folder, model->mla->latent_rank);
    if (train.stage == "stage2" && model->mla->partial_rope_only)
      fail_with_hint("convert the stage-1 result to MLA first (convert.stage=mla with model.path = the stage-1 output)",
                     "train.stage = stage2 trains the low-rank MLA student, but {} is a stage-1 (partial_rope) "
                     "conversion", init_folder);
    // Shared tensors the preset trains become the student's own first, so that LoRA and training see the copies.
    give_preset_copies(*model, train);
    attach_lora(*model, train.lora, static_cast<uint64_t>(recipe.model.seed));
  } else if (!trains_original_model(train.trainable)) {
    fail("train.stage = sft trains the original model: set train.trainable = full or language (got {})",
         train.trainable);
  }
  std::vector<TrainableParameter> trainable = select_trainable(*model, train);
  std::vector<ParamRef> refs = as_refs(*model, trainable);
  AdamW optimizer(make_param_groups(refs, train.optimizer), adamw_options(train.optimizer));
  LearningRateSchedule schedule(train.schedule, train.optimizer.lr, train.steps);
  NonFiniteGuard guard(train.max_nonfinite_steps);
  int64_t parameters = 0;
  for (const auto& p : trainable) parameters += p.tensor.numel();
  if (leader)
    spdlog::info("training {} tensors ({} parameters{}) of {}; {}; {}", trainable.size(), parameters,
                 tp.enabled() ? fmt::format(" on this rank of {} tensor-parallel ranks", tp.size()) : "", init_folder,
                 optimizer.summary(), schedule.summary());

  // Resume.
  const std::string checkpoint_dir = recipe.output_path(recipe.checkpoint.dir);
  const CheckpointVerify verify = parse_checkpoint_verify(recipe.checkpoint.verify);
  std::optional<std::string> resume = resolve_resume(recipe.checkpoint.resume, checkpoint_dir, verify, runtime.world());
  CheckpointProgress progress;
  std::string cursor;
  if (resume) {
    LoadedCheckpoint loaded = load_checkpoint(*resume, grid, verify);
    if (loaded.summary.recipe_hash != recipe.hash() && leader)
      spdlog::warn("{} was written by a different recipe (hash {} vs {}); resuming anyway", *resume,
                   loaded.summary.recipe_hash, recipe.hash());
    restore_parameters(refs, loaded.weights, *resume);
    optimizer.load_state_dict(loaded.optimizer_state, *resume);
    restore_cpu_rng_state(loaded.cpu_rng_state, *resume);
    progress = loaded.summary.progress;
    guard.restore(progress.skipped_steps, 0);
    cursor = loaded.data_cursor;
    if (leader) spdlog::info("resumed from {} at step {}", *resume, progress.step);
  } else {
    at::manual_seed(recipe.model.seed);
  }
  if (progress.step >= train.steps) {
    if (leader) spdlog::info("checkpoint step {} >= train.steps {}: nothing to train", progress.step, train.steps);
  }

  // Data: each data-parallel rank reads its own share; tensor-parallel peers read the same.
  data::PipelineOptions data_options;
  data_options.rank = grid.dp_rank();
  data_options.world = grid.shape().data_parallel;
  data_options.seed = static_cast<uint64_t>(recipe.model.seed);
  data_options.cursor = cursor;
  auto pipeline = data::open_data_pipeline(recipe.data, init_folder, data_options);

  std::unique_ptr<dist::GradientSynchronizer> gradient_sync;
  if (dp.size() > 1) {
    std::vector<at::Tensor> tensors;
    for (const auto& p : trainable) tensors.push_back(p.tensor);
    gradient_sync = std::make_unique<dist::GradientSynchronizer>(tensors, dp, recipe.distributed.bucket_mb);
  }
  SumAcrossRanks sum_across_dp;
  if (dp.size() > 1)
    sum_across_dp = [&](std::vector<double>& values) {
      at::Tensor t = at::tensor(values, at::kDouble);
      dp.all_reduce(t);
      for (size_t i = 0; i < values.size(); ++i) values[i] = t[static_cast<int64_t>(i)].item<double>();
    };

  std::unique_ptr<MetricsLog> metrics;
  if (leader)
    metrics = std::make_unique<MetricsLog>(recipe.output_path(train.metrics_file),
                                           train.tensorboard_dir.empty() ? "" : recipe.output_path(train.tensorboard_dir),
                                           resume ? std::optional<int64_t>(progress.step) : std::nullopt);
  dist::install_preemption_handler();
  const at::Device device(recipe.model.device);
  const double start = now_seconds();
  ThroughputMeter meter(progress.step, progress.tokens_seen, progress.samples_seen, start);
  std::string last_checkpoint;
  RunSummary summary;
  summary.first_step = progress.step;
  summary.total_steps = train.steps;

  auto save = [&](const std::string& why) {
    CheckpointContents contents;
    contents.progress = progress;
    contents.progress.skipped_steps = guard.skipped_total();
    contents.weights = named_weights(trainable);
    contents.optimizer_state = optimizer.state_dict();
    contents.data_cursor = cursor;
    contents.cpu_rng_state = capture_cpu_rng_state();
    contents.recipe_hash = recipe.hash();
    contents.metadata["recipe"] = recipe.to_yaml();
    contents.metadata["reason"] = why;
    CheckpointSaveOptions options;
    options.keep_last = recipe.checkpoint.keep_last;
    options.keep_every = recipe.checkpoint.keep_every;
    last_checkpoint = save_checkpoint(checkpoint_dir, contents, grid, options);
    if (leader) spdlog::info("checkpoint {} ({})", last_checkpoint, why);
  };

  std::string status = "completed";
  while (progress.step < train.steps) {
    LossValues step_values;
    int64_t step_tokens = 0, step_samples = 0;
    for (int64_t micro = 0; micro < train.grad_accum; ++micro) {
      std::optional<data::Batch> batch = pipeline->next();
      if (!batch) fail("the data stream ended at step {} (data.max_epochs?)", progress.step);
      PreparedInputs inputs = model->prepare(to_model_batch(*batch, device));
      // Each rank's loss is its share of the whole batch's; gradients are averaged across ranks, so scale by
      // the number of ranks to sum the shares.
      LossValues values = loss_and_backward(*model, inputs, batch->labels.to(device), train,
                                            static_cast<double>(dp.size()) / static_cast<double>(train.grad_accum),
                                            sum_across_dp);
      for (const auto& [name, value] : values.terms) step_values.terms[name] += value / static_cast<double>(train.grad_accum);
      step_values.total += values.total / static_cast<double>(train.grad_accum);
      step_tokens += batch->tokens;
      step_samples += static_cast<int64_t>(batch->samples.size());
      cursor = batch->cursor;
    }
    // Average over data-parallel replicas (the loss scale makes it the sum of the ranks' shares), then sum the
    // gradients of tensors every tensor-parallel rank holds but computes only in part.
    if (gradient_sync) gradient_sync->synchronize();
    sum_tensor_parallel_gradients(refs, tp);
    // The logged loss is the whole batch's: the ranks' shares add up.
    std::vector<double> totals = {step_values.total, static_cast<double>(step_tokens), static_cast<double>(step_samples)};
    for (const auto& term : step_values.terms) totals.push_back(term.second);
    if (sum_across_dp) sum_across_dp(totals);
    const SquaredNormReducer over_tp = tp.enabled() ? sum_over(*tp.group) : SquaredNormReducer();
    const double grad_norm = clip_gradients(refs, train.optimizer.clip_norm, over_tp);
    const double lr = schedule.at(progress.step);
    if (guard.check(progress.step, totals[0], grad_norm)) optimizer.step(lr);
    optimizer.zero_grad();
    ++progress.step;
    progress.tokens_seen += static_cast<int64_t>(totals[1]);
    progress.samples_seen += static_cast<int64_t>(totals[2]);

    StepMetrics m;
    m.step = progress.step;
    m.losses.emplace_back("total", totals[0]);
    size_t index = 3;
    for (const auto& term : step_values.terms) m.losses.emplace_back(term.first, totals[index++]);
    m.lr = lr;
    m.grad_norm = grad_norm;
    auto rates = meter.update(progress.step, progress.tokens_seen, progress.samples_seen, now_seconds(), train.steps);
    m.tokens_per_second = rates.tokens_per_second;
    m.samples = progress.samples_seen;
    m.tokens = progress.tokens_seen;
    m.elapsed_seconds = rates.elapsed_seconds;
    m.skipped_steps = guard.skipped_total();
    summary.final_losses = m.losses;
    if (metrics && (progress.step % train.log_every == 0 || progress.step == train.steps)) {
      metrics->log_step(m);
      spdlog::info("{}", format_progress_line(m, train.steps, rates.eta_seconds));
    }

    const bool periodic = recipe.checkpoint.every > 0 && progress.step % recipe.checkpoint.every == 0 &&
                          progress.step < train.steps;
    if (dist::preemption_requested(runtime.world())) {
      save(std::string("preempted by ") + (dist::preemption_signalled() ? dist::preemption_signal_name() : "a peer"));
      status = "preempted";
      break;
    }
    if (periodic) save("periodic");
  }

  if (status == "completed") {
    if (progress.step > summary.first_step || !resume) save("final");
    // The trained model as a checkpoint folder of its own, whole: one replica writes it (all replicas hold the
    // same weights); under tensor parallelism its ranks gather the slices and its tensor-parallel rank 0 writes.
    const std::string output = recipe.output_path(train.output);
    if (grid.dp_rank() == 0) save_model(*model, output);
    if (leader) {
      copy_side_files(init_folder, output);
      save_recipe_beside(recipe, output);
      spdlog::info("wrote the trained model to {}", output);
    }
  }
  summary.status = status;
  summary.last_step = progress.step;
  summary.skipped_steps = guard.skipped_total();
  summary.samples = progress.samples_seen;
  summary.tokens = progress.tokens_seen;
  summary.elapsed_seconds = now_seconds() - start;
  summary.mean_tokens_per_second = summary.elapsed_seconds > 0
                                       ? static_cast<double>(progress.tokens_seen) / summary.elapsed_seconds
                                       : 0;
  summary.last_checkpoint = last_checkpoint;
  if (metrics) {
    metrics->log_summary(summary);
    spdlog::info("{}", format_run_summary(summary));
  }
  return 0;
}

}  // namespace mha2mla
