// Samples per second of the whole per-sample data path on one core: read the record from a LLaVA JSON list,
// parse it, read the 640x480 JPEG from disk, decode, preprocess, render the chat template, tokenize with labels,
// expand the image placeholder, build the batch (DataPipeline with workers = 0, batch size 1). Pipelines:
//   llava15_336      LLaVA-1.5: pad to square + CLIP 336 px, 576 <image> tokens, vicuna_v1, Llama-2 tokenizer
//   qwen2_5_vl       Qwen2.5-VL: smart_resize + patches (476x644 -> 391 image tokens), chatml, Qwen2.5 tokenizer
//   llava15_336_mt   llava15_336 with 2 worker threads (plus the reader and batch threads): total samples/s
// Each pipeline runs `rounds` timed rounds of `samples` samples after a warm-up; the median round is reported.
// Results and commands: docs/benchmarks.md.
//
//   bench_data_pipeline [--dataset DIR] [--llava-tokenizer DIR] [--qwen-tokenizer DIR] [--rounds 5]
//                       [--samples 40] [--only PIPELINE] [--json]
//
// Without --dataset, DIR/data.json (64 two-turn LLaVA-style conversations) and 16 JPEG files are written to a
// temporary folder. Tokenizers default to the real llava-1.5 / Qwen2.5 files prepared by
// tests/tokenizer/setup_reference.sh when present, else to the tiny ones (which tokenize faster).
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <functional>
#include <random>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "common/files.h"
#include "data/data_pipeline.h"
#include "data/synthetic/image_encode.h"
#include "data/tokenizer/tiny_tokenizer.h"
#include "tests/bench/bench_timing.h"
#include "tests/bench/photo_like_image.h"

namespace {

using namespace mha2mla;
using namespace mha2mla::data;

// The photo-like 640x480 image of bench_image_preprocessing: gradients, a checker of edges, noise.
std::string synthetic_jpeg(int width, int height) {
  const image::RgbImage image = bench::photo_like_image(width, height);
  return encode_jpeg(image, 90);
}

// A LLaVA-style dataset: records i -> images/photo-(i % 16).jpg, a question and a ~60-word answer, two turns.
void write_dataset(const std::string& dir) {
  ensure_directory(path_join(dir, "images"));
  const std::string jpeg = synthetic_jpeg(640, 480);
  for (int i = 0; i < 16; ++i) write_file_atomic(path_join(dir, "images/photo-" + std::to_string(i) + ".jpg"), jpeg);
  const std::string answer =
      "The image shows a colourful abstract pattern: smooth horizontal and vertical gradients of red and green "
      "overlaid with a fine checkerboard of light and dark blue cells. Fine grain noise covers the whole picture, "
      "like a photograph taken in low light, and there are no people, animals or written words anywhere in it.";
  nlohmann::json list = nlohmann::json::array();
  for (int i = 0; i < 64; ++i)
    list.push_back({{"id", "bench-" + std::to_string(i)},
                    {"image", "images/photo-" + std::to_string(i % 16) + ".jpg"},
                    {"conversations",
                     {{{"from", "human"}, {"value", "<image>\nDescribe the image in detail."}},
                      {{"from", "gpt"}, {"value", answer}},
                      {{"from", "human"}, {"value", "Is there any text in the image?"}},
                      {{"from", "gpt"}, {"value", "No, there is no text in the image."}}}}});
  write_file_atomic(path_join(dir, "data.json"), list.dump(2));
}

std::string reference_model(const std::string& name) {
  const char* env = std::getenv("MHA2MLA_TOKENIZER_REFERENCE");
  const char* home = std::getenv("HOME");
  std::string root = env && *env ? env : std::string(home ? home : "") + "/.cache/mha2mla/tokenizer-reference";
  std::string dir = path_join(path_join(root, "models"), name);
  return file_exists(path_join(dir, "tokenizer.json")) ? dir : "";
}

struct Setup {
  std::string name;
  ModelDataSpec spec;
  std::shared_ptr<const tokenizer::Tokenizer> tokenizer;
  std::string chat_template;
  int64_t workers = 0;
};

double measure(const Setup& s, const std::string& dataset, int rounds, int samples) {
  DataConfig config;
  config.datasets.emplace_back();
  config.datasets.back().path = dataset;
  config.chat_template = s.chat_template;
  config.max_length = 8192;
  config.batch_size = 1;
  config.shuffle_buffer = 0;
  config.workers = s.workers;
  config.prefetch = 4;
  DataPipeline pipeline(config, s.spec, s.tokenizer, PipelineOptions{});
  for (int i = 0; i < 4; ++i) pipeline.next();  // warm-up: page cache, tables, tokenizer caches
  std::vector<double> rates;
  for (int r = 0; r < rounds; ++r) {
    const bench::Stopwatch watch;
    for (int i = 0; i < samples; ++i) pipeline.next();
    rates.push_back(samples / watch.wall_seconds());
  }
  return bench::median(rates);
}

}  // namespace

