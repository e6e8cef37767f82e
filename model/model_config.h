// Recipe section `model`: which checkpoint, on which device, in which precision.
#pragma once

#include <cstdint>
#include <string>

#include "common/config_schema.h"

namespace mha2mla {

struct ModelConfig {
  std::string path;            // HF folder (config.json + *.safetensors) of the original model
  std::string arch = "auto";   // from config.json's model_type unless set
  std::string dtype = "float32";
  std::string device = "cpu";
  int64_t threads = 0;         // intra-op threads per rank; 0 = cores / ranks on this node
  int64_t seed = 1234;

  void describe(config::Visitor& v) {
    v.field("path", path, "Hugging Face checkpoint folder (config.json + model.safetensors or sharded index)");
    v.field("arch", arch, "architecture; auto reads config.json's model_type",
            config::Constraint::one_of({"auto", "llama", "qwen2", "llava", "llava_next", "qwen2_5_vl"}));
    v.field("dtype", dtype, "compute dtype (weights are converted tensor by tensor on load)",
            config::Constraint::one_of({"float32", "bfloat16", "float16"}));
    v.field("device", device, "torch device: cpu, cuda or cuda:N (cuda uses the launcher's local rank)");
    v.field("threads", threads, "intra-op threads per rank; 0 = cores on this node / ranks on this node",
            config::Constraint::at_least(0));
    v.field("seed", seed, "seed for every random choice (weights of make-tiny, dropout, sampling)");
  }
};

}  // namespace mha2mla
