// What a training run logs per step and at its end, and where: a JSONL file (one JSON object per line) and
// TensorBoard event files. Rank 0 logs; values must already be reduced over ranks.
//
// <run.output_dir>/metrics.jsonl:
//   {"type":"step","step":12,"loss":{"total":0.41,"activation":0.39,"kl":0.02},"lr":1e-4,"grad_norm":0.53,
//    "tokens_per_s":10240.5,"samples":96,"tokens":49152,"elapsed_s":61.2,"skipped_steps":0}
//   ...
//   {"type":"summary","status":"completed","steps_run":100,...}
// NaN/Inf are written as null (JSON has no such numbers).
// TensorBoard scalars: loss/<term>, train/lr, train/grad_norm, train/tokens_per_s, train/samples, train/tokens,
// train/skipped_steps.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

namespace mha2mla {

class TensorBoardWriter;

struct StepMetrics {
  int64_t step = 0;                                     // optimizer steps completed
  std::vector<std::pair<std::string, double>> losses;  // "total" first, then each term, in a fixed order
  double lr = 0;
  double grad_norm = 0;        // before clipping
  double tokens_per_second = 0;
  int64_t samples = 0;         // seen since the start of training (all ranks)
  int64_t tokens = 0;
  double elapsed_seconds = 0;  // since this process started training
  int64_t skipped_steps = 0;
};

struct RunSummary {
  std::string status = "completed";  // "completed", "preempted", "stopped: <reason>"
  int64_t first_step = 0;            // step the run started from (0, or the resumed checkpoint's)
  int64_t last_step = 0;             // steps completed at the end
  int64_t total_steps = 0;           // train.steps
  int64_t skipped_steps = 0;
  std::vector<std::pair<std::string, double>> final_losses;  // last logged values
  int64_t samples = 0;
  int64_t tokens = 0;
  double elapsed_seconds = 0;
  double mean_tokens_per_second = 0;
  std::string last_checkpoint;  // "" when none was written
};

// The JSON line for a step / a summary (no trailing newline).
std::string step_metrics_json(const StepMetrics& m);
std::string run_summary_json(const RunSummary& s);

class MetricsLog {
 public:
  // Opens `jsonl_path` for appending. resume_step: when resuming, lines past that step (logged after the
  // checkpoint by the interrupted run) are dropped, as is a torn last line; when starting afresh
  // (nullopt), an old file is replaced. tensorboard_dir: "" for none, else a new event file there.
  MetricsLog(const std::string& jsonl_path, const std::string& tensorboard_dir, std::optional<int64_t> resume_step);
  ~MetricsLog();

  void log_step(const StepMetrics& m);
  void log_summary(const RunSummary& s);

  const std::string& jsonl_path() const { return jsonl_path_; }
  std::string tensorboard_path() const;  // the event file, "" without TensorBoard

 private:
  void append_line(const std::string& line);

  std::string jsonl_path_;
  std::unique_ptr<TensorBoardWriter> tensorboard_;
};

}  // namespace mha2mla
