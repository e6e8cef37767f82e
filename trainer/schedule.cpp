#include "trainer/schedule.h"

#include <algorithm>
#include <cmath>

#include "common/error.h"
#include "trainer/train_config.h"

namespace mha2mla {

static constexpr double kPi = 3.14159265358979323846;

LearningRateSchedule::LearningRateSchedule(const ScheduleConfig& config, double peak_lr, int64_t total_steps)
    : peak_(peak_lr), min_ratio_(config.min_lr_ratio), total_steps_(total_steps),
      warmup_steps_(config.warmup_steps) {
  if (config.kind == "wsd_sqrt") kind_ = Kind::wsd_sqrt;
  else if (config.kind == "cosine") kind_ = Kind::cosine;
  else if (config.kind == "constant") kind_ = Kind::constant;
  else fail("train.schedule.kind = '{}': expected wsd_sqrt, cosine or constant", config.kind);
  if (total_steps < 1) fail("train.steps = {}: expected at least 1 optimizer step", total_steps);
  if (!(peak_lr > 0)) fail("train.optimizer.lr = {}: expected a positive learning rate", peak_lr);
  if (min_ratio_ < 0 || min_ratio_ > 1)
    fail("train.schedule.min_lr_ratio = {}: expected a fraction in [0, 1]", min_ratio_);
  if (warmup_steps_ < 0 || warmup_steps_ > total_steps)
    fail_with_hint("lower train.schedule.warmup_steps or raise train.steps",
                   "train.schedule.warmup_steps = {} exceeds train.steps = {}", warmup_steps_, total_steps);
  switch (kind_) {
    case Kind::wsd_sqrt: {
      if (config.decay_fraction < 0 || config.decay_fraction > 1)
        fail("train.schedule.decay_fraction = {}: expected a fraction in [0, 1]", config.decay_fraction);
      auto decay = static_cast<int64_t>(std::llround(config.decay_fraction * static_cast<double>(total_steps)));
      decay_start_ = std::max(warmup_steps_, total_steps - decay);
      break;
    }
    case Kind::cosine: decay_start_ = warmup_steps_; break;
    case Kind::constant: decay_start_ = total_steps; break;
  }
}

double LearningRateSchedule::at(int64_t step) const {
  MHA2MLA_CHECK(step >= 0, "learning rate asked for step {}", step);
  if (step < warmup_steps_) return peak_ * static_cast<double>(step) / static_cast<double>(warmup_steps_);
  if (step < decay_start_) return peak_;
  const int64_t decay_steps = total_steps_ - decay_start_;
  if (decay_steps <= 0) return peak_;  // constant, or no decay phase left after the warmup
  double progress = std::min(1.0, static_cast<double>(step - decay_start_) / static_cast<double>(decay_steps));
  double factor = 1.0;
  switch (kind_) {
    case Kind::wsd_sqrt: factor = 1.0 - std::sqrt(progress); break;
    case Kind::cosine: factor = 0.5 * (1.0 + std::cos(kPi * progress)); break;
    case Kind::constant: factor = 1.0; break;
  }
  return peak_ * (min_ratio_ + (1.0 - min_ratio_) * factor);
}

std::string LearningRateSchedule::summary() const {
  std::string out;
  switch (kind_) {
    case Kind::wsd_sqrt: out = "wsd_sqrt"; break;
    case Kind::cosine: out = "cosine"; break;
    case Kind::constant: out = "constant"; break;
  }
  out += fmt::format(": peak {:.3g}", peak_);
  if (warmup_steps_ > 0) out += fmt::format(", linear warmup steps 0-{}", warmup_steps_ - 1);
  if (decay_start_ > warmup_steps_) out += fmt::format(", constant steps {}-{}", warmup_steps_, decay_start_ - 1);
  if (decay_start_ < total_steps_)
    out += fmt::format(", {} decay steps {}-{} toward {:.3g}", kind_ == Kind::wsd_sqrt ? "1-sqrt" : "cosine",
                       decay_start_, total_steps_ - 1, min_lr());
  return out;
}

}  // namespace mha2mla
