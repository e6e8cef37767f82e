#include <ATen/ATen.h>
#include <spdlog/spdlog.h>

#include "common/error.h"
#include "common/files.h"
#include "data/data_pipeline.h"
#include "distributed/distributed_runtime.h"
#include "model/convert/calibration.h"
#include "model/model.h"
#include "trainer/cli/commands.h"
#include "trainer/cli/recipe_command.h"
#include "trainer/model_batch.h"

namespace mha2mla::cli {
namespace {

int calibrate(const Recipe& recipe, dist::DistributedRuntime& runtime) {
  const CalibrateConfig& c = recipe.calibrate;
  dist::Communicator& world = runtime.world();
  const bool leader = world.rank() == 0;
  require_existing_path(recipe, "model.path", recipe.model.path);
  auto model = load_model(recipe.model.path, ModelLoadOptions{parse_dtype(recipe.model.dtype), recipe.model.device});
  const std::string output = recipe.output_path(c.output);

  Calibration calibration(*model);
  data::PipelineOptions options;
  options.rank = world.rank();
  options.world = world.size();
  options.seed = static_cast<uint64_t>(recipe.model.seed);
  if (c.append && file_exists(path_join(output, "manifest.json"))) {
    calibration = Calibration::load(output);
    if (calibration.cursors.size() != static_cast<size_t>(world.size()))
      fail_with_hint("append with the world size of the first run, or start a fresh calibration",
                     "{}: written by {} rank(s), this run has {}", output, calibration.cursors.size(), world.size());
    options.cursor = calibration.cursors[static_cast<size_t>(world.rank())];
    if (leader)
      spdlog::info("appending to {} ({} samples, {} held out so far)", output, calibration.samples,
                   calibration.held_out_samples);
  }
  auto pipeline = data::open_data_pipeline(recipe.data, recipe.model.path, options);

  // This rank's share of the samples (all ranks together see calibrate.samples and calibrate.held_out).
  auto share = [&](int64_t total) { return total / world.size() + (world.rank() < total % world.size() ? 1 : 0); };
  const int64_t calibration_quota = share(c.samples), held_out_quota = share(c.held_out);
  int64_t seen = 0, held_out_seen = 0, batches = 0;
  std::string cursor = options.cursor;
  const at::Device device(recipe.model.device);
  while (seen < calibration_quota || held_out_seen < held_out_quota) {
    std::optional<data::Batch> batch = pipeline->next();
    if (!batch) break;
    const bool held_out = seen >= calibration_quota;
    calibration.observe(*model, model->prepare(to_model_batch(*batch, device)), held_out);
    (held_out ? held_out_seen : seen) += static_cast<int64_t>(batch->samples.size());
    cursor = batch->cursor;
    if (leader && ++batches % 10 == 0)
      spdlog::info("calibrate: {} / {} samples, {} / {} held out (rank 0)", seen, calibration_quota, held_out_seen,
                   held_out_quota);
  }

  // Sum over ranks; each rank's cursor goes into the manifest for a later append.
  calibration.reduce([&](at::Tensor& t) { world.all_reduce(t); }, [&](int64_t v) { return world.all_reduce_int(v); });
  std::vector<std::string> cursors;
  for (int r = 0; r < world.size(); ++r) {
    // Cursors are strings of different lengths: gather their lengths first, then the bytes.
    std::string mine = r == world.rank() ? cursor : std::string();
    at::Tensor length = at::tensor({static_cast<int64_t>(mine.size())}, at::kLong);
    world.broadcast(length, r);
    at::Tensor bytes = at::zeros({length.item<int64_t>()}, at::kByte);
    if (r == world.rank() && !mine.empty()) std::memcpy(bytes.data_ptr(), mine.data(), mine.size());
    world.broadcast(bytes, r);
    cursors.emplace_back(static_cast<const char*>(bytes.data_ptr()), static_cast<size_t>(bytes.numel()));
  }
  calibration.cursors = cursors;
  if (leader) {
    calibration.save(output, recipe.model.path);
    save_recipe_beside(recipe, output);
    spdlog::info("calibration: {} samples ({} text / {} image tokens), {} held out -> {}", calibration.samples,
                 calibration.tokens[kText], calibration.tokens[kImage], calibration.held_out_samples, output);
    if (calibration.tokens[kImage] == 0)
      spdlog::warn("no image tokens were seen: the image projections will be fitted to text statistics");
  }
  world.barrier();
  return 0;
}

}  // namespace

CommandSpec calibrate_command() {
  CommandSpec command;
  command.name = "calibrate";
  command.summary = "stream calibration samples through the original model: RoPE-pair scores, input statistics";
  command.description =
      "Writes calibrate.output (calibration.safetensors + manifest.json): per layer and modality the pair-norm "
      "sums (2norm), the RoPE-removal KL sums (mkl), and the attention-input second moments (activation-aware SVD), "
      "plus held-out moments for the conversion report. Under mpirun / srun every rank reads its share and the sums "
      "are all-reduced. calibrate.append=true adds new samples to an existing folder.";
  command.takes_recipe = true;
  command.run = [](const ParsedArgs& args) {
    RecipeSession session = start_recipe_command(args, "calibrate");
    dist::DistributedRuntime runtime(session.recipe.distributed, session.launch);
    return runtime.run([&] { return calibrate(session.recipe, runtime); });
  };
  return command;
}

}  // namespace mha2mla::cli
