// A recipe: the one YAML file (with `base:` parents and command-line overrides) that drives every
// command. Each section's fields live with the folder that uses them; this file assembles them.
#pragma once

#include <string>
#include <vector>

#include "common/config_tree.h"
#include "data/data_config.h"
#include "distributed/distributed_config.h"
#include "model/convert/convert_config.h"
#include "model/model_config.h"
#include "trainer/eval_config.h"
#include "trainer/train_config.h"

namespace mha2mla {

struct RunConfig {
  std::string output_dir = "runs/default";
  void describe(config::Visitor& v) {
    v.field("output_dir", output_dir, "folder for every output of this recipe; relative output paths resolve here");
  }
};

struct LogConfig {
  std::string level = "info";
  std::string dir;   // per-rank log files when set

  void describe(config::Visitor& v) {
    v.field("level", level, "trace, debug, info, warn or error (MHA2MLA_LOG_LEVEL overrides)",
            config::Constraint::one_of({"trace", "debug", "info", "warn", "error"}));
    v.field("dir", dir, "when set, every rank also writes <dir>/rank-<r>.log");
  }
};

struct Recipe {
  RunConfig run;
  LogConfig log;
  ModelConfig model;
  DataConfig data;
  CalibrateConfig calibrate;
  ConvertConfig convert;
  TrainConfig train;
  DistributedConfig distributed;
  CheckpointConfig checkpoint;
  EvalConfig eval;
  GenerateConfig generate;
  ExportConfig export_;

  void describe(config::Visitor& v);

  // Where a key came from ("recipes/x.yaml:12", "command line (train.lr=1e-5)", "default").
  std::string origin(const std::string& key_path) const;

  // `path` if absolute, else under run.output_dir.
  std::string output_path(const std::string& path) const;

  // The effective config: a YAML document, a table, a stable hash (FNV-1a of the YAML, hex).
  std::string to_yaml() const;
  std::string to_table() const;
  std::string hash() const;

  std::string source;       // the recipe file, or "" for a default recipe
  config::Tree tree;        // the merged YAML, for origins
};

// Loads a recipe file with overrides ("train.lr=1e-5"). Throws Error naming the file, line and key.
Recipe load_recipe(const std::string& path, const std::vector<std::string>& overrides = {});

// Writes the effective recipe as `<dir>/recipe.yaml` (atomically), so every output says how it was made.
void save_recipe_beside(const Recipe& recipe, const std::string& dir);

// The recipes reference (docs/recipes.md), generated from the config structs.
std::string recipes_reference_markdown();

// Guard for commands that need an input: throws "<origin>: <key> = '<path>': file/folder not found".
void require_existing_path(const Recipe& recipe, const std::string& key_path, const std::string& path);

}  // namespace mha2mla
