// Checkpoints and gradient norms across two ranks: data-parallel ranks keep their own data cursors while one
// replica's tensors are written; tensor-parallel ranks write and read back their own shards; a failure on
// one rank fails the save on every rank and leaves no checkpoint; the resume decision is rank 0's; the
// global gradient norm over TP shards equals the norm of the full tensors computed on one rank.
#include <cstdlib>
#include <filesystem>

#include <ATen/ATen.h>
#include <gtest/gtest.h>

#include "common/error.h"
#include "common/files.h"
#include "distributed/grid.h"
#include "trainer/checkpoint.h"
#include "trainer/checkpoint_store.h"
#include "trainer/grad_utils.h"
#include "tests/mpi/mpi_test_support.h"

namespace mha2mla {
namespace {

namespace fs = std::filesystem;
using mpi_test::runtime;
using mpi_test::world;

// A folder shared by the ranks, emptied by rank 0 before anyone uses it.
std::string shared_scratch(const std::string& name) {
  const char* root = std::getenv("MHA2MLA_TEST_TMP");
  std::string dir = path_join(root && *root ? root : fs::temp_directory_path().string(), "mpi_checkpoint/" + name);
  if (world().rank() == 0) {
    fs::remove_all(dir);
    ensure_directory(dir);
  }
  world().barrier();
  return dir;
}

std::shared_ptr<dist::Communicator> world_ptr() { return runtime().grid().world_ptr(); }

CheckpointContents contents_for(int64_t step, const at::Tensor& weight, const std::string& cursor) {
  CheckpointContents c;
  c.progress.step = step;
  c.weights["w"] = weight;
  c.optimizer_state["w.exp_avg"] = weight * 2;
  c.data_cursor = cursor;
  c.cpu_rng_state = "rng of " + cursor;
  c.recipe_hash = "feedface";
  return c;
}

TEST(MpiCheckpoint, DataParallelRanksKeepTheirCursors) {
  dist::ProcessGrid grid(world_ptr(), 1);
  const int rank = world().rank();
  std::string dir = shared_scratch("dp");
  at::Tensor weight = at::arange(6, at::kFloat);  // replicas hold the same values
  std::string path = save_checkpoint(dir, contents_for(4, weight, "cursor of rank " + std::to_string(rank)), grid);
  EXPECT_EQ(path, path_join(dir, "step-4"));

  CheckpointSummary summary = read_checkpoint(path, CheckpointVerify::checksums);
  EXPECT_EQ(summary.world_size, 2);
  EXPECT_EQ(summary.dp_size, 2);
  EXPECT_EQ(summary.tp_size, 1);
  ASSERT_EQ(summary.files.size(), 2u);  // one replica's weights and optimizer state
  EXPECT_EQ(summary.files[0].name, "weights-tp0.safetensors");

  LoadedCheckpoint loaded = load_checkpoint(path, grid);
  EXPECT_EQ(loaded.data_cursor, "cursor of rank " + std::to_string(rank));
  EXPECT_EQ(loaded.cpu_rng_state, "rng of cursor of rank " + std::to_string(rank));
  EXPECT_TRUE(at::equal(loaded.weights.at("w"), weight));
  // A single-process run cannot take this checkpoint's per-rank state.
  EXPECT_THROW(load_checkpoint(path), Error);
  world().barrier();
}

TEST(MpiCheckpoint, TensorParallelRanksWriteTheirShards) {
  dist::ProcessGrid grid(world_ptr(), 2);
  const int rank = world().rank();
  std::string dir = shared_scratch("tp");
  at::Tensor shard = at::arange(4, at::kFloat) + 100 * rank;
  std::string path = save_checkpoint(dir, contents_for(7, shard, "c" + std::to_string(rank)), grid);

  CheckpointSummary summary = read_checkpoint(path, CheckpointVerify::checksums);
  EXPECT_EQ(summary.tp_size, 2);
  ASSERT_EQ(summary.files.size(), 4u);
  LoadedCheckpoint loaded = load_checkpoint(path, grid);
  EXPECT_TRUE(at::equal(loaded.weights.at("w"), shard));
  EXPECT_TRUE(at::equal(loaded.optimizer_state.at("w.exp_avg"), shard * 2));
  EXPECT_EQ(loaded.data_cursor, "c" + std::to_string(rank));
  world().barrier();
}

TEST(MpiCheckpoint, AFailureOnOneRankFailsTheSaveEverywhere) {
  dist::ProcessGrid grid(world_ptr(), 2);
  const int rank = world().rank();
  std::string dir = shared_scratch("failure");
  save_checkpoint(dir, contents_for(1, at::ones({2}), "x"), grid);
  CheckpointSaveOptions options;
  options.on_event = [&](const std::string& event) {
    if (rank == 1 && event == "wrote weights-tp1.safetensors") fail("disk full (simulated) on rank 1");
  };
  try {
    save_checkpoint(dir, contents_for(2, at::ones({2}), "x"), grid, options);
    ADD_FAILURE() << "rank " << rank << ": the save did not fail";
  } catch (const Error& error) {
    std::string message = error.what();
    if (rank == 1) EXPECT_NE(message.find("disk full (simulated)"), std::string::npos) << message;
    else EXPECT_NE(message.find("failed on 1 of 2 ranks"), std::string::npos) << message;
  }
  world().barrier();
  EXPECT_FALSE(fs::exists(path_join(dir, "step-2")));
  EXPECT_EQ(resolve_resume("auto", dir, CheckpointVerify::checksums, world()), path_join(dir, "step-1"));
  world().barrier();
}

TEST(MpiGradients, GlobalNormOverTensorParallelShards) {
  dist::ProcessGrid grid(world_ptr(), 2);
  const int rank = world().rank();
  at::Tensor full = at::arange(12, at::kFloat).reshape({4, 3}) / 5.0;   // sharded by rows
  at::Tensor replicated_grad = at::full({5}, 0.25);
  at::Tensor shard = at::zeros({2, 3}).set_requires_grad(true), replicated = at::zeros({5}).set_requires_grad(true);
  shard.mutable_grad() = full.slice(0, 2 * rank, 2 * rank + 2).clone();
  replicated.mutable_grad() = replicated_grad.clone();
  std::vector<ParamRef> refs(2);
  refs[0].name = "s", refs[0].tensor = &shard, refs[0].shard_dim = 0, refs[0].full_size = 4;
  refs[1].name = "r", refs[1].tensor = &replicated;
  double expected = std::sqrt(full.to(at::kDouble).pow(2).sum().item<double>() +
                              replicated_grad.to(at::kDouble).pow(2).sum().item<double>());
  double norm = clip_gradients(refs, 0.0, sum_over(grid.tp()));
  EXPECT_NEAR(norm, expected, 1e-9 * expected);
}

}  // namespace
}  // namespace mha2mla
