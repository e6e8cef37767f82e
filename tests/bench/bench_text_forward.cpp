// Forward throughput of the Llama-style decoder (logits for a whole batch, no grad), f32 on CPU.
//   bench_text_forward --size tiny|medium [--rounds N] [--threads T]
// Prints one line per round and a final "median_tokens_per_s=<x>" line that the side-by-side driver
// (bench_text_forward_baseline.py) reads.
#include <cstdio>
#include <string>
#include <vector>

#include <ATen/ATen.h>
#include <ATen/Parallel.h>

#include "model/random_init.h"
#include "model/text_model.h"
#include "tests/bench/bench_timing.h"

using namespace mha2mla;

struct Size {
  DecoderConfig config;
  int64_t batch, tokens;
};

static Size size_named(const std::string& name) {
  Size s;
  DecoderConfig& c = s.config;
  c.rope.theta = 10000;
  if (name == "tiny") {
    c.vocab_size = 512, c.hidden = 128, c.intermediate = 256, c.layers = 2, c.heads = 4, c.kv_heads = 2, c.head_dim = 32;
    s.batch = 4, s.tokens = 64;
  } else {
    c.vocab_size = 32000, c.hidden = 1024, c.intermediate = 2816, c.layers = 4, c.heads = 16, c.kv_heads = 4, c.head_dim = 64;
    s.batch = 1, s.tokens = 512;
  }
  c.rope.head_dim = c.head_dim;
  c.rms_eps = 1e-6;
  return s;
}

int main(int argc, char** argv) {
  std::string size_name = "tiny";
  int rounds = 7, threads = 1;
  for (int i = 1; i + 1 < argc; i += 2) {
    std::string flag = argv[i];
    if (flag == "--size") size_name = argv[i + 1];
    if (flag == "--rounds") rounds = std::stoi(argv[i + 1]);
    if (flag == "--threads") threads = std::stoi(argv[i + 1]);
  }
  at::set_num_threads(threads);
  Size size = size_named(size_name);
  TextModel model(size.config, at::TensorOptions().dtype(at::kFloat));
  init_random([&](const ParamVisitor& v) { model.visit(v); }, 1);
  at::manual_seed(0);
  at::Tensor ids = at::randint(0, size.config.vocab_size, {size.batch, size.tokens}, at::kLong);
  TextBatch batch;
  batch.attention_mask = at::ones({size.batch, size.tokens}, at::kLong);
  batch.positions = default_positions(size.batch, size.tokens, batch.attention_mask, at::kCPU);
  at::NoGradGuard no_grad;
  std::vector<double> per_round;
  for (int r = 0; r <= rounds; ++r) {
    const bench::Stopwatch watch;
    at::Tensor logits = model.logits(model.forward(model.embed(ids), batch));
    const double seconds = watch.wall_seconds();
    if (r == 0) continue;  // warm-up
    per_round.push_back(static_cast<double>(size.batch * size.tokens) / seconds);
    std::printf("round %d: %.1f tokens/s\n", r, per_round.back());
  }
  std::printf("median_tokens_per_s=%.2f\n", bench::median(per_round));
  return 0;
}
