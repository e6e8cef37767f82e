// Tiny converted models shared by the tensor- and data-parallel tests: rank 0 writes the folder, every rank reads it.
#pragma once

#include <algorithm>
#include <cstdlib>
#include <filesystem>
#include <string>

#include <ATen/ATen.h>

#include "common/files.h"
#include "model/convert/converter.h"
#include "model/model.h"
#include "model/random_init.h"
#include "model/tiny/make_tiny.h"
#include "tests/mpi/mpi_test_support.h"
#include "tests/unit/converted_model.h"

namespace mha2mla::mpi_test {

inline double relative_difference(const at::Tensor& a, const at::Tensor& b) {
  at::Tensor x = a.to(at::kDouble), y = b.to(at::kDouble);
  return (x - y).norm().item<double>() / std::max(y.norm().item<double>(), 1e-30);
}

struct Variant {
  std::string arch = "qwen2";        // q/k/v biases: the up-projection biases are split too
  int64_t kv_heads = 0;              // 0: the tiny config's (2); 1: one KV head shared by both ranks
  std::string mla = "joint";
  std::string name() const { return arch + "-kv" + std::to_string(kv_heads) + "-" + mla; }
};

// Rank 0 writes a converted tiny model (random teacher, SVD student, perturbed so that text and image projections
// and the up biases all differ); every rank gets the folder.
inline std::string converted_folder(const Variant& v) {
  const char* root = std::getenv("MHA2MLA_TEST_TMP");
  std::string base = root && *root ? root : std::filesystem::temp_directory_path().string();
  std::string dir = path_join(base, "mpi_models/" + v.name());
  if (world().rank() == 0) {
    std::filesystem::remove_all(dir);
    hf::HfConfig config = tiny_config(v.arch);
    if (v.kv_heads > 0) config.text.num_key_value_heads = v.kv_heads;
    auto model = build_model(config, ModelLoadOptions{});
    init_random([&](const ParamVisitor& visit) { model->visit(visit); }, 11, 0.1);
    ConversionOptions options;
    options.rope_dims = 8;
    options.latent_rank = 8;
    options.strategy = "uniform";
    options.variant = v.mla;
    options.init = "svd";
    convert_to_mla(*model, options, nullptr);
    testing::perturb_student(*model, 12);
    save_model(*model, dir);
  }
  world().barrier();
  return dir;
}

}  // namespace mha2mla::mpi_test
