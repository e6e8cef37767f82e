// Decoding speed and cache size of the teacher (GQA, full K/V cache) against the MLA student (latent cache,
// absorbed attention) on a 7B-shaped slice of attention layers, f32 on CPU. Each context is filled with random
// cached entries (the cost of a decode step does not depend on their values), then `steps` single-token steps
// run through every layer; the median step gives tokens/s.
//   bench_decode [--contexts 1024,4096,16384] [--layers 2] [--steps 16] [--heads 32] [--kv-heads 8]
//                [--head-dim 128] [--hidden 4096] [--rope-dims 32] [--latent-rank 32] [--images 576] [--threads 1]
// Student rows: the joint variant on a text-only context and on a context whose first --images tokens are image
// tokens (both modalities' projections in use); the split variant (c_k, c_v of d_c / 2 each) on the mixed context;
// and int8 / int4 quantised joint caches of the mixed context. All variants take their steps in turns.
#include <algorithm>
#include <cstdio>
#include <map>
#include <sstream>
#include <string>
#include <vector>

#include <malloc.h>

#include <ATen/ATen.h>
#include <ATen/Parallel.h>

#include "model/attention.h"
#include "model/layers/attention_kernel.h"
#include "model/layers/rotary.h"
#include "model/mla/mla_attention.h"
#include "model/random_init.h"
#include "tests/bench/bench_timing.h"

using namespace mha2mla;

namespace {

struct Settings {
  std::vector<int64_t> contexts{1024, 4096, 16384};
  int64_t layers = 2, steps = 16, heads = 32, kv_heads = 8, head_dim = 128, hidden = 4096, rope_dims = 32,
          latent_rank = 32, images = 576;
  int threads = 1;
};

Settings parse(int argc, char** argv) {
  Settings s;
  std::map<std::string, int64_t*> integers{{"--layers", &s.layers},       {"--steps", &s.steps},
                                           {"--heads", &s.heads},         {"--kv-heads", &s.kv_heads},
                                           {"--head-dim", &s.head_dim},   {"--hidden", &s.hidden},
                                           {"--rope-dims", &s.rope_dims}, {"--latent-rank", &s.latent_rank},
                                           {"--images", &s.images}};
  for (int i = 1; i + 1 < argc; i += 2) {
    std::string flag = argv[i], value = argv[i + 1];
    if (flag == "--threads") {
      s.threads = std::stoi(value);
    } else if (flag == "--contexts") {
      s.contexts.clear();
      std::stringstream list(value);
      for (std::string item; std::getline(list, item, ',');) s.contexts.push_back(std::stoll(item));
    } else if (integers.count(flag)) {
      *integers[flag] = std::stoll(value);
    } else {
      std::fprintf(stderr, "unknown flag %s\n", flag.c_str());
      std::exit(2);
    }
  }
  return s;
}

// Per layer: the teacher, and students of the joint (one latent) and split (c_k, c_v halves) variants; all share the
// teacher's q_proj / o_proj.
struct Stack {
  std::vector<std::unique_ptr<GqaAttention>> teachers;
  std::vector<std::unique_ptr<MlaAttention>> joint, split;
};

Stack build(const Settings& s) {
  Stack stack;
  AttentionShape shape{s.hidden, s.heads, s.kv_heads, s.head_dim, false, false};
  MlaLayerLayout layout;
  layout.heads = s.heads;
  layout.kv_heads = s.kv_heads;
  layout.head_dim = s.head_dim;
  layout.rope_dims = s.rope_dims;
  layout.latent_rank = s.latent_rank;
  layout.variant = MlaVariant::joint;
  for (int64_t g = 0; g < s.kv_heads; ++g) {
    std::vector<int64_t> pairs;
    for (int64_t j = 0; j < s.rope_dims / 2; ++j) pairs.push_back(j);
    layout.rope_pairs.push_back(pairs);
  }
  auto options = at::TensorOptions().dtype(at::kFloat);
  MlaLayerLayout split_layout = layout;
  split_layout.variant = MlaVariant::split;
  for (int64_t l = 0; l < s.layers; ++l) {
    stack.teachers.push_back(std::make_unique<GqaAttention>(shape, options));
    stack.joint.push_back(std::make_unique<MlaAttention>(layout, *stack.teachers.back(), options));
    stack.split.push_back(std::make_unique<MlaAttention>(split_layout, *stack.teachers.back(), options));
    init_random([&](const ParamVisitor& v) {
      stack.teachers.back()->visit("teacher", v);
      stack.joint.back()->visit("joint", v);
      stack.split.back()->visit("split", v);
    }, static_cast<uint64_t>(l + 1), 0.02);
  }
  return stack;
}

// The inputs of decode step `step` after `context` cached tokens (all keys valid, a text token).
AttentionInputs step_inputs(const RotaryEmbedding& rope, int64_t context, int64_t step) {
  AttentionInputs inputs;
  at::Tensor position = at::full({1, 1}, context + step, at::kLong);
  std::tie(inputs.cos, inputs.sin) = rope.cos_sin(position, at::kFloat);
  inputs.bias = attention_bias(1, 1, context + step, at::Tensor(), at::Tensor(), at::kFloat, at::kCPU);
  inputs.image_mask = at::zeros({1, 1}, at::kBool);
  return inputs;
}

// One cache configuration under test: its layers and their caches.
struct Variant {
  std::string name;
  std::vector<AttentionBlock*> layers;
  std::vector<std::unique_ptr<LayerCache>> caches;
  std::vector<double> seconds;  // per decode step, all layers

