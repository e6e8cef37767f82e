// Learning-rate schedules (recipe: train.schedule, peak train.optimizer.lr). `at(s)` is the rate for the
// optimizer step with 0-based index s (s = 0 is the first update), the convention of PyTorch's LambdaLR
// that the paper's training code uses. With W = warmup_steps, N = total steps, m = min_lr_ratio:
//
//   warmup (every kind), s < W:   lr = peak * s / W                  (so the first update has lr 0 when W > 0)
//   constant:                     lr = peak
//   cosine,   W <= s:             lr = peak * (m + (1 - m) * (1 + cos(pi * (s - W) / (N - W))) / 2)
//   wsd_sqrt, W <= s < D:         lr = peak
//             D <= s:             lr = peak * (m + (1 - m) * (1 - sqrt((s - D) / L)))
//             with L = round(decay_fraction * N) decay steps, D = max(W, N - L) the first of them.
//
// wsd_sqrt is the "1-sqrt" warmup-stable-decay schedule of MiniCPM as the MHA2MLA-VLM code runs it
// (nanotron's lr_scheduler_builder: lr_warmup_style "linear", lr_decay_style "1-sqrt", min_decay_lr =
// m * peak): the decay starts at the peak and would reach m * peak at s = D + L = N, one step after the
// last update. One deliberate difference: with W = 0 that code gives the first update lr 0 (its warmup
// branch tests s <= W); here W = 0 means no warmup at all. Steps past N keep the last phase's formula
// clamped to m * peak.
#pragma once

#include <cstdint>
#include <string>

namespace mha2mla {

struct ScheduleConfig;

class LearningRateSchedule {
 public:
  enum class Kind { wsd_sqrt, cosine, constant };

  // Throws Error naming train.schedule.* when the numbers do not fit together (warmup longer than the run).
  LearningRateSchedule(const ScheduleConfig& config, double peak_lr, int64_t total_steps);

  double at(int64_t step) const;

  Kind kind() const { return kind_; }
  double peak() const { return peak_; }
  int64_t total_steps() const { return total_steps_; }
  int64_t warmup_steps() const { return warmup_steps_; }
  int64_t decay_start() const { return decay_start_; }    // wsd_sqrt: D; cosine: W; constant: N
  int64_t decay_steps() const { return total_steps_ - decay_start_; }
  double min_lr() const { return peak_ * min_ratio_; }

  // "wsd_sqrt: warmup 0-9, constant 10-89, 1-sqrt decay 90-99 to 0" for the start-up log.
  std::string summary() const;

 private:
  Kind kind_ = Kind::constant;
  double peak_ = 0;
  double min_ratio_ = 0;
  int64_t total_steps_ = 0;
  int64_t warmup_steps_ = 0;
  int64_t decay_start_ = 0;
};

}  // namespace mha2mla
