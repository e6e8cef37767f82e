// Test-only: the held-out losses of a model folder, for the end-to-end training tests (tests/e2e/).
//
//   held_out_losses RECIPE MODEL_FOLDER [key=value ...]
//
// Streams the recipe's data.held_out records (never trained on) through trainer/losses.h evaluate_losses and
// prints one JSON object: {"batches", "tokens", "layer_activation_error": [per layer, mean over batches],
// "ce": mean over batches}. The activation errors are teacher-forced (each student attention on the teacher's
// layer input, against the teacher's output), as local distillation trains them.
#include <cstdio>
#include <iostream>

#include <ATen/ATen.h>
#include <ATen/Parallel.h>
#include <nlohmann/json.hpp>

#include "common/error.h"
#include "data/data_pipeline.h"
#include "model/model.h"
#include "trainer/losses.h"
#include "trainer/model_batch.h"
#include "trainer/recipe.h"

int main(int argc, char** argv) {
  using namespace mha2mla;
  if (argc < 3) {
    std::fprintf(stderr, "usage: held_out_losses RECIPE MODEL_FOLDER [key=value ...]\n");
    return 2;
  }
  try {
    Recipe recipe = load_recipe(argv[1], std::vector<std::string>(argv + 3, argv + argc));
    const std::string folder = argv[2];
    at::set_num_threads(1);
    auto model = load_model(folder, ModelLoadOptions{at::kFloat, "cpu"});
    if (recipe.data.held_out <= 0) fail("{}: data.held_out is 0; there is nothing to evaluate", argv[1]);
    data::PipelineOptions options;
    options.seed = static_cast<uint64_t>(recipe.model.seed);
    options.split = data::StreamSplit::kHeldOut;
    auto pipeline = data::open_data_pipeline(recipe.data, folder, options);
    std::vector<double> layers;
    double ce = 0;
    int64_t batches = 0, tokens = 0;
    while (auto batch = pipeline->next()) {
      PreparedInputs inputs = model->prepare(to_model_batch(*batch, at::kCPU));
      LossValues values = evaluate_losses(*model, inputs, batch->labels, recipe.train);
      if (layers.empty()) layers.assign(values.layer_activation_error.size(), 0.0);
      for (size_t l = 0; l < layers.size(); ++l) layers[l] += values.layer_activation_error[l];
      ce += values.terms.at("ce");
      tokens += values.tokens;
      ++batches;
    }
    if (batches == 0) fail("{}: the held-out stream is empty", argv[1]);
    for (double& value : layers) value /= static_cast<double>(batches);
    nlohmann::json out = {{"batches", batches}, {"tokens", tokens}, {"layer_activation_error", layers},
                          {"ce", ce / static_cast<double>(batches)}};
    std::cout << out.dump() << "\n";
    return 0;
  } catch (const Error& e) {
    std::fprintf(stderr, "error: %s\n", e.what());
    return 1;
  }
}
