// Learning-rate schedules at chosen steps against their closed forms (numbers worked out by hand / in
// Python), and wsd_sqrt against a transcription of the paper's scheduler (nanotron's lr_lambda with
// lr_warmup_style "linear" and lr_decay_style "1-sqrt") at every step where the two are meant to agree.
#include <gtest/gtest.h>

#include <cmath>

#include "trainer/schedule.h"
#include "trainer/train_config.h"
#include "tests/unit/test_support.h"

namespace mha2mla {
namespace {

ScheduleConfig schedule(const std::string& kind, int64_t warmup, double decay_fraction, double min_ratio) {
  ScheduleConfig c;
  c.kind = kind;
  c.warmup_steps = warmup;
  c.decay_fraction = decay_fraction;
  c.min_lr_ratio = min_ratio;
  return c;
}

// The MHA2MLA-VLM code's lambda (times initial_lr), with absolute step counts.
double paper_wsd(int64_t s, double peak, int64_t warmup, int64_t decay_start, int64_t decay_steps, double min_lr) {
  if (warmup == 0 && decay_steps == 0) return peak;
  if (s <= warmup) return peak * static_cast<double>(s) / static_cast<double>(std::max<int64_t>(warmup, 1));
  if (s < decay_start) return peak;
  if (s < decay_start + decay_steps)
    return min_lr + (peak - min_lr) * (1 - std::sqrt(static_cast<double>(s - decay_start) / decay_steps));
  return min_lr;
}

TEST(LearningRateSchedule, WsdSqrtClosedForm) {
  // N = 100, W = 10, decay 20% -> L = 20, D = 80, m = 0.1.
  LearningRateSchedule lr(schedule("wsd_sqrt", 10, 0.2, 0.1), 1e-3, 100);
  EXPECT_EQ(lr.decay_start(), 80);
  EXPECT_EQ(lr.decay_steps(), 20);
  EXPECT_DOUBLE_EQ(lr.at(0), 0.0);
  EXPECT_DOUBLE_EQ(lr.at(5), 5e-4);
  EXPECT_DOUBLE_EQ(lr.at(10), 1e-3);
  EXPECT_DOUBLE_EQ(lr.at(79), 1e-3);
  EXPECT_DOUBLE_EQ(lr.at(80), 1e-3);                    // the decay starts at the peak
  EXPECT_NEAR(lr.at(84), 0.0005975077640500379, 1e-18);  // 1e-3 * (0.1 + 0.9 * (1 - sqrt(4/20)))
  EXPECT_NEAR(lr.at(99), 0.0001227885089671933, 1e-18);  // 1e-3 * (0.1 + 0.9 * (1 - sqrt(19/20)))
  EXPECT_DOUBLE_EQ(lr.at(100), 1e-4);                    // past the run: m * peak
  EXPECT_DOUBLE_EQ(lr.at(1000), 1e-4);
}

TEST(LearningRateSchedule, WsdSqrtEqualsThePapersScheduler) {
  for (int64_t warmup : {1, 3, 10}) {
    LearningRateSchedule lr(schedule("wsd_sqrt", warmup, 0.1, 0.0), 5e-5, 57);
    // The paper's code takes lr_decay_starting_step and lr_decay_steps as counts: D and L here.
    for (int64_t s = 0; s < 70; ++s)
      EXPECT_DOUBLE_EQ(lr.at(s), paper_wsd(s, 5e-5, warmup, lr.decay_start(), lr.decay_steps(), 0.0))
          << "warmup " << warmup << " step " << s;
  }
  // The one intended difference: with no warmup the paper's code gives step 0 a rate of 0.
  LearningRateSchedule no_warmup(schedule("wsd_sqrt", 0, 0.1, 0.0), 5e-5, 57);
  EXPECT_DOUBLE_EQ(no_warmup.at(0), 5e-5);
  EXPECT_DOUBLE_EQ(paper_wsd(0, 5e-5, 0, no_warmup.decay_start(), no_warmup.decay_steps(), 0.0), 0.0);
}

TEST(LearningRateSchedule, DecayNeverEatsIntoWarmup) {
  // N = 10, W = 8, decay 50% -> L would be 5 (D = 5), but the decay starts after the warmup: D = 8.
  LearningRateSchedule lr(schedule("wsd_sqrt", 8, 0.5, 0.0), 1.0, 10);
  EXPECT_EQ(lr.decay_start(), 8);
  EXPECT_DOUBLE_EQ(lr.at(7), 7.0 / 8.0);
  EXPECT_DOUBLE_EQ(lr.at(8), 1.0);
  EXPECT_DOUBLE_EQ(lr.at(9), 1.0 - std::sqrt(0.5));
}

TEST(LearningRateSchedule, NoDecayFraction) {
  LearningRateSchedule lr(schedule("wsd_sqrt", 2, 0.0, 0.0), 1.0, 10);
  EXPECT_EQ(lr.decay_start(), 10);
  EXPECT_DOUBLE_EQ(lr.at(9), 1.0);
}

TEST(LearningRateSchedule, CosineClosedForm) {
  LearningRateSchedule lr(schedule("cosine", 0, 0.1, 0.0), 1e-3, 100);
  EXPECT_DOUBLE_EQ(lr.at(0), 1e-3);
  EXPECT_NEAR(lr.at(25), 0.0008535533905932737, 1e-18);  // 1e-3 * (1 + cos(pi/4)) / 2
  EXPECT_NEAR(lr.at(50), 5e-4, 1e-18);
  EXPECT_NEAR(lr.at(100), 0.0, 1e-18);
  // With warmup 10 and m = 0.2: the cosine spans steps 10..100; at 55 it is halfway: 0.2 + 0.8 * 0.5 = 0.6.
  LearningRateSchedule warm(schedule("cosine", 10, 0.1, 0.2), 1.0, 100);
  EXPECT_DOUBLE_EQ(warm.at(4), 0.4);
  EXPECT_DOUBLE_EQ(warm.at(10), 1.0);
  EXPECT_NEAR(warm.at(55), 0.6, 1e-15);
  EXPECT_NEAR(warm.at(100), 0.2, 1e-15);
}

TEST(LearningRateSchedule, ConstantAfterWarmup) {
  LearningRateSchedule lr(schedule("constant", 4, 0.5, 0.5), 2.0, 10);
  EXPECT_DOUBLE_EQ(lr.at(0), 0.0);
  EXPECT_DOUBLE_EQ(lr.at(1), 0.5);
  EXPECT_DOUBLE_EQ(lr.at(4), 2.0);
  EXPECT_DOUBLE_EQ(lr.at(9), 2.0);
  EXPECT_DOUBLE_EQ(lr.at(50), 2.0);
}

TEST(LearningRateSchedule, RefusesWarmupLongerThanTheRun) {
  EXPECT_ERROR_CONTAINS(LearningRateSchedule bad(schedule("cosine", 11, 0.1, 0), 1.0, 10),
                        "train.schedule.warmup_steps = 11", "train.steps = 10");
  EXPECT_ERROR_CONTAINS(LearningRateSchedule bad(schedule("linear", 0, 0.1, 0), 1.0, 10), "train.schedule.kind",
                        "linear");
}

TEST(LearningRateSchedule, SummaryNamesThePhases) {
  LearningRateSchedule lr(schedule("wsd_sqrt", 10, 0.2, 0.1), 1e-3, 100);
  EXPECT_EQ(lr.summary(), "wsd_sqrt: peak 0.001, linear warmup steps 0-9, constant steps 10-79, "
                          "1-sqrt decay steps 80-99 toward 0.0001");
}

}  // namespace
}  // namespace mha2mla
