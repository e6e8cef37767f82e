// Whole-model MHA/GQA -> MLA conversion: choose each layer's RoPE pairs, attach the student attention and
// initialise it from the original weights (or from a stage-1 partial-RoPE checkpoint's student), and report
// per-layer factorisation errors and the KV-cache size before and after.
#pragma once

#include <string>
#include <vector>

#include <nlohmann/json_fwd.hpp>

#include "model/convert/calibration.h"
#include "model/convert/mla_init.h"
#include "model/model.h"

namespace mha2mla {

struct ConversionOptions {
  int64_t rope_dims = 32;
  int64_t latent_rank = 32;
  std::string strategy = "mkl";      // high | low | uniform | 2norm | 2norm_modality | mkl
  int64_t uniform_start = 0;
  std::string variant = "joint";     // joint | split | shared
  std::string init = "activation_svd";
  double ridge = 1e-3;
  bool partial_rope_only = false;    // stage 1: keep full rank, only remove RoPE from the unkept pairs
};

struct LayerConversion {
  std::vector<std::vector<int64_t>> rope_pairs;  // per KV head
  LayerInitReport init;
};

struct ConversionReport {
  std::vector<LayerConversion> layers;
  double teacher_kv_bytes_per_token = 0;
  double student_kv_bytes_per_token = 0;
  int64_t element_bytes = 2;                     // the dtype the KV sizes are quoted in (bf16 serving)
  std::string source_stage;                      // "original" or "partial_rope"
};

// Converts `model` in place (it gains a student attention per layer and an `mla` config). `calibration` is
// needed by the 2norm / 2norm_modality / mkl strategies and by activation-aware SVD; it may be null otherwise.
ConversionReport convert_to_mla(Model& model, const ConversionOptions& options, const Calibration* calibration);

nlohmann::json to_json(const ConversionReport& report);
std::string format_report(const ConversionReport& report);

}  // namespace mha2mla
