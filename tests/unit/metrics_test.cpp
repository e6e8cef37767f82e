// Metrics outputs: JSON lines parsed back with nlohmann (and their resume truncation), the TFRecord framing
// checked field by field with CRC-32C computed here, and the progress line / summary table against
// hand-written expected text. (tests/python/test_tensorboard_events.py reads the event files independently.)
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <limits>

#include <nlohmann/json.hpp>

#include "common/crc32c.h"
#include "common/files.h"
#include "common/strings.h"
#include "trainer/metrics.h"
#include "trainer/progress.h"
#include "trainer/tensorboard_writer.h"
#include "tests/unit/test_support.h"

namespace mha2mla {
namespace {

StepMetrics metrics_at(int64_t step) {
  StepMetrics m;
  m.step = step;
  m.losses = {{"total", 0.5 / step}, {"activation", 0.4 / step}, {"kl", 0.1 / step}};
  m.lr = 1e-4;
  m.grad_norm = 0.75;
  m.tokens_per_second = 10240.5;
  m.samples = 8 * step;
  m.tokens = 4096 * step;
  m.elapsed_seconds = 2.5 * step;
  return m;
}

std::vector<nlohmann::json> read_jsonl(const std::string& path) {
  std::vector<nlohmann::json> out;
  for (const auto& line : split(read_file(path), '\n'))
    if (!line.empty()) out.push_back(nlohmann::json::parse(line));
  return out;
}

TEST(Metrics, JsonLinesHoldEveryFieldAndASummary) {
  std::string dir = testing::scratch_dir();
  std::string path = path_join(dir, "metrics.jsonl");
  {
    MetricsLog log(path, "", std::nullopt);
    log.log_step(metrics_at(1));
    StepMetrics bad = metrics_at(2);
    bad.losses[0].second = std::numeric_limits<double>::quiet_NaN();
    bad.skipped_steps = 1;
    log.log_step(bad);
    RunSummary summary;
    summary.last_step = 2;
    summary.total_steps = 2;
    summary.final_losses = bad.losses;
    summary.last_checkpoint = "ck/step-2";
    log.log_summary(summary);
  }
  auto records = read_jsonl(path);
  ASSERT_EQ(records.size(), 3u);
  EXPECT_EQ(records[0]["type"], "step");
  EXPECT_EQ(records[0]["step"], 1);
  EXPECT_DOUBLE_EQ(records[0]["loss"]["total"].get<double>(), 0.5);
  EXPECT_DOUBLE_EQ(records[0]["loss"]["kl"].get<double>(), 0.1);
  EXPECT_DOUBLE_EQ(records[0]["lr"].get<double>(), 1e-4);
  EXPECT_DOUBLE_EQ(records[0]["grad_norm"].get<double>(), 0.75);
  EXPECT_DOUBLE_EQ(records[0]["tokens_per_s"].get<double>(), 10240.5);
  EXPECT_EQ(records[0]["samples"], 8);
  EXPECT_EQ(records[0]["tokens"], 4096);
  EXPECT_DOUBLE_EQ(records[0]["elapsed_s"].get<double>(), 2.5);
  EXPECT_TRUE(records[1]["loss"]["total"].is_null());  // NaN
  EXPECT_EQ(records[1]["skipped_steps"], 1);
  EXPECT_EQ(records[2]["type"], "summary");
  EXPECT_EQ(records[2]["status"], "completed");
  EXPECT_EQ(records[2]["last_checkpoint"], "ck/step-2");
  // Keys keep their logical order in the file (step first), for people reading it.
  EXPECT_TRUE(starts_with(read_file(path), "{\"type\":\"step\",\"step\":1,\"loss\":{\"total\":"));
}

TEST(Metrics, ResumeDropsRecordsPastTheCheckpointAndTornLines) {
  std::string dir = testing::scratch_dir();
  std::string path = path_join(dir, "metrics.jsonl");
  {
    MetricsLog log(path, "", std::nullopt);
    for (int64_t s = 1; s <= 5; ++s) log.log_step(metrics_at(s));
  }
  {  // the crash tore the last line
    std::string text = read_file(path);
    write_file_atomic(path, text + "{\"type\":\"step\",\"st");
  }
  {
    MetricsLog log(path, "", int64_t{3});
    log.log_step(metrics_at(4));
  }
  auto records = read_jsonl(path);
  ASSERT_EQ(records.size(), 4u);
  for (int i = 0; i < 4; ++i) EXPECT_EQ(records[i]["step"], i + 1);
  MetricsLog fresh(path, "", std::nullopt);  // a fresh start replaces the file
  EXPECT_EQ(read_file(path), "");
}

uint64_t le(const std::string& bytes, size_t at, int n) {
  uint64_t v = 0;
  for (int i = 0; i < n; ++i) v |= uint64_t(static_cast<uint8_t>(bytes[at + i])) << (8 * i);
  return v;
}

TEST(TensorBoard, RecordFraming) {
  std::string data = "hello event";
  std::string record = tfrecord_frame(data);
  ASSERT_EQ(record.size(), 8 + 4 + data.size() + 4);
  EXPECT_EQ(le(record, 0, 8), data.size());
  auto masked = [](uint32_t crc) { return ((crc >> 15) | (crc << 17)) + 0xa282ead8u; };
  EXPECT_EQ(le(record, 8, 4), masked(crc32c(record.data(), 8)));
  EXPECT_EQ(record.substr(12, data.size()), data);
  EXPECT_EQ(le(record, 12 + data.size(), 4), masked(crc32c(data)));
}

TEST(TensorBoard, EventFileStartsWithTheFileVersion) {
  std::string dir = testing::scratch_dir();
  std::string path;
  {
    TensorBoardWriter writer(path_join(dir, "tb"), 1700000000.25);
    writer.add_scalar("loss/total", 0.5, 3, 1700000001.0);
    path = writer.path();
  }
  EXPECT_NE(path.find("/tb/events.out.tfevents.1700000000."), std::string::npos) << path;
  std::string bytes = read_file(path);
  uint64_t first = le(bytes, 0, 8);
  std::string data = bytes.substr(12, first);
  EXPECT_NE(data.find("brain.Event:2"), std::string::npos);
  // The second record holds the tag.
  uint64_t second = le(bytes, 12 + first + 4, 8);
  EXPECT_NE(bytes.substr(12 + first + 4 + 12, second).find("loss/total"), std::string::npos);
  EXPECT_EQ(bytes.size(), 12 + first + 4 + 12 + second + 4);
}

TEST(Progress, LineHasEveryTerm) {
  StepMetrics m = metrics_at(1);
  m.step = 12;
  m.losses = {{"total", 0.41234}, {"activation", 0.39}, {"kl", 0.02234}};
  m.elapsed_seconds = 62;
  EXPECT_EQ(format_progress_line(m, 100, 454),
            "step 12/100 (12%) | loss 0.4123 (activation 0.3900, kl 0.0223) | lr 1.00e-04 | grad 0.750 | "
            "10.2k tok/s | elapsed 1m02s | ETA 7m34s");
  m.losses = {{"total", 2.0}};
  m.skipped_steps = 2;
  EXPECT_EQ(format_progress_line(m, 100, 5),
            "step 12/100 (12%) | loss 2.0000 | lr 1.00e-04 | grad 0.750 | 10.2k tok/s | elapsed 1m02s | ETA 5.0s "
            "| skipped 2");
}

TEST(Progress, ThroughputOverTheWindowAndEtaFromTheAveragePace) {
  ThroughputMeter meter(10, 1000, 10, 100.0);  // resumed at step 10
  auto r1 = meter.update(12, 3000, 14, 104.0, 30);
  EXPECT_DOUBLE_EQ(r1.tokens_per_second, 500.0);  // 2000 tokens in 4 s
  EXPECT_DOUBLE_EQ(r1.samples_per_second, 1.0);
  EXPECT_DOUBLE_EQ(r1.seconds_per_step, 2.0);
  EXPECT_DOUBLE_EQ(r1.eta_seconds, 36.0);         // 18 steps left at 2 s
  auto r2 = meter.update(14, 7000, 18, 106.0, 30);
  EXPECT_DOUBLE_EQ(r2.tokens_per_second, 2000.0); // the window: 4000 tokens in 2 s
  EXPECT_DOUBLE_EQ(r2.seconds_per_step, 1.5);     // the average: 6 s for 4 steps
  EXPECT_DOUBLE_EQ(r2.eta_seconds, 24.0);
  EXPECT_DOUBLE_EQ(r2.elapsed_seconds, 6.0);
}

TEST(Progress, SummaryTable) {
  RunSummary s;
  s.first_step = 40;
  s.last_step = 100;
  s.total_steps = 100;
  s.skipped_steps = 1;
  s.final_losses = {{"total", 0.125}, {"activation", 0.1}};
  s.samples = 800;
  s.tokens = 409600;
  s.elapsed_seconds = 3723;
  s.mean_tokens_per_second = 110.02;
  s.last_checkpoint = "runs/x/checkpoints/step-100";
  EXPECT_EQ(format_run_summary(s),
            "training summary\n"
            "  status                 completed\n"
            "  steps                  40 -> 100 of 100 (60 run here)\n"
            "  skipped (NaN/Inf)      1\n"
            "  final loss total       0.125\n"
            "  final loss activation  0.1\n"
            "  samples                800 (800)\n"
            "  tokens                 409600 (409.6k)\n"
            "  time                   1h02m03s\n"
            "  throughput             110 tok/s\n"
            "  last checkpoint        runs/x/checkpoints/step-100\n");
}

}  // namespace
}  // namespace mha2mla
