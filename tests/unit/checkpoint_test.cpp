// Training checkpoints on real files: a bit-exact round trip (weights of two dtypes, AdamW state, data cursor,
// RNG stream), a resumed run continuing the uninterrupted trajectory, retention, resume=auto skipping
// incomplete or damaged checkpoints with each kind of damage named, explicit resume errors, and crash
// simulation: a child process killed at every stage of a save never leaves a checkpoint that resume picks.
#include <gtest/gtest.h>
#include <sys/wait.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>

#include <ATen/ATen.h>

#include "common/crc32c.h"
#include "common/files.h"
#include "trainer/checkpoint.h"
#include "trainer/checkpoint_store.h"
#include "trainer/optimizer.h"
#include "trainer/rng_state.h"
#include "tests/unit/test_support.h"

namespace mha2mla {
namespace {

namespace fs = std::filesystem;

// A tiny "model": two trainable tensors of different dtypes, an optimizer, and a loss whose gradient is
// drawn from torch's RNG (so that restoring the RNG state matters).
struct TinyRun {
  at::Tensor weight = at::zeros({3, 4}).set_requires_grad(true);
  at::Tensor norm = at::ones({4}, at::kBFloat16).set_requires_grad(true);
  std::vector<ParamRef> params;
  std::unique_ptr<AdamW> adam;
  int64_t step = 0;

