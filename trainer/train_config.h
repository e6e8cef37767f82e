// Recipe sections `train` and `checkpoint`: method.md section 5.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "common/config_schema.h"

namespace mha2mla {

struct LossConfig {
  double activation = 1.0;   // weight of the per-layer output-activation distillation loss
  double kl = 0.0;           // weight of KL(teacher || student) on next-token distributions (global mode)
  double ce = 0.0;           // weight of next-token cross-entropy on the SFT labels

  void describe(config::Visitor& v) {
    v.field("activation", activation, "weight of the per-layer output-activation distillation loss",
            config::Constraint::at_least(0));
    v.field("kl", kl, "weight of KL(teacher || student) on logits (global mode only)", config::Constraint::at_least(0));
    v.field("ce", ce, "weight of next-token cross-entropy on the SFT labels", config::Constraint::at_least(0));
  }
};

struct LoraConfig {
  int64_t rank = 8;
  double alpha = 16;
  std::vector<std::string> targets{"q_proj", "o_proj"};

  void describe(config::Visitor& v) {
    v.field("rank", rank, "LoRA rank (0 disables the adapters)", config::Constraint::at_least(0));
    v.field("alpha", alpha, "LoRA scaling numerator (scale = alpha / rank)", config::Constraint::positive());
    v.field("targets", targets, "projections that get adapters",
            config::Constraint::one_of({"q_proj", "o_proj", "k_proj", "v_proj", "gate_proj", "up_proj", "down_proj"}));
  }
};

struct OptimizerConfig {
  double lr = 1e-4;
  double weight_decay = 0.0;
  double beta1 = 0.9;
  double beta2 = 0.95;
  double eps = 1e-8;
  double clip_norm = 1.0;    // global gradient-norm clip; 0 = off
  double lora_lr_scale = 1.0;
  bool decay_vectors = false;

  void describe(config::Visitor& v) {
    v.field("lr", lr, "peak learning rate (AdamW); the schedule scales it step by step", config::Constraint::positive());
    v.field("weight_decay", weight_decay, "decoupled weight decay: each step multiplies weights by 1 - lr * weight_decay",
            config::Constraint::at_least(0));
    v.field("beta1", beta1, "AdamW beta1", config::Constraint::range(0, 1));
    v.field("beta2", beta2, "AdamW beta2", config::Constraint::range(0, 1));
    v.field("eps", eps, "AdamW epsilon", config::Constraint::positive());
    v.field("clip_norm", clip_norm,
            "clip the global gradient L2 norm (over all ranks) to this; 0 = off (the norm is still logged)",
            config::Constraint::at_least(0));
    v.field("lora_lr_scale", lora_lr_scale, "learning-rate multiplier for LoRA adapters (tensors named *.lora_*)",
            config::Constraint::positive());
    v.field("decay_vectors", decay_vectors,
            "apply weight_decay to 1-D tensors (norm weights, biases) too; default: only matrices decay");
  }
};

struct ScheduleConfig {
  std::string kind = "wsd_sqrt";
  int64_t warmup_steps = 0;
  double decay_fraction = 0.1;
  double min_lr_ratio = 0.0;

  void describe(config::Visitor& v) {
    v.field("kind", kind,
            "wsd_sqrt (the paper's): linear warmup, constant, then lr = peak * (m + (1 - m) * (1 - sqrt(t))) over the "
            "last decay_fraction of the steps, t going 0 -> (L-1)/L; cosine: warmup, then peak * (m + (1 - m) * "
            "(1 + cos(pi t)) / 2) over the remaining steps; constant: warmup, then peak (m = min_lr_ratio)",
            config::Constraint::one_of({"wsd_sqrt", "cosine", "constant"}));
    v.field("warmup_steps", warmup_steps, "linear warmup: step s < warmup_steps (0-based) gets peak * s / warmup_steps",
            config::Constraint::at_least(0));
    v.field("decay_fraction", decay_fraction,
            "wsd_sqrt: the last round(decay_fraction * train.steps) steps decay (never into the warmup)",
            config::Constraint::range(0, 1));
    v.field("min_lr_ratio", min_lr_ratio, "m: the rate decays toward m * peak (wsd_sqrt, cosine)",
            config::Constraint::range(0, 1));
  }
};

struct TrainConfig {
  std::string stage = "one_stage";
  std::string mode = "local";
  std::string trainable = "default";
  std::string init_from;      // checkpoint folder the run starts from (default: convert.output, or model.path for sft)
  std::string output = "trained";
  int64_t steps = 100;
  int64_t grad_accum = 1;
  int64_t log_every = 1;
  int64_t max_nonfinite_steps = 5;
  std::string metrics_file = "metrics.jsonl";
  std::string tensorboard_dir = "tensorboard";
  LossConfig loss;
  LoraConfig lora;
  OptimizerConfig optimizer;
  ScheduleConfig schedule;

