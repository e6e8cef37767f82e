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

  void describe(config::Visitor& v) {
    v.field("lr", lr, "peak learning rate (AdamW)", config::Constraint::positive());
    v.field("weight_decay", weight_decay, "decoupled weight decay", config::Constraint::at_least(0));
    v.field("beta1", beta1, "AdamW beta1", config::Constraint::range(0, 1));
    v.field("beta2", beta2, "AdamW beta2", config::Constraint::range(0, 1));
    v.field("eps", eps, "AdamW epsilon", config::Constraint::positive());
    v.field("clip_norm", clip_norm, "global gradient-norm clipping threshold; 0 = off", config::Constraint::at_least(0));
  }
};

struct ScheduleConfig {
  std::string kind = "wsd_sqrt";
  int64_t warmup_steps = 0;
  double decay_fraction = 0.1;
  double min_lr_ratio = 0.0;

  void describe(config::Visitor& v) {
    v.field("kind", kind, "wsd_sqrt: warmup, constant, then 1-sqrt decay over the last decay_fraction (the paper's); "
            "cosine: warmup then cosine; constant: warmup then constant",
            config::Constraint::one_of({"wsd_sqrt", "cosine", "constant"}));
    v.field("warmup_steps", warmup_steps, "linear warmup steps", config::Constraint::at_least(0));
    v.field("decay_fraction", decay_fraction, "wsd_sqrt: fraction of the steps spent decaying",
            config::Constraint::range(0, 1));
    v.field("min_lr_ratio", min_lr_ratio, "final learning rate as a fraction of the peak", config::Constraint::range(0, 1));
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
            "default: latent projections + LoRA; stage1/stage2: the paper's sets; full: everything",
            config::Constraint::one_of({"default", "stage1", "stage2", "full"}));
    v.field("init_from", init_from, "checkpoint folder the run starts from; default: convert.output (sft: model.path)");
    v.field("output", output, "trained checkpoint folder (relative paths are under run.output_dir)");
    v.field("steps", steps, "optimizer steps", config::Constraint::at_least(1));
    v.field("grad_accum", grad_accum, "micro-batches per optimizer step", config::Constraint::at_least(1));
    v.field("log_every", log_every, "steps between progress lines and metric records", config::Constraint::at_least(1));
    v.field("max_nonfinite_steps", max_nonfinite_steps, "stop after this many consecutive NaN/Inf steps",
            config::Constraint::at_least(1));
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

  void describe(config::Visitor& v) {
    v.field("dir", dir, "checkpoint folder (relative paths are under run.output_dir)");
    v.field("every", every, "steps between checkpoints; 0 = at the end and on preemption only",
            config::Constraint::at_least(0));
    v.field("keep_last", keep_last, "complete checkpoints kept (older ones are deleted)", config::Constraint::at_least(1));
    v.field("keep_every", keep_every, "also keep checkpoints at multiples of this step; 0 = none",
            config::Constraint::at_least(0));
    v.field("resume", resume, "auto: newest complete checkpoint in dir if any; none: start fresh; or a checkpoint path");
  }
};

}  // namespace mha2mla
