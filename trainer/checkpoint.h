// Training checkpoints: one folder per saved step, complete or absent.
//
//   <checkpoint.dir>/step-<N>/
//     weights-tp<k>.safetensors     trainable tensors of tensor-parallel rank k (written by dp rank 0)
//     optimizer-tp<k>.safetensors   AdamW state of tensor-parallel rank k (written by dp rank 0)
//     manifest.pb                   protobuf mha2mla.checkpoint.Manifest (trainer/checkpoint_manifest.proto):
//                                   step, samples/tokens seen, per-rank data cursor and RNG state, world layout,
//                                   recipe hash, version, creation time, every file with size and CRC-32C
//     DONE                          written last: step and the manifest's CRC-32C
//
// Atomicity: every rank writes into the hidden sibling .step-<N>.partial; after a barrier rank 0 gathers
// the ranks' records, writes manifest.pb and DONE, and renames the folder to step-<N> (fsyncing as it
// goes). A crash at any point leaves either the previous checkpoints only or a complete new one; a
// .partial folder is never picked and is removed by the next save. A checkpoint counts as complete when
// DONE is present, the manifest parses and matches DONE, and every listed file has its size (and, with
// verify = checksums, its CRC-32C).
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include <ATen/core/Tensor.h>

#include "model/params.h"

namespace mha2mla {

namespace dist {
class ProcessGrid;
}

struct CheckpointConfig;

struct CheckpointProgress {
  int64_t step = 0;           // optimizer steps completed
  int64_t samples_seen = 0;
  int64_t tokens_seen = 0;
  int64_t skipped_steps = 0;  // NaN/Inf steps skipped so far
};

// What one rank contributes. Under data parallelism only dp rank 0's tensors are written (the replicas
// hold the same values); every rank's cursor and RNG state are kept.
struct CheckpointContents {
  CheckpointProgress progress;
  std::map<std::string, at::Tensor> weights;          // this rank's trainable tensors (shards under TP)
  std::map<std::string, at::Tensor> optimizer_state;  // AdamW::state_dict()
  std::string data_cursor;                            // opaque, from the data pipeline
  std::string cpu_rng_state;                          // capture_cpu_rng_state()
  std::string recipe_hash;
  std::map<std::string, std::string> metadata;        // free-form, rank 0's is kept (e.g. "recipe": YAML)
};

// The trainable tensors of `params` as named tensors (aliases; the writer copies them).
std::map<std::string, at::Tensor> named_tensors(const std::vector<ParamRef>& params);

enum class CheckpointVerify { sizes, checksums };
CheckpointVerify parse_checkpoint_verify(const std::string& value);  // "sizes" | "checksums"

struct CheckpointSaveOptions {
  int64_t keep_last = 0;   // after saving, keep this many newest complete checkpoints (0: keep all)...
  int64_t keep_every = 0;  // ...plus those whose step is a multiple of this (0: none)
  // Called on rank 0 (and on the writing ranks for their own files) at each stage: "created", "wrote <file>",
  // "manifest", "done", "renamed". For progress logs; tests use it to kill the process mid-save.
  std::function<void(const std::string& event)> on_event;
};

// Saves a checkpoint of step contents.progress.step into `dir` and applies retention. Collective over
// grid.world(): every rank calls it. Returns the checkpoint folder. If any rank fails, every rank throws
// and no step-<N> folder appears.
std::string save_checkpoint(const std::string& dir, const CheckpointContents& contents, const dist::ProcessGrid& grid,
                            const CheckpointSaveOptions& options = {});
// The same for a single process.
std::string save_checkpoint(const std::string& dir, const CheckpointContents& contents,
                            const CheckpointSaveOptions& options = {});

struct CheckpointFile {
  std::string name;
  uint64_t size = 0;
  uint32_t crc32c = 0;
};

// What a complete checkpoint's manifest says, besides per-rank state.
struct CheckpointSummary {
  std::string path;
  CheckpointProgress progress;
  int world_size = 1, dp_size = 1, tp_size = 1;
  std::string recipe_hash;
  std::string mha2mla_version;
  int64_t created_unix_seconds = 0;
  std::string created_utc;
  std::vector<CheckpointFile> files;
  std::map<std::string, std::string> metadata;
};

// "" when `path` is a complete checkpoint, else what is wrong with it, naming the file ("DONE is missing",
// "weights-tp0.safetensors: 1200 bytes on disk, the manifest says 4096").
std::string checkpoint_problem(const std::string& path, CheckpointVerify verify);

// The manifest of a complete checkpoint; throws Error naming the file and what is wrong otherwise.
CheckpointSummary read_checkpoint(const std::string& path, CheckpointVerify verify = CheckpointVerify::sizes);

// One rank's share of a checkpoint.
struct LoadedCheckpoint {
  CheckpointSummary summary;
  std::map<std::string, at::Tensor> weights;          // tensor-parallel rank's weights file
  std::map<std::string, at::Tensor> optimizer_state;  // and optimizer file
  std::string data_cursor;                            // this world rank's
  std::string cpu_rng_state;
};

// Loads this rank's share. The checkpoint's layout (world size, dp, tp) must equal this run's: the data
// cursors and tensor-parallel shards are per rank. Throws Error naming the file at fault.
LoadedCheckpoint load_checkpoint(const std::string& path, const dist::ProcessGrid& grid,
                                 CheckpointVerify verify = CheckpointVerify::sizes);
LoadedCheckpoint load_checkpoint(const std::string& path, CheckpointVerify verify = CheckpointVerify::sizes);

// Copies `weights` into `params` (no autograd). Names must match exactly, both ways, and each tensor must
// have the parameter's shape and dtype; errors name `source` and the tensor.
void restore_parameters(const std::vector<ParamRef>& params, const std::map<std::string, at::Tensor>& weights,
                        const std::string& source);

}  // namespace mha2mla