  void describe(config::Visitor& v) {
    v.field("stage", stage,
            "sft: full-parameter training of the original model; one_stage: MLA directly; "
            "stage1: partial-RoPE at full rank; stage2: MLA from stage-1 weights",
            config::Constraint::one_of({"sft", "one_stage", "stage1", "stage2"}));
    v.field("mode", mode, "distillation: local (teacher-forced layer inputs) or global (student's own forward)",
            config::Constraint::one_of({"local", "global"}));
    v.field("trainable", trainable,
            "default: latent projections + LoRA; stage1/stage2: the paper's sets; full: everything; "
            "language: everything but the vision tower and projector (sft)",
            config::Constraint::one_of({"default", "stage1", "stage2", "full", "language"}));
    v.field("init_from", init_from, "checkpoint folder the run starts from; default: convert.output (sft: model.path)");
    v.field("output", output, "trained checkpoint folder (relative paths are under run.output_dir)");
    v.field("steps", steps, "optimizer steps", config::Constraint::at_least(1));
    v.field("grad_accum", grad_accum, "micro-batches per optimizer step", config::Constraint::at_least(1));
    v.field("log_every", log_every, "steps between progress lines and metric records", config::Constraint::at_least(1));
    v.field("max_nonfinite_steps", max_nonfinite_steps,
            "a step whose loss or gradient norm is NaN/Inf is skipped (no update); stop after this many in a row",
            config::Constraint::at_least(1));
    v.field("metrics_file", metrics_file,
            "JSON-lines metrics, one object per logged step plus an end summary (relative: under run.output_dir)");
    v.field("tensorboard_dir", tensorboard_dir,
            "folder for TensorBoard event files (relative: under run.output_dir); empty = none");
    v.section("loss", "loss weights; each term is logged separately", loss);
    v.section("lora", "low-rank adapters on frozen projections", lora);
    v.section("optimizer", "AdamW", optimizer);
    v.section("schedule", "learning-rate schedule", schedule);
  }
};

struct CheckpointConfig {
  std::string dir = "checkpoints";
  int64_t every = 0;          // steps between checkpoints; 0 = only at the end and on preemption
  int64_t keep_last = 2;
  int64_t keep_every = 0;     // additionally keep every K-th step's checkpoint; 0 = none
  std::string resume = "auto";
  std::string verify = "checksums";

  void describe(config::Visitor& v) {
    v.field("dir", dir, "folder holding step-<N> checkpoints (relative paths are under run.output_dir)");
    v.field("every", every, "steps between checkpoints; 0 = at the end and on preemption only",
            config::Constraint::at_least(0));
    v.field("keep_last", keep_last,
            "after each save, the newest keep_last complete checkpoints are kept (plus keep_every ones); older are deleted",
            config::Constraint::at_least(1));
    v.field("keep_every", keep_every, "also keep checkpoints whose step is a multiple of this; 0 = none",
            config::Constraint::at_least(0));
    v.field("resume", resume,
            "auto: the newest complete checkpoint in dir, skipping incomplete or damaged ones (none: start afresh); "
            "none: start afresh; else a step-<N> folder, which must be complete");
    v.field("verify", verify,
            "what makes a checkpoint complete besides DONE and a valid manifest: every file's size and CRC-32C "
            "(checksums) or its size only (sizes: faster on large checkpoints)",
            config::Constraint::one_of({"checksums", "sizes"}));
  }
};

}  // namespace mha2mla