  int64_t cache_bytes() const {
    int64_t bytes = 0;
    for (const auto& cache : caches) bytes += cache->bytes();
    return bytes;
  }
  double tokens_per_second() const { return 1.0 / bench::median(seconds); }
};

Variant teacher_variant(Stack& stack, const Settings& s, int64_t context) {
  Variant v;
  v.name = "teacher (K/V)";
  at::manual_seed(1);
  for (auto& teacher : stack.teachers) {
    v.layers.push_back(teacher.get());
    auto cache = std::make_unique<TeacherKvCache>();
    cache->append(at::randn({1, s.kv_heads, context, s.head_dim}), at::randn({1, s.kv_heads, context, s.head_dim}));
    v.caches.push_back(std::move(cache));
  }
  return v;
}

Variant student_variant(const std::vector<std::unique_ptr<MlaAttention>>& students, const Settings& s, int64_t context,
                        int64_t images, KvQuantization quantization, const std::string& name) {
  Variant v;
  v.name = name;
  at::manual_seed(1);
  LatentCacheOptions options;
  options.quantization = quantization;
  for (auto& student : students) {
    v.layers.push_back(student.get());
    auto cache = std::make_unique<LatentKvCache>(options);
    at::Tensor image_mask = (at::arange(context) < images).unsqueeze(0);
    cache->append(at::randn({1, context, s.kv_heads * s.latent_rank}), at::randn({1, s.kv_heads, context, s.rope_dims}),
                  image_mask);
    v.caches.push_back(std::move(cache));
  }
  return v;
}

// Decode steps taken in turns (teacher, then each student, then the next step), so that all variants see the
// same machine load; the first step of each is a warm-up.
void decode_side_by_side(std::vector<Variant>& variants, const RotaryEmbedding& rope, int64_t context, int64_t steps,
                         int64_t hidden) {
  at::manual_seed(0);
  at::Tensor x = at::randn({1, 1, hidden});
  for (int64_t step = 0; step <= steps; ++step) {
    AttentionInputs inputs = step_inputs(rope, context, step);
    for (Variant& v : variants) {
      const bench::Stopwatch watch;
      for (size_t l = 0; l < v.layers.size(); ++l) v.layers[l]->forward(x, inputs, v.caches[l].get());
      const double seconds = watch.wall_seconds();
      if (step > 0) v.seconds.push_back(seconds);
    }
  }
}

}  // namespace

int main(int argc, char** argv) {
  Settings s = parse(argc, argv);
  // Per-step temporaries (score rows, probabilities) are a few MB: keep glibc from returning them to the kernel
  // after every step, so neither side pays fresh page faults per token (the same setting for teacher and student).
  mallopt(M_MMAP_THRESHOLD, 32 << 20);
  mallopt(M_TRIM_THRESHOLD, 1 << 30);
  at::set_num_threads(s.threads);
  at::NoGradGuard no_grad;
  Stack stack = build(s);
  RopeConfig rope_config;
  rope_config.head_dim = s.head_dim;
  RotaryEmbedding rope(rope_config);
  std::printf("attention slice: %lld layers, hidden %lld, %lld heads / %lld KV heads, head_dim %lld; MLA r=%lld d_kv=%lld "
              "(d_c=%lld); f32, %d threads, median of %lld decode steps\n",
              static_cast<long long>(s.layers), static_cast<long long>(s.hidden), static_cast<long long>(s.heads),
              static_cast<long long>(s.kv_heads), static_cast<long long>(s.head_dim), static_cast<long long>(s.rope_dims),
              static_cast<long long>(s.latent_rank), static_cast<long long>(s.kv_heads * s.latent_rank), s.threads,
              static_cast<long long>(s.steps));
  std::printf("%8s  %-26s %12s %9s %14s %9s\n", "context", "cache", "tokens/s", "speed-up", "cache bytes", "smaller");
  for (int64_t context : s.contexts) {
    const int64_t images = std::min(s.images, context);
    std::vector<Variant> variants;
    variants.push_back(teacher_variant(stack, s, context));
    variants.push_back(student_variant(stack.joint, s, context, 0, KvQuantization::none, "student joint, text"));
    variants.push_back(student_variant(stack.joint, s, context, images, KvQuantization::none, "student joint, +images"));
    variants.push_back(student_variant(stack.split, s, context, images, KvQuantization::none, "student split, +images"));
    variants.push_back(student_variant(stack.joint, s, context, images, KvQuantization::int8, "student joint int8, +img"));
    variants.push_back(student_variant(stack.joint, s, context, images, KvQuantization::int4, "student joint int4, +img"));
    decode_side_by_side(variants, rope, context, s.steps, s.hidden);
    const Variant& teacher = variants.front();
    for (const Variant& v : variants) {
      std::printf("%8lld  %-26s %12.2f %8.2fx %14lld %8.2fx\n", static_cast<long long>(context), v.name.c_str(),
                  v.tokens_per_second(), v.tokens_per_second() / teacher.tokens_per_second(),
                  static_cast<long long>(v.cache_bytes()),
                  static_cast<double>(teacher.cache_bytes()) / static_cast<double>(v.cache_bytes()));
    }
    std::fflush(stdout);
  }
  return 0;
}
