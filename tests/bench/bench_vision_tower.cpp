// Images per second through the vision towers (forward only, float32, no autograd), random weights:
//   clip  CLIP ViT-B/14 at 224 px: hidden 768, 12 layers, 12 heads, MLP 3072, 257 tokens per image; a batch of
//         --batch images per forward, hidden states of the last layer;
//   llava_features  the same CLIP as LLaVA reads it: the hidden states of layer -2 (transformers runs the whole
//         tower with output_hidden_states and picks one; mha2mla stops after the layer it needs);
//   qwen  Qwen2.5-VL ViT: hidden 640, depth 8, 10 heads, SwiGLU 1728, window 112 px with full attention in
//         blocks 3 and 7, one 448x448 image per forward (32x32 patches, 256 merged tokens of width 1024).
// Each tower runs `rounds` timed rounds after one warm-up; the median round is reported, as images per second of
// wall time and images per second of this process's CPU time (the steadier figure on a shared machine: with one
// thread it is the compute itself, whatever else runs). Results and commands: docs/benchmarks.md (the
// Python-eager side is tests/bench/bench_vision_tower_baseline.py).
//
//   bench_vision_tower [--tower clip|llava_features|qwen|all] [--rounds 5] [--batch 4] [--threads 1] [--json]

#include <cstdio>
#include <cstring>
#include <functional>
#include <string>
#include <vector>

#include <ATen/ATen.h>
#include <ATen/Parallel.h>

#include "common/allocator.h"
#include "model/random_init.h"
#include "model/vision/clip_vision.h"
#include "model/vision/qwen_vision.h"
#include "tests/bench/bench_timing.h"

namespace {

using namespace mha2mla;

struct Options {
  std::string tower = "all";
  int rounds = 5;
  int64_t batch = 4;
  int threads = 1;
  bool json = false;
};

hf::ClipVisionConfig bench_clip() {
  hf::ClipVisionConfig c;
  c.hidden_size = 768;
  c.intermediate_size = 3072;
  c.num_hidden_layers = 12;
  c.num_attention_heads = 12;
  c.image_size = 224;
  c.patch_size = 14;
  return c;
}

hf::QwenVisionConfig bench_qwen() {
  hf::QwenVisionConfig v;
  v.depth = 8;
  v.hidden_size = 640;
  v.intermediate_size = 1728;
  v.num_heads = 10;
  v.out_hidden_size = 1024;
  v.window_size = 112;
  v.fullatt_block_indexes = {3, 7};
  return v;
}

struct Rates {
  double wall = 0;  // median images per wall-clock second
  double cpu = 0;   // median images per CPU second of this process
};

// Medians over `rounds` timed calls of `run` (each handles `images` images) after one warm-up.
Rates median_rates(int rounds, int64_t images, const std::function<void()>& run) {
  run();
  std::vector<double> wall, cpu;
  for (int r = 0; r < rounds; ++r) {
    const bench::Stopwatch watch;
    run();
    cpu.push_back(static_cast<double>(images) / watch.cpu_seconds());
    wall.push_back(static_cast<double>(images) / watch.wall_seconds());
  }
  return {bench::median(wall), bench::median(cpu)};
}

void report(const Options& o, const char* tower, const char* shape, const Rates& rates) {
  if (o.json)
    std::printf("{\"tower\": \"%s\", \"images_per_second\": %.4f, \"images_per_cpu_second\": %.4f, "
                "\"threads\": %d}\n",
                tower, rates.wall, rates.cpu, o.threads);
  else
    std::printf("%-14s %-30s %8.3f images/s, %8.3f images per CPU second (%d thread%s)\n", tower, shape, rates.wall,
                rates.cpu, o.threads, o.threads == 1 ? "" : "s");
  std::fflush(stdout);
}

}  // namespace

int main(int argc, char** argv) {
  Options o;
  for (int i = 1; i < argc; ++i) {
    std::string arg = argv[i];
    auto next = [&]() -> std::string {
      if (i + 1 >= argc) {
        std::fprintf(stderr, "%s needs a value\n", arg.c_str());
        std::exit(2);
      }
      return argv[++i];
    };
    if (arg == "--tower") o.tower = next();
    else if (arg == "--rounds") o.rounds = std::stoi(next());
    else if (arg == "--batch") o.batch = std::stoll(next());
    else if (arg == "--threads") o.threads = std::stoi(next());
    else if (arg == "--json") o.json = true;
    else {
      std::fprintf(stderr, "usage: bench_vision_tower [--tower clip|llava_features|qwen|all] [--rounds N] [--batch N] [--threads N] [--json]\n");
      return 2;
    }
  }
  keep_freed_tensor_memory();  // as the mha2mla binary does (common/allocator.h)
  at::set_num_threads(o.threads);
  at::NoGradGuard no_grad;
  at::manual_seed(0);
  const auto options = at::TensorOptions().dtype(at::kFloat);

  if (o.tower == "clip" || o.tower == "all") {
    ClipVisionTower tower(bench_clip(), options);
    init_random([&](const ParamVisitor& v) { tower.visit("", v); }, 1);
    at::Tensor pixels = at::randn({o.batch, 3, 224, 224});
    Rates rate = median_rates(o.rounds, o.batch, [&] { tower.hidden_states(pixels, {-1}); });
    report(o, "clip", "ViT-B/14 224px, 12 layers", rate);
  }
  if (o.tower == "llava_features" || o.tower == "all") {
    ClipVisionTower tower(bench_clip(), options);
    init_random([&](const ParamVisitor& v) { tower.visit("", v); }, 1);
    at::Tensor pixels = at::randn({o.batch, 3, 224, 224});
    Rates rate = median_rates(o.rounds, o.batch, [&] { tower.hidden_states(pixels, {-2}); });
    report(o, "llava_features", "ViT-B/14 224px, layer -2", rate);
  }
  if (o.tower == "qwen" || o.tower == "all") {
    QwenVisionTower tower(bench_qwen(), options);
    init_random([&](const ParamVisitor& v) { tower.visit("", v); }, 2);
    at::Tensor patches = at::randn({32 * 32, 3 * 2 * 14 * 14});
    Rates rate = median_rates(o.rounds, 1, [&] { tower.forward(patches, {{1, 32, 32}}); });
    report(o, "qwen", "Qwen2.5-VL ViT 640x8, 448x448", rate);
  }
  return 0;
}
