// Shared set-up of the data pipeline tests: tiny tokenizers, tiny model specs, synthetic datasets.
#pragma once

#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "common/files.h"
#include "data/data_pipeline.h"
#include "data/synthetic/make_data.h"
#include "data/tokenizer/tiny_tokenizer.h"
#include "data/tokenizer/tokenizer.h"
#include "tests/unit/test_support.h"

namespace mha2mla::data::testing {

inline std::string tmp_root() {
  const char* root = std::getenv("MHA2MLA_TEST_TMP");
  return root && *root ? root : MHA2MLA_TEST_TMP_DEFAULT;
}

// The tiny tokenizer of `family` (qwen2, llama3, llava_next, llama2, llava). ctest runs every test in its own
// process, so the folder is shared by the processes of one build of this binary (its name carries the binary's
// modification time) and written once: into a private folder renamed into place, the first rename winning.
inline std::string tiny_tokenizer_dir(const std::string& family) {
  static std::map<std::string, std::string> known;
  auto it = known.find(family);
  if (it != known.end()) return it->second;
  struct stat self {};
  ::stat("/proc/self/exe", &self);
  const std::string dir =
      path_join(tmp_root(), "data-tiny-tokenizer-" + family + "-" + std::to_string(static_cast<long long>(self.st_mtime)));
  if (!file_exists(path_join(dir, "tokenizer_config.json"))) {
    const std::string mine = dir + ".tmp." + std::to_string(::getpid());
    tokenizer::write_tiny_tokenizer(family, 512, mine);
    std::error_code error;
    std::filesystem::rename(mine, dir, error);
    if (error) std::filesystem::remove_all(mine);  // another process was first
  }
  known[family] = dir;
  return dir;
}

inline std::shared_ptr<const tokenizer::Tokenizer> tiny_tokenizer(const std::string& family) {
  static std::map<std::string, std::shared_ptr<const tokenizer::Tokenizer>> loaded;
  auto it = loaded.find(family);
  if (it != loaded.end()) return it->second;
  std::shared_ptr<const tokenizer::Tokenizer> tok = tokenizer::load_tokenizer(tiny_tokenizer_dir(family));
  loaded[family] = tok;
  return tok;
}

// LLaVA-1.5 processing at 28 px with patch 14: 4 features per image (small tensors, fast tests).
inline ModelDataSpec tiny_llava_spec(const tokenizer::Tokenizer& tok) {
  ModelDataSpec spec;
  spec.model_type = "llava";
  spec.vision = VisionFamily::kLlava;
  spec.image_tokens.image_token_id = tok.token_to_id("<image>");
  spec.clip.shortest_edge = 28;
  spec.clip.crop = {28, 28};
  spec.llava_image_features = 4;
  return spec;
}

// Qwen2-VL processing bounded to a few patches per image.
inline ModelDataSpec tiny_qwen_spec(const tokenizer::Tokenizer& tok) {
  ModelDataSpec spec;
  spec.model_type = "qwen2_5_vl";
  spec.vision = VisionFamily::kQwenVl;
  spec.image_tokens.image_token_id = tok.token_to_id("<|image_pad|>");
  spec.image_tokens.vision_start_id = tok.token_to_id("<|vision_start|>");
  spec.image_tokens.vision_end_id = tok.token_to_id("<|vision_end|>");
  spec.qwen.min_pixels = 56 * 56;
  spec.qwen.max_pixels = 56 * 56 * 2;
  return spec;
}

inline std::string dataset_file(const std::string& out, const std::string& format) {
  if (format == "wds") return out;
  return path_join(out, format == "llava_json" ? "data.json" : "data.jsonl");
}

// make-data output under `dir`; returns the dataset path (the file, or the folder of shards).
inline std::string make_dataset(const std::string& dir, const std::string& format, int64_t samples, int64_t bad = 0,
                                uint64_t seed = 7, int64_t shard_size = 8) {
  MakeDataOptions o;
  o.format = format;
  o.out = dir;
  o.samples = samples;
  o.bad = bad;
  o.seed = seed;
  o.shard_size = shard_size;
  o.min_side = 40;
  o.max_side = 72;
  make_synthetic_dataset(o);
  return dataset_file(dir, format);
}

inline DataConfig one_dataset(const std::string& path, const std::string& format = "auto") {
  DataConfig config;
  config.datasets.emplace_back();
  config.datasets.back().path = path;
  config.datasets.back().format = format;
  config.max_length = 512;
  config.max_bad_fraction = 0.5;
  config.log_bad_samples = 0;
  return config;
}

inline std::vector<Batch> read_all(DataPipeline& pipeline, size_t limit = 100000) {
  std::vector<Batch> batches;
  while (batches.size() < limit) {
    std::optional<Batch> b = pipeline.next();
    if (!b) break;
    batches.push_back(std::move(*b));
  }
  return batches;
}

}  // namespace mha2mla::data::testing