int main(int argc, char** argv) {
  std::string dataset_dir, llava_dir = reference_model("llava"), qwen_dir = reference_model("qwen2"), only;
  int rounds = 5, samples = 40;
  bool json = false;
  for (int i = 1; i < argc; ++i) {
    std::string arg = argv[i];
    if (arg == "--dataset" && i + 1 < argc) dataset_dir = argv[++i];
    else if (arg == "--llava-tokenizer" && i + 1 < argc) llava_dir = argv[++i];
    else if (arg == "--qwen-tokenizer" && i + 1 < argc) qwen_dir = argv[++i];
    else if (arg == "--rounds" && i + 1 < argc) rounds = std::stoi(argv[++i]);
    else if (arg == "--samples" && i + 1 < argc) samples = std::stoi(argv[++i]);
    else if (arg == "--only" && i + 1 < argc) only = argv[++i];
    else if (arg == "--json") json = true;
    else {
      std::fprintf(stderr,
                   "usage: %s [--dataset DIR] [--llava-tokenizer DIR] [--qwen-tokenizer DIR] [--rounds N] "
                   "[--samples N] [--only PIPELINE] [--json]\n", argv[0]);
      return 2;
    }
  }
  try {
    const std::string scratch = (std::filesystem::temp_directory_path() / "mha2mla-bench-data").string();
    if (dataset_dir.empty()) {
      dataset_dir = path_join(scratch, "dataset");
      write_dataset(dataset_dir);
    }
    if (llava_dir.empty()) {
      llava_dir = path_join(scratch, "tiny-llava");
      tokenizer::write_tiny_tokenizer("llava", 512, llava_dir);
    }
    if (qwen_dir.empty()) {
      qwen_dir = path_join(scratch, "tiny-qwen2");
      tokenizer::write_tiny_tokenizer("qwen2", 512, qwen_dir);
    }
    const std::string dataset = path_join(dataset_dir, "data.json");

    Setup llava;
    llava.name = "llava15_336";
    llava.tokenizer = tokenizer::load_tokenizer(llava_dir);
    llava.chat_template = "vicuna_v1";
    llava.spec.model_type = "llava";
    llava.spec.vision = VisionFamily::kLlava;
    llava.spec.image_tokens.image_token_id = llava.tokenizer->token_to_id("<image>");
    llava.spec.clip.pad_to_square = true;  // LLaVA-1.5's image_aspect_ratio "pad"
    llava.spec.llava_image_features = 576;
    Setup qwen;
    qwen.name = "qwen2_5_vl";
    qwen.tokenizer = tokenizer::load_tokenizer(qwen_dir);
    qwen.chat_template = "chatml";
    qwen.spec.model_type = "qwen2_5_vl";
    qwen.spec.vision = VisionFamily::kQwenVl;
    qwen.spec.image_tokens = {qwen.tokenizer->token_to_id("<|image_pad|>"),
                              qwen.tokenizer->token_to_id("<|vision_start|>"),
                              qwen.tokenizer->token_to_id("<|vision_end|>")};
    Setup threaded = llava;
    threaded.name = "llava15_336_mt";
    threaded.workers = 2;

    std::vector<std::pair<std::string, double>> results;
    for (const Setup* s : {&llava, &qwen, &threaded})
      if (only.empty() || only == s->name) results.emplace_back(s->name, measure(*s, dataset, rounds, samples));
    if (results.empty()) {
      std::fprintf(stderr, "no pipeline named '%s'\n", only.c_str());
      return 2;
    }
    if (json) {
      nlohmann::json out = {{"llava_tokenizer", llava_dir}, {"qwen_tokenizer", qwen_dir}, {"results", nlohmann::json::object()}};
      for (const auto& [name, rate] : results) out["results"][name] = rate;
      std::printf("%s\n", out.dump().c_str());
      return 0;
    }
    std::printf("mha2mla data pipeline, 640x480 JPEG per sample, median of %d rounds of %d samples\n", rounds, samples);
    std::printf("  tokenizers: %s, %s\n", llava_dir.c_str(), qwen_dir.c_str());
    for (const auto& [name, rate] : results)
      std::printf("  %-16s %8.1f samples/s  (%6.2f ms/sample)\n", name.c_str(), rate, 1000.0 / rate);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "bench_data_pipeline: %s\n", e.what());
    return 1;
  }
  return 0;
}
