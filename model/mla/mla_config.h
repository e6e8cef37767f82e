// The `mla` block a converted checkpoint's config.json carries: everything needed to rebuild the converted
// attention from the folder alone (docs/export.md documents every key).
//
//   "mla": {
//     "version": 1, "rope_dims": 32, "latent_rank": 32, "strategy": "mkl", "variant": "joint",
//     "init": "activation_svd", "stage": "mla",            // "partial_rope": stage 1, no latent
//     "layers": [ {"rope_pairs": [[0, 3, ...], [1, 2, ...]]}, ... ],  // per layer, per KV head
//     "student_only": true,     // optional: an export (model/export/) without the teacher's k_proj / v_proj
//     "student_copies": ["q_proj", "o_proj", "input_layernorm"], // optional: tensors the student holds its own
//                               // copy of instead of sharing the teacher's (stage-1 / stage-2 training)
//     "lora": {"rank": 8, "alpha": 16.0, "targets": ["q_proj", "o_proj"]}  // optional: the student's LoRA adapters
//                               // (a trained folder), attached with zeros on load for the file to fill
//   }
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include <nlohmann/json_fwd.hpp>

#include "model/mla/mla_layout.h"
#include "model/text_model.h"

namespace mha2mla {

// LoRA adapters on the student's q_proj / o_proj (model/mla/student_copies.h).
struct MlaLora {
  int64_t rank = 0;                  // 0: none
  double alpha = 0;
  std::vector<std::string> targets;  // q_proj, o_proj
};

struct MlaConfig {
  int64_t rope_dims = 0;
  int64_t latent_rank = 0;
  std::string strategy;
  MlaVariant variant = MlaVariant::joint;
  std::string init;
  bool partial_rope_only = false;   // stage 1: partial RoPE at full rank, the latent is the layer input
  bool student_only = false;        // exported: the layers hold the student attention without the teacher's k/v
  std::vector<std::string> student_copies;  // model/mla/student_copies.h: q_proj, o_proj, input_layernorm
  MlaLora lora;
  std::vector<std::vector<std::vector<int64_t>>> rope_pairs;  // [layer][kv_head][rope_dims / 2]

  // One layout per layer for a decoder with this many heads (all of them: no tensor parallelism here).
  std::vector<MlaLayerLayout> layouts(const DecoderConfig& decoder) const;
};

nlohmann::json to_json(const MlaConfig& config);
// `source` names the config.json in errors.
MlaConfig mla_config_from_json(const nlohmann::json& block, const std::string& source);

// KV-cache bytes per token over all layers: the teacher's 2 * kv_heads * head_dim elements per layer, and the
// converted model's kv_heads * (rope_dims + latent_rank) elements per layer plus one modality bit per layer.
double teacher_kv_bytes_per_token(const DecoderConfig& decoder, int64_t element_bytes);
double mla_kv_bytes_per_token(const std::vector<MlaLayerLayout>& layouts, int64_t element_bytes);

}  // namespace mha2mla