  TinyRun() {
    {
      at::NoGradGuard no_grad;
      weight.copy_(at::arange(12, at::kFloat).reshape({3, 4}) / 7.0);
    }
    params.resize(2);
    params[0].name = "layers.0.latent_down.weight", params[0].tensor = &weight;
    params[1].name = "layers.0.norm.weight", params[1].tensor = &norm;
    adam = std::make_unique<AdamW>(std::vector<ParamGroup>{{"all", params, 1.0, 0.01}}, AdamWOptions{});
  }
  void train(int64_t steps) {
    for (int64_t s = 0; s < steps; ++s) {
      weight.mutable_grad() = at::randn({3, 4});
      norm.mutable_grad() = at::randn({4}).to(at::kBFloat16);
      adam->step(1e-2);
      ++step;
    }
  }
  CheckpointContents contents(const std::string& cursor) const {
    CheckpointContents c;
    c.progress.step = step;
    c.progress.samples_seen = step * 8;
    c.progress.tokens_seen = step * 8 * 512;
    c.weights = named_tensors(params);
    c.optimizer_state = adam->state_dict();
    c.data_cursor = cursor;
    c.cpu_rng_state = capture_cpu_rng_state();
    c.recipe_hash = "0123456789abcdef";
    c.metadata["recipe"] = "train:\n  steps: 10\n";
    return c;
  }
};

std::string save_step(const std::string& dir, int64_t step, const CheckpointSaveOptions& options = {}) {
  TinyRun run;
  run.step = step;
  return save_checkpoint(dir, run.contents("cursor@" + std::to_string(step)), options);
}

void flip_byte(const std::string& path, uint64_t offset) {
  std::fstream f(path, std::ios::in | std::ios::out | std::ios::binary);
  f.seekg(static_cast<std::streamoff>(offset));
  char c = 0;
  f.read(&c, 1);
  f.seekp(static_cast<std::streamoff>(offset));
  c = static_cast<char>(c ^ 0x5A);
  f.write(&c, 1);
}

TEST(Checkpoint, RoundTripIsBitExact) {
  std::string dir = testing::scratch_dir();
  at::manual_seed(11);
  TinyRun run;
  run.train(3);
  const std::string cursor("shard-3\0offset=17\xff", 18);  // opaque bytes, zeros included
  std::string path = save_checkpoint(dir, run.contents(cursor));
  EXPECT_EQ(path, path_join(dir, "step-3"));
  for (const char* name : {"weights-tp0.safetensors", "optimizer-tp0.safetensors", "manifest.pb", "DONE"})
    EXPECT_TRUE(file_exists(path_join(path, name))) << name;

  LoadedCheckpoint loaded = load_checkpoint(path, CheckpointVerify::checksums);
  EXPECT_EQ(loaded.summary.progress.step, 3);
  EXPECT_EQ(loaded.summary.progress.samples_seen, 24);
  EXPECT_EQ(loaded.summary.progress.tokens_seen, 24 * 512);
  EXPECT_EQ(loaded.summary.world_size, 1);
  EXPECT_EQ(loaded.summary.recipe_hash, "0123456789abcdef");
  EXPECT_EQ(loaded.summary.mha2mla_version, MHA2MLA_VERSION);
  EXPECT_EQ(loaded.summary.metadata.at("recipe"), "train:\n  steps: 10\n");
  EXPECT_EQ(loaded.data_cursor, cursor);
  EXPECT_EQ(loaded.cpu_rng_state, capture_cpu_rng_state());
  // The manifest's sizes and checksums describe the files (checked with an independent read).
  ASSERT_EQ(loaded.summary.files.size(), 2u);
  for (const auto& file : loaded.summary.files) {
    std::string bytes = read_file(path_join(path, file.name));
    EXPECT_EQ(file.size, bytes.size()) << file.name;
    EXPECT_EQ(file.crc32c, crc32c(bytes)) << file.name;
  }
  for (const auto& ref : run.params) {
    const at::Tensor& stored = loaded.weights.at(ref.name);
    EXPECT_EQ(stored.scalar_type(), ref.tensor->scalar_type());
    EXPECT_TRUE(at::equal(stored, *ref.tensor)) << ref.name;
  }
  auto state = run.adam->state_dict();
  ASSERT_EQ(loaded.optimizer_state.size(), state.size());
  for (const auto& [name, tensor] : state) EXPECT_TRUE(at::equal(loaded.optimizer_state.at(name), tensor)) << name;
}

TEST(Checkpoint, ResumedRunContinuesTheSameTrajectory) {
  std::string dir = testing::scratch_dir();
  at::manual_seed(5);
  TinyRun straight;
  straight.train(6);

  at::manual_seed(5);
  TinyRun first;
  first.train(4);
  std::string path = save_checkpoint(dir, first.contents("c"));
  at::manual_seed(999);  // the resumed process starts with another RNG state

  TinyRun resumed;
  LoadedCheckpoint loaded = load_checkpoint(path);
  restore_parameters(resumed.params, loaded.weights, path);
  resumed.adam->load_state_dict(loaded.optimizer_state, path);
  restore_cpu_rng_state(loaded.cpu_rng_state, path);
  resumed.step = loaded.summary.progress.step;
  resumed.train(2);
  EXPECT_TRUE(at::equal(straight.weight, resumed.weight));
  EXPECT_TRUE(at::equal(straight.norm, resumed.norm));
}

TEST(Checkpoint, RestoreParametersNamesMismatches) {
  TinyRun run;
  auto weights = named_tensors(run.params);
  auto missing = weights;
  missing.erase("layers.0.norm.weight");
  EXPECT_ERROR_CONTAINS(restore_parameters(run.params, missing, "ck/weights-tp0.safetensors"),
                        "ck/weights-tp0.safetensors", "'layers.0.norm.weight'", "missing");
  auto wrong_dtype = weights;
  wrong_dtype["layers.0.norm.weight"] = at::ones({4});
  EXPECT_ERROR_CONTAINS(restore_parameters(run.params, wrong_dtype, "f"), "'layers.0.norm.weight'", "Float",
                        "BFloat16", "another conversion", "checkpoint.dir");
  auto wrong_shape = weights;  // e.g. a checkpoint of another latent rank in the same checkpoint.dir
  wrong_shape["layers.0.norm.weight"] = at::ones({5}, weights.at("layers.0.norm.weight").options());
  EXPECT_ERROR_CONTAINS(restore_parameters(run.params, wrong_shape, "f"), "'layers.0.norm.weight'", "[5]",
                        "checkpoint.resume=none");
  auto extra = weights;
  extra["layers.1.x"] = at::ones({1});
  EXPECT_ERROR_CONTAINS(restore_parameters(run.params, extra, "f"), "'layers.1.x'", "not a trainable");
}

TEST(Checkpoint, SavingTheSameStepAgainReplacesIt) {
  std::string dir = testing::scratch_dir();
  save_step(dir, 5);
  std::string path = save_step(dir, 5);
  EXPECT_EQ(checkpoint_problem(path, CheckpointVerify::checksums), "");
  EXPECT_EQ(list_checkpoint_folders(dir).size(), 1u);
}

TEST(CheckpointRetention, KeepsTheNewestAndTheMilestones) {
  EXPECT_EQ(steps_to_keep({1, 2, 3, 4, 5, 6, 7, 8, 9, 10}, 2, 4), (std::vector<int64_t>{4, 8, 9, 10}));
  EXPECT_EQ(steps_to_keep({1, 2, 3}, 5, 0), (std::vector<int64_t>{1, 2, 3}));
  EXPECT_EQ(steps_to_keep({10, 20, 30}, 1, 0), (std::vector<int64_t>{30}));

  std::string dir = testing::scratch_dir();
  CheckpointSaveOptions options;
  options.keep_last = 2;
  options.keep_every = 4;
  for (int64_t step = 1; step <= 10; ++step) save_step(dir, step, options);
  std::vector<int64_t> left;
  for (const auto& folder : list_checkpoint_folders(dir)) left.push_back(folder.step);
  EXPECT_EQ(left, (std::vector<int64_t>{4, 8, 9, 10}));
  for (const auto& entry : fs::directory_iterator(dir))  // no hidden leftovers
    EXPECT_NE(entry.path().filename().string()[0], '.') << entry.path();
}

TEST(CheckpointRetention, LeavesFoldersWithoutDoneAlone) {
  std::string dir = testing::scratch_dir();
  save_step(dir, 1);
  save_step(dir, 2);
  fs::remove(path_join(dir, "step-1/DONE"));
  apply_retention(dir, 1, 0);
  EXPECT_TRUE(directory_exists(path_join(dir, "step-1")));
  EXPECT_TRUE(directory_exists(path_join(dir, "step-2")));
}

TEST(CheckpointResume, AutoPicksTheNewestCompleteOne) {
  std::string dir = testing::scratch_dir();
  EXPECT_EQ(resolve_resume("auto", dir, CheckpointVerify::checksums), std::nullopt);  // no folder yet
  save_step(dir, 2);
  save_step(dir, 10);
  save_step(dir, 9);
  EXPECT_EQ(resolve_resume("auto", dir, CheckpointVerify::checksums), path_join(dir, "step-10"));
  EXPECT_EQ(resolve_resume("none", dir, CheckpointVerify::checksums), std::nullopt);
  EXPECT_EQ(resolve_resume(path_join(dir, "step-2"), dir, CheckpointVerify::checksums), path_join(dir, "step-2"));
}

// Each kind of damage: auto skips the damaged newest checkpoint, and naming it explicitly is an error that
// says what is wrong.
struct Damage {
  const char* what;
  std::function<void(const std::string& path)> apply;
  const char* message;
  bool caught_by_sizes;
};

TEST(CheckpointResume, SkipsDamagedCheckpointsAndExplainsExplicitOnes) {
  std::vector<Damage> damages = {
      {"no DONE", [](const std::string& p) { fs::remove(path_join(p, "DONE")); }, "DONE is missing", true},
      {"no manifest", [](const std::string& p) { fs::remove(path_join(p, "manifest.pb")); }, "manifest.pb is missing",
       true},
      {"truncated weights",
       [](const std::string& p) {
         std::string f = path_join(p, "weights-tp0.safetensors");
         fs::resize_file(f, fs::file_size(f) - 5);
       },
       "weights-tp0.safetensors:", true},
      {"missing optimizer file", [](const std::string& p) { fs::remove(path_join(p, "optimizer-tp0.safetensors")); },
       "optimizer-tp0.safetensors is listed in manifest.pb but missing", true},
      {"flipped byte in weights",
       [](const std::string& p) {
         std::string f = path_join(p, "weights-tp0.safetensors");
         flip_byte(f, fs::file_size(f) - 3);
       },
       "the file is damaged", false},
      {"garbage manifest with matching DONE",
       [](const std::string& p) {
         std::string garbage = "\x0a\x7f" "field 1 claims 127 bytes";  // truncated length-delimited field
         write_file_atomic(path_join(p, "manifest.pb"), garbage);
         write_file_atomic(path_join(p, "DONE"), "mha2mla checkpoint\nstep 3\nmanifest_crc32c " +
                                                     crc32c_hex(crc32c(garbage)) + "\n");
       },
       "does not parse", true},
      {"manifest changed after DONE", [](const std::string& p) { flip_byte(path_join(p, "manifest.pb"), 4); },
       "DONE records", true},
      {"garbage DONE", [](const std::string& p) { write_file_atomic(path_join(p, "DONE"), "ok"); },
       "DONE does not read", true},
  };
  for (const auto& damage : damages) {
    SCOPED_TRACE(damage.what);
    std::string dir = testing::scratch_dir();
    save_step(dir, 2);
    std::string newest = save_step(dir, 3);
    damage.apply(newest);
    EXPECT_EQ(resolve_resume("auto", dir, CheckpointVerify::checksums), path_join(dir, "step-2"));
    EXPECT_ERROR_CONTAINS(resolve_resume(newest, dir, CheckpointVerify::checksums), newest.c_str(), damage.message);
    EXPECT_ERROR_CONTAINS(load_checkpoint(newest, CheckpointVerify::checksums), newest.c_str(), damage.message);
    if (damage.caught_by_sizes)
      EXPECT_NE(checkpoint_problem(newest, CheckpointVerify::sizes), "");
    else
      EXPECT_EQ(checkpoint_problem(newest, CheckpointVerify::sizes), "");  // only the checksum sees it
  }
}

TEST(CheckpointResume, ExplicitPathErrors) {
  std::string dir = testing::scratch_dir();
  EXPECT_ERROR_CONTAINS(resolve_resume(path_join(dir, "step-7"), dir, CheckpointVerify::sizes), "step-7",
                        "no such folder");
  save_step(dir, 1);
  EXPECT_ERROR_CONTAINS(resolve_resume(dir, dir, CheckpointVerify::sizes), "folder of checkpoints",
                        "give one of its step-<N> folders");
}

TEST(CheckpointResume, PartialFoldersAreNeverPickedAndAreCleanedUp) {
  std::string dir = testing::scratch_dir();
  save_step(dir, 1);
  // A save of step 2 that got as far as DONE but not the rename.
  std::string complete2 = save_step(path_join(dir, "elsewhere"), 2);
  fs::rename(complete2, path_join(dir, partial_checkpoint_folder_name(2)));
  EXPECT_EQ(resolve_resume("auto", dir, CheckpointVerify::checksums), path_join(dir, "step-1"));
  CheckpointSaveOptions options;
  options.keep_last = 5;
  save_step(dir, 3, options);
  EXPECT_FALSE(fs::exists(path_join(dir, partial_checkpoint_folder_name(2))));
}

// Kills a child process at `stage` of saving step 2 on top of a complete step 1.
void crash_during_save(const std::string& dir, const std::string& stage) {
  pid_t pid = ::fork();
  ASSERT_GE(pid, 0);
  if (pid == 0) {
    CheckpointSaveOptions options;
    options.keep_last = 1;
    options.on_event = [&](const std::string& event) {
      if (event == stage) ::_exit(42);  // no unwinding, no destructors: as abrupt as a kill
    };
    try {
      save_step(dir, 2, options);
    } catch (...) {
      ::_exit(1);
    }
    ::_exit(0);
  }
  int status = 0;
  ::waitpid(pid, &status, 0);
  ASSERT_TRUE(WIFEXITED(status));
  EXPECT_EQ(WEXITSTATUS(status), 42) << stage;
}

TEST(CheckpointCrash, KilledAtAnyStageLeavesNothingPickable) {
  for (std::string stage : {"created", "wrote weights-tp0.safetensors", "wrote optimizer-tp0.safetensors", "manifest",
                            "done"}) {
    SCOPED_TRACE(stage);
    std::string dir = testing::scratch_dir();
    save_step(dir, 1);
    crash_during_save(dir, stage);
    EXPECT_FALSE(fs::exists(path_join(dir, "step-2")));
    EXPECT_EQ(resolve_resume("auto", dir, CheckpointVerify::checksums), path_join(dir, "step-1"));
    // The next save cleans up and succeeds.
    save_step(dir, 3);
    EXPECT_EQ(resolve_resume("auto", dir, CheckpointVerify::checksums), path_join(dir, "step-3"));
    EXPECT_FALSE(fs::exists(path_join(dir, partial_checkpoint_folder_name(2))));
  }
  // Killed right after the rename, before retention: the new checkpoint is complete and is picked.
  std::string dir = testing::scratch_dir();
  save_step(dir, 1);
  crash_during_save(dir, "renamed");
  EXPECT_EQ(resolve_resume("auto", dir, CheckpointVerify::checksums), path_join(dir, "step-2"));
}

}  // namespace
}  // namespace mha2mla
