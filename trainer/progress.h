// Human-readable training progress: throughput over the logging window, the progress line printed every
// train.log_every steps, and the end-of-run summary table. Pure formatting over numbers passed in (the
// clock too), so the output is deterministic and testable.
#pragma once

#include <cstdint>
#include <string>

#include "trainer/metrics.h"

namespace mha2mla {

// Rates between successive calls, and the ETA from the average pace of this process (a resumed run's
// earlier steps are not counted).
class ThroughputMeter {
 public:
  ThroughputMeter(int64_t start_step, int64_t start_tokens, int64_t start_samples, double start_seconds);

  struct Rates {
    double tokens_per_second = 0;   // over the window since the previous update
    double samples_per_second = 0;
    double seconds_per_step = 0;    // average since the start
    double eta_seconds = 0;         // (total_steps - step) * seconds_per_step
    double elapsed_seconds = 0;     // since the start
  };

  // `tokens` and `samples` are running totals; `now` in seconds on the same clock as start_seconds.
  Rates update(int64_t step, int64_t tokens, int64_t samples, double now, int64_t total_steps);

 private:
  int64_t start_step_;
  double start_seconds_;
  int64_t last_tokens_, last_samples_;
  double last_seconds_;
};

// "1.23e-04"-style scalars, "12.3k" counts.
std::string format_count(double value);

// "step 12/100 (12%) | loss 0.4123 (activation 0.3900, kl 0.0223) | lr 1.00e-04 | grad 0.532 |
//  10.2k tok/s | elapsed 1m02s | ETA 7m34s" (one line). The first loss is the total; a total alone prints
// without the parenthesis.
std::string format_progress_line(const StepMetrics& m, int64_t total_steps, double eta_seconds);

// The end-of-run table: status, steps, skipped steps, final losses, samples, tokens, time, throughput and
// the last checkpoint, as aligned "key  value" rows under a title.
std::string format_run_summary(const RunSummary& s);

}  // namespace mha2mla
