// Recipe sections `calibrate` and `convert`: method.md sections 3 and 4.
#pragma once

#include <cstdint>
#include <string>

#include "common/config_schema.h"

namespace mha2mla {

struct CalibrateConfig {
  int64_t samples = 256;          // calibration samples (summed over ranks)
  int64_t held_out = 32;          // further samples kept apart for held-out activation error
  std::string output = "calibration";
  bool append = false;            // add to an existing calibration file instead of replacing it

  void describe(config::Visitor& v) {
    v.field("samples", samples, "calibration samples streamed through the original model (all ranks together)",
            config::Constraint::at_least(1));
    v.field("held_out", held_out, "further samples whose layer inputs measure held-out activation error",
            config::Constraint::at_least(0));
    v.field("output", output, "calibration folder (relative paths are under run.output_dir)");
    v.field("append", append, "add statistics to an existing calibration folder (resume) instead of replacing it");
  }
};

struct ConvertConfig {
  int64_t rope_dims = 32;         // r: RoPE dims kept per head (even)
  int64_t latent_rank = 32;       // d_kv: latent rank per KV head; d_c = n_kv * d_kv
  std::string strategy = "mkl";
  int64_t uniform_start = 0;
  std::string variant = "joint";
  std::string init = "activation_svd";
  double ridge = 1e-3;
  std::string stage = "mla";
  std::string calibration = "calibration";
  std::string output = "converted";

  void describe(config::Visitor& v) {
    v.field("rope_dims", rope_dims, "r: RoPE dims kept per head (even, <= head_dim)", config::Constraint::at_least(0));
    v.field("latent_rank", latent_rank, "d_kv: latent rank per KV head (the cached latent is n_kv * d_kv wide)",
            config::Constraint::at_least(1));
    v.field("strategy", strategy,
            "partial-RoPE selection: high, low, uniform, 2norm, 2norm_modality, or mkl (modality-adaptive)",
            config::Constraint::one_of({"high", "low", "uniform", "2norm", "2norm_modality", "mkl"}));
    v.field("uniform_start", uniform_start, "first kept pair for the uniform strategy", config::Constraint::at_least(0));
    v.field("variant", variant, "joint (one latent for k_N and v), split (two half-rank latents), shared (no modality split)",
            config::Constraint::one_of({"joint", "split", "shared"}));
    v.field("init", init, "low-rank initialisation: plain SVD or activation-aware SVD",
            config::Constraint::one_of({"svd", "activation_svd"}));
    v.field("ridge", ridge, "activation-aware SVD: eigenvalue ridge as a fraction of their mean",
            config::Constraint::positive());
    v.field("stage", stage,
            "mla: the low-rank latent (one-stage, or stage 2 from a stage-1 checkpoint); partial_rope: stage 1, "
            "remove RoPE from the unkept pairs at full rank",
            config::Constraint::one_of({"mla", "partial_rope"}));
    v.field("calibration", calibration, "calibration folder written by `mha2mla calibrate`");
    v.field("output", output, "converted checkpoint folder (relative paths are under run.output_dir)");
  }
};

}  // namespace mha2mla
