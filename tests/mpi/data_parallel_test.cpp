// Data parallelism on two ranks equals one process on the whole batch (the oracle: every rank also trains a copy
// of the model on the whole batch alone). Each rank takes the global batch's rows r, r + 2, ... (the data
// pipeline's record split), padded only to its own longest row; the training step is the loop's: exact loss shares
// normalised by whole-batch counts, the loss scaled by the data-parallel size because GradientSynchronizer
// averages, clipping, AdamW. After every step the summed loss and the gradient norm, and at the end every trained
// weight, must equal the single process's to 1e-5 relative (float32; only the reduction order differs), and every
// weight element to 0.1% of a learning-rate step.
// A step without image tokens on any rank checks that tensors without a gradient anywhere stay untouched.
#include <ATen/ATen.h>
#include <gtest/gtest.h>

#include "distributed/gradient_sync.h"
#include "distributed/grid.h"
#include "trainer/grad_utils.h"
#include "trainer/losses.h"
#include "trainer/optimizer.h"
#include "trainer/trainable.h"
#include "tests/mpi/converted_models.h"
#include "tests/mpi/mpi_test_support.h"

namespace mha2mla {
namespace {

using mpi_test::relative_difference;
using mpi_test::runtime;

constexpr double kTolerance = 1e-5;

struct Trainee {
  std::unique_ptr<Model> model;
  std::vector<TrainableParameter> trainable;
  std::vector<ParamRef> refs;
  std::unique_ptr<AdamW> optimizer;
};

Trainee make_trainee(const std::string& folder, const TrainConfig& train) {
  Trainee t;
  t.model = load_model(folder, ModelLoadOptions{});
  attach_lora(*t.model, train.lora, 5);
  t.trainable = select_trainable(*t.model, train);
  for (auto& p : t.trainable) {
    ParamRef ref;
    ref.name = p.name;
    ref.tensor = &p.tensor;
    t.refs.push_back(ref);
  }
  t.optimizer = std::make_unique<AdamW>(make_param_groups(t.refs, train.optimizer), adamw_options(train.optimizer));
  return t;
}

struct GlobalBatch {
  at::Tensor ids, mask, labels, image;  // [4, T]
};

// Four rows of different lengths (right padding), a prompt part without labels, image tokens in `image_rows`.
GlobalBatch global_batch(int64_t vocab, uint64_t seed, const std::vector<int64_t>& image_rows) {
  at::manual_seed(seed);
  const int64_t rows = 4, T = 12;
  const int64_t lengths[rows] = {12, 7, 10, 5};
  GlobalBatch b;
  b.ids = at::randint(0, vocab, {rows, T}, at::kLong);
  b.mask = at::zeros({rows, T}, at::kLong);
  b.image = at::zeros({rows, T}, at::kBool);
  for (int64_t r = 0; r < rows; ++r) b.mask[r].narrow(0, 0, lengths[r]).fill_(1);
  for (int64_t r : image_rows) b.image[r].narrow(0, 1, 3).fill_(true);
  b.labels = b.ids.masked_fill(b.mask == 0, -100);
  b.labels.narrow(1, 0, 2).fill_(-100);
  return b;
}

// Rows `rows` of the batch, cut to their longest row (as the data pipeline pads each rank's batch).
std::pair<PreparedInputs, at::Tensor> take_rows(Model& model, const GlobalBatch& b, const std::vector<int64_t>& rows) {
  at::Tensor index = at::tensor(rows, at::kLong);
  at::Tensor mask = b.mask.index_select(0, index);
  const int64_t T = mask.sum(1).max().item<int64_t>();
  mask = mask.narrow(1, 0, T);
  PreparedInputs in;
  in.embeddings = model.text->embed(b.ids.index_select(0, index).narrow(1, 0, T));
  in.text.attention_mask = mask;
  in.text.positions = positions_per_segment(mask, at::Tensor(), static_cast<int64_t>(rows.size()), T, at::kCPU);
  in.text.image_mask = b.image.index_select(0, index).narrow(1, 0, T);
  return {in, b.labels.index_select(0, index).narrow(1, 0, T)};
}

TEST(DataParallel, SplitBatchMatchesOneProcessOnTheWholeBatch) {
  dist::ProcessGrid grid(runtime().grid().world_ptr(), 1);
  dist::Communicator& dp = grid.dp();
  ASSERT_EQ(dp.size(), 2);
  const std::string folder = mpi_test::converted_folder(mpi_test::Variant{"llama", 0, "joint"});
  TrainConfig train;
  train.mode = "global";  // every term: activation (per-layer energies), KL (valid tokens), CE (supervised tokens)
  train.loss.kl = 0.5;
  train.loss.ce = 0.25;
  train.lora.rank = 4;
  train.optimizer.lr = 1e-3;
  train.optimizer.weight_decay = 0.01;
  train.optimizer.clip_norm = 0.05;  // small enough to clip: the global norm must agree too
  // AdamW's first step is about lr * sign(g): an element whose gradient is analytically zero (float noise here) would
  // move by a random +-lr. An eps above that noise keeps such elements still in both runs; real gradients are larger.
  train.optimizer.eps = 1e-6;
  Trainee whole = make_trainee(folder, train), replica = make_trainee(folder, train);

  std::vector<at::Tensor> tensors;
  for (auto& p : replica.trainable) tensors.push_back(p.tensor);
  dist::GradientSynchronizer sync(tensors, dp, 0.01);  // several buckets
  SumAcrossRanks sum_over_dp = [&](std::vector<double>& values) {
    at::Tensor t = at::tensor(values, at::kDouble);
    dp.all_reduce(t);
    for (size_t i = 0; i < values.size(); ++i) values[i] = t[static_cast<int64_t>(i)].item<double>();
  };

  const int64_t rank = dp.rank();
  // Image tokens on both ranks, on none (the image projections get no gradient anywhere: the optimizer must skip
  // them on the replicas as it does in one process, weight decay and momentum included), on rank 1 only.
  const std::vector<std::vector<int64_t>> image_rows = {{0, 3}, {}, {1}};
  for (uint64_t step = 0; step < image_rows.size(); ++step) {
    GlobalBatch batch = global_batch(whole.model->text->config().vocab_size, 100 + step, image_rows[step]);

    auto [all_inputs, all_labels] = take_rows(*whole.model, batch, {0, 1, 2, 3});
    LossValues expected = loss_and_backward(*whole.model, all_inputs, all_labels, train, 1.0);
    const double expected_norm = clip_gradients(whole.refs, train.optimizer.clip_norm);
    whole.optimizer->step(train.optimizer.lr);
    whole.optimizer->zero_grad();

    auto [inputs, labels] = take_rows(*replica.model, batch, {rank, rank + 2});
    LossValues share = loss_and_backward(*replica.model, inputs, labels, train, static_cast<double>(dp.size()), sum_over_dp);
    sync.synchronize();
    std::vector<double> total = {share.total};
    sum_over_dp(total);
    const double norm = clip_gradients(replica.refs, train.optimizer.clip_norm);
    replica.optimizer->step(train.optimizer.lr);
    replica.optimizer->zero_grad();

    EXPECT_NEAR(total[0], expected.total, kTolerance * expected.total) << "step " << step;
    EXPECT_NEAR(norm, expected_norm, kTolerance * expected_norm) << "step " << step;
    EXPECT_GT(expected_norm, train.optimizer.clip_norm) << "the test should exercise clipping";
  }
  for (size_t i = 0; i < whole.trainable.size(); ++i) {
    const auto& name = whole.trainable[i].name;
    ASSERT_EQ(replica.trainable[i].name, name);
    const at::Tensor &got = replica.trainable[i].tensor, &expected = whole.trainable[i].tensor;
    EXPECT_LT(relative_difference(got, expected), kTolerance) << name;
    // Element by element, the trajectories agree to 0.1% of one step (AdamW moves an element by about lr per step).
    EXPECT_LT((got - expected).abs().max().item<double>(), 1e-3 * train.optimizer.lr) << name;
    // The weights moved: the comparison is not between two untouched copies.
    if (name.find("lora_B") != std::string::npos) {
      EXPECT_GT(whole.trainable[i].tensor.abs().max().item<double>(), 0);
    }
  }
}

}  // namespace
}  // namespace mha2mla
