// Samples per second on one core for the per-sample image work of the data pipeline: JPEG bytes in memory ->
// decoded RGB -> processor tensor. Pipelines: decode only; LLaVA-1.5 (pad to square + CLIP 336); CLIP 336
// (llava-hf's processor); LLaVA-NeXT anyres; Qwen2.5-VL (smart_resize defaults). Each pipeline runs `rounds`
// timed rounds of `iterations` samples; the median round is reported. Results and commands: docs/benchmarks.md.
//
//   bench_image_preprocessing [--image FILE.jpg] [--rounds 7] [--iterations 40] [--only PIPELINE] [--json]
//
// Without --image a 640x480 JPEG (quality 90, 4:2:0) of smooth gradients, edges and noise is encoded here.
#include <turbojpeg.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <functional>
#include <random>
#include <string>
#include <vector>

#include <ATen/core/Tensor.h>

#include "common/files.h"
#include "data/image/image_decode.h"
#include "data/image/image_processing.h"
#include "tests/bench/bench_timing.h"
#include "tests/bench/photo_like_image.h"

namespace {

using namespace mha2mla::image;

std::string synthetic_jpeg(int width, int height) {
  const mha2mla::image::RgbImage image = mha2mla::bench::photo_like_image(width, height);
  tjhandle handle = tjInitCompress();
  unsigned char* buffer = nullptr;
  unsigned long size = 0;
  tjCompress2(handle, image.pixels.data(), width, 0, height, TJPF_RGB, &buffer, &size, TJSAMP_420, 90, 0);
  std::string jpeg(reinterpret_cast<char*>(buffer), size);
  tjFree(buffer);
  tjDestroy(handle);
  return jpeg;
}

struct Result {
  std::string name;
  double median_per_second = 0;
  double min_per_second = 0, max_per_second = 0;
};

Result measure(const std::string& name, int rounds, int iterations, const std::function<int64_t()>& sample) {
  volatile int64_t sink = 0;
  for (int i = 0; i < 3; ++i) sink = sink + sample();  // warm-up: page in code, tables, allocator
  std::vector<double> rates;
  for (int r = 0; r < rounds; ++r) {
    const mha2mla::bench::Stopwatch watch;
    for (int i = 0; i < iterations; ++i) sink = sink + sample();
    rates.push_back(iterations / watch.wall_seconds());
  }
  std::sort(rates.begin(), rates.end());
  return {name, rates[rates.size() / 2], rates.front(), rates.back()};
}

}  // namespace

int main(int argc, char** argv) {
  std::string image_path;
  int rounds = 7, iterations = 40;
  bool json = false;
  std::string only;
  for (int i = 1; i < argc; ++i) {
    std::string arg = argv[i];
    if (arg == "--image" && i + 1 < argc) image_path = argv[++i];
    else if (arg == "--rounds" && i + 1 < argc) rounds = std::stoi(argv[++i]);
    else if (arg == "--iterations" && i + 1 < argc) iterations = std::stoi(argv[++i]);
    else if (arg == "--only" && i + 1 < argc) only = argv[++i];
    else if (arg == "--json") json = true;
    else {
      std::fprintf(stderr, "usage: %s [--image FILE.jpg] [--rounds N] [--iterations N] [--only PIPELINE] [--json]\n", argv[0]);
      return 2;
    }
  }
  const std::string jpeg = image_path.empty() ? synthetic_jpeg(640, 480) : mha2mla::read_file(image_path);
  const RgbImage probe = decode_image(jpeg, "bench");

  ClipImageConfig clip;
  ClipImageConfig llava15 = clip;
  llava15.pad_to_square = true;
  LlavaNextImageConfig llava_next;
  Qwen2VlImageConfig qwen;

  struct Pipeline {
    const char* name;
    int iterations;
    std::function<int64_t()> sample;
  };
  const std::vector<Pipeline> pipelines = {
      {"decode", iterations, [&] { return decode_image(jpeg, "bench").width; }},
      {"llava15_pad_336", iterations, [&] { return preprocess_clip(decode_image(jpeg, "bench"), llava15).numel(); }},
      {"clip_336", iterations, [&] { return preprocess_clip(decode_image(jpeg, "bench"), clip).numel(); }},
      {"llava_next_anyres", std::max(1, iterations / 4),
       [&] { return preprocess_llava_next(decode_image(jpeg, "bench"), llava_next).pixel_values.numel(); }},
      {"qwen2_5_vl", iterations,
       [&] { return preprocess_qwen2_vl(decode_image(jpeg, "bench"), qwen).pixel_values.numel(); }},
  };
  std::vector<Result> results;
  for (const Pipeline& p : pipelines)
    if (only.empty() || only == p.name) results.push_back(measure(p.name, rounds, p.iterations, p.sample));
  if (results.empty()) {
    std::fprintf(stderr, "no pipeline named '%s'\n", only.c_str());
    return 2;
  }

  if (json) {
    std::printf("{\"image\": \"%dx%d\", \"bytes\": %zu, \"results\": {", static_cast<int>(probe.width),
                static_cast<int>(probe.height), jpeg.size());
    for (size_t i = 0; i < results.size(); ++i)
      std::printf("%s\"%s\": %.2f", i ? ", " : "", results[i].name.c_str(), results[i].median_per_second);
    std::printf("}}\n");
    return 0;
  }
  std::printf("mha2mla image preprocessing, 1 thread, %dx%d JPEG (%zu bytes), median of %d rounds\n",
              static_cast<int>(probe.width), static_cast<int>(probe.height), jpeg.size(), rounds);
  for (const Result& r : results)
    std::printf("  %-20s %8.1f samples/s  (%6.2f ms/sample; rounds %.1f..%.1f)\n", r.name.c_str(),
                r.median_per_second, 1000.0 / r.median_per_second, r.min_per_second, r.max_per_second);
  return 0;
}
