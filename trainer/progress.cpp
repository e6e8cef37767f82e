#include "trainer/progress.h"

#include <algorithm>
#include <cmath>
#include <utility>
#include <vector>

#include <fmt/format.h>

#include "common/strings.h"

namespace mha2mla {

ThroughputMeter::ThroughputMeter(int64_t start_step, int64_t start_tokens, int64_t start_samples,
                                 double start_seconds)
    : start_step_(start_step), start_seconds_(start_seconds), last_tokens_(start_tokens),
      last_samples_(start_samples), last_seconds_(start_seconds) {}

ThroughputMeter::Rates ThroughputMeter::update(int64_t step, int64_t tokens, int64_t samples, double now,
                                               int64_t total_steps) {
  Rates rates;
  const double window = now - last_seconds_;
  if (window > 0) {
    rates.tokens_per_second = static_cast<double>(tokens - last_tokens_) / window;
    rates.samples_per_second = static_cast<double>(samples - last_samples_) / window;
  }
  rates.elapsed_seconds = now - start_seconds_;
  if (step > start_step_) {
    rates.seconds_per_step = rates.elapsed_seconds / static_cast<double>(step - start_step_);
    rates.eta_seconds = static_cast<double>(std::max<int64_t>(0, total_steps - step)) * rates.seconds_per_step;
  }
  last_tokens_ = tokens;
  last_samples_ = samples;
  last_seconds_ = now;
  return rates;
}

std::string format_count(double value) {
  if (!std::isfinite(value)) return fmt::format("{}", value);
  const double magnitude = std::fabs(value);
  if (magnitude >= 1e9) return fmt::format("{:.1f}G", value / 1e9);
  if (magnitude >= 1e6) return fmt::format("{:.1f}M", value / 1e6);
  if (magnitude >= 1e3) return fmt::format("{:.1f}k", value / 1e3);
  return fmt::format("{:.0f}", value);
}

static std::string format_losses(const std::vector<std::pair<std::string, double>>& losses) {
  if (losses.empty()) return "loss -";
  std::string out = fmt::format("loss {:.4f}", losses.front().second);
  if (losses.size() > 1) {
    std::vector<std::string> terms;
    for (size_t i = 1; i < losses.size(); ++i) terms.push_back(fmt::format("{} {:.4f}", losses[i].first, losses[i].second));
    out += " (" + join(terms, ", ") + ")";
  }
  return out;
}

std::string format_progress_line(const StepMetrics& m, int64_t total_steps, double eta_seconds) {
  const int percent = total_steps > 0 ? static_cast<int>(100 * m.step / total_steps) : 0;
  std::string line = fmt::format("step {}/{} ({}%) | {} | lr {:.2e} | grad {:.3f} | {} tok/s | elapsed {} | ETA {}",
                                 m.step, total_steps, percent, format_losses(m.losses), m.lr, m.grad_norm,
                                 format_count(m.tokens_per_second), format_duration(m.elapsed_seconds),
                                 format_duration(eta_seconds));
  if (m.skipped_steps > 0) line += fmt::format(" | skipped {}", m.skipped_steps);
  return line;
}

std::string format_run_summary(const RunSummary& s) {
  std::vector<std::pair<std::string, std::string>> rows;
  rows.emplace_back("status", s.status);
  rows.emplace_back("steps", fmt::format("{} -> {} of {} ({} run here)", s.first_step, s.last_step, s.total_steps,
                                         s.last_step - s.first_step));
  rows.emplace_back("skipped (NaN/Inf)", std::to_string(s.skipped_steps));
  for (const auto& [name, value] : s.final_losses) rows.emplace_back("final loss " + name, fmt::format("{:.6g}", value));
  rows.emplace_back("samples", fmt::format("{} ({})", s.samples, format_count(static_cast<double>(s.samples))));
  rows.emplace_back("tokens", fmt::format("{} ({})", s.tokens, format_count(static_cast<double>(s.tokens))));
  rows.emplace_back("time", format_duration(s.elapsed_seconds));
  rows.emplace_back("throughput", format_count(s.mean_tokens_per_second) + " tok/s");
  rows.emplace_back("last checkpoint", s.last_checkpoint.empty() ? "none" : s.last_checkpoint);
  size_t width = 0;
  for (const auto& row : rows) width = std::max(width, row.first.size());
  std::string out = "training summary\n";
  for (const auto& [key, value] : rows) out += fmt::format("  {:<{}}  {}\n", key, width, value);
  return out;
}

}  // namespace mha2mla
