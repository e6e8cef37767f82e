#include "trainer/metrics.h"

#include <cerrno>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <fstream>

#include <nlohmann/json.hpp>

#include "common/error.h"
#include "common/files.h"
#include "common/log.h"
#include "common/strings.h"
#include "trainer/tensorboard_writer.h"

namespace mha2mla {
namespace {

using Json = nlohmann::ordered_json;

Json number(double value) { return std::isfinite(value) ? Json(value) : Json(nullptr); }

Json losses_json(const std::vector<std::pair<std::string, double>>& losses) {
  Json out = Json::object();
  for (const auto& [name, value] : losses) out[name] = number(value);
  return out;
}

std::string dump(const Json& j) { return j.dump(-1, ' ', false, Json::error_handler_t::replace); }

}  // namespace

std::string step_metrics_json(const StepMetrics& m) {
  Json j;
  j["type"] = "step";
  j["step"] = m.step;
  j["loss"] = losses_json(m.losses);
  j["lr"] = number(m.lr);
  j["grad_norm"] = number(m.grad_norm);
  j["tokens_per_s"] = number(m.tokens_per_second);
  j["samples"] = m.samples;
  j["tokens"] = m.tokens;
  j["elapsed_s"] = number(m.elapsed_seconds);
  j["skipped_steps"] = m.skipped_steps;
  return dump(j);
}

std::string run_summary_json(const RunSummary& s) {
  Json j;
  j["type"] = "summary";
  j["status"] = s.status;
  j["step"] = s.last_step;
  j["first_step"] = s.first_step;
  j["total_steps"] = s.total_steps;
  j["steps_run"] = s.last_step - s.first_step;
  j["skipped_steps"] = s.skipped_steps;
  j["final_loss"] = losses_json(s.final_losses);
  j["samples"] = s.samples;
  j["tokens"] = s.tokens;
  j["elapsed_s"] = number(s.elapsed_seconds);
  j["mean_tokens_per_s"] = number(s.mean_tokens_per_second);
  j["last_checkpoint"] = s.last_checkpoint;
  return dump(j);
}

MetricsLog::MetricsLog(const std::string& jsonl_path, const std::string& tensorboard_dir,
                       std::optional<int64_t> resume_step)
    : jsonl_path_(jsonl_path) {
  std::string parent = parent_directory(jsonl_path);
  if (!parent.empty()) ensure_directory(parent);
  std::string kept;
  if (resume_step && file_exists(jsonl_path)) {
    size_t dropped = 0;
    for (const auto& line : split(read_file(jsonl_path), '\n')) {
      if (line.empty()) continue;
      Json record = Json::parse(line, nullptr, /*allow_exceptions=*/false);
      if (!record.is_discarded() && record.is_object() && record.contains("step") &&
          record["step"].is_number_integer() && record["step"].get<int64_t>() <= *resume_step) {
        kept += line + "\n";
      } else {
        ++dropped;
      }
    }
    if (dropped > 0)
      spdlog::info("{}: dropped {} record(s) past step {} (logged after the checkpoint this run resumes from)",
                   jsonl_path, dropped, *resume_step);
  }
  write_file_atomic(jsonl_path, kept);
  if (!tensorboard_dir.empty()) tensorboard_ = std::make_unique<TensorBoardWriter>(tensorboard_dir);
}

MetricsLog::~MetricsLog() = default;

std::string MetricsLog::tensorboard_path() const { return tensorboard_ ? tensorboard_->path() : ""; }

void MetricsLog::append_line(const std::string& line) {
  std::unique_ptr<FILE, int (*)(FILE*)> file(std::fopen(jsonl_path_.c_str(), "ab"), &std::fclose);
  std::string text = line + "\n";
  if (!file || std::fwrite(text.data(), 1, text.size(), file.get()) != text.size() || std::fflush(file.get()) != 0)
    fail("cannot append to metrics file '{}': {}", jsonl_path_, std::strerror(errno));
}

void MetricsLog::log_step(const StepMetrics& m) {
  append_line(step_metrics_json(m));
  if (!tensorboard_) return;
  std::vector<std::pair<std::string, double>> scalars;
  for (const auto& [name, value] : m.losses) scalars.emplace_back("loss/" + name, value);
  scalars.emplace_back("train/lr", m.lr);
  scalars.emplace_back("train/grad_norm", m.grad_norm);
  scalars.emplace_back("train/tokens_per_s", m.tokens_per_second);
  scalars.emplace_back("train/samples", static_cast<double>(m.samples));
  scalars.emplace_back("train/tokens", static_cast<double>(m.tokens));
  scalars.emplace_back("train/skipped_steps", static_cast<double>(m.skipped_steps));
  tensorboard_->add_scalars(m.step, scalars);
}

void MetricsLog::log_summary(const RunSummary& s) { append_line(run_summary_json(s)); }

}  // namespace mha2mla
