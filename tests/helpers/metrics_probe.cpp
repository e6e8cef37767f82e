// Test helper: logs the steps given on the command line through MetricsLog (JSONL + TensorBoard) and one
// extra scalar through TensorBoardWriter, for tests/python/test_tensorboard_events.py to read back.
//   metrics_probe OUT_DIR STEP:TOTAL:ACTIVATION:KL:LR:GRAD_NORM ...
// Writes OUT_DIR/metrics.jsonl, OUT_DIR/tb/events.out.tfevents.*, and OUT_DIR/extra/events.out.tfevents.*
// holding "extra/zero" = 0.0 at step 0 and "extra/big" = 1e30 at step 7 with wall time 1700000000.5.
#include <cstdio>
#include <string>

#include "common/error.h"
#include "common/files.h"
#include "common/strings.h"
#include "trainer/metrics.h"
#include "trainer/tensorboard_writer.h"

using namespace mha2mla;

int main(int argc, char** argv) {
  if (argc < 2) {
    std::fprintf(stderr, "usage: metrics_probe OUT_DIR STEP:TOTAL:ACTIVATION:KL:LR:GRAD_NORM ...\n");
    return 2;
  }
  try {
    const std::string out = argv[1];
    {
      MetricsLog log(path_join(out, "metrics.jsonl"), path_join(out, "tb"), std::nullopt);
      for (int i = 2; i < argc; ++i) {
        auto fields = split(argv[i], ':');
        if (fields.size() != 6) fail("argument '{}': expected 6 fields separated by ':'", argv[i]);
        StepMetrics m;
        m.step = std::stoll(fields[0]);
        m.losses = {{"total", std::stod(fields[1])}, {"activation", std::stod(fields[2])}, {"kl", std::stod(fields[3])}};
        m.lr = std::stod(fields[4]);
        m.grad_norm = std::stod(fields[5]);
        m.samples = 4 * m.step;
        m.tokens = 1000 * m.step;
        m.tokens_per_second = 123.25;
        m.elapsed_seconds = 0.5 * m.step;
        log.log_step(m);
      }
    }
    TensorBoardWriter extra(path_join(out, "extra"), 1700000000.5);
    extra.add_scalar("extra/zero", 0.0, 0, 1700000000.5);
    extra.add_scalar("extra/big", 1e30, 7, 1700000000.5);
    return 0;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "error: %s\n", e.what());
    return 1;
  }
}
