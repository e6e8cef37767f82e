// Shipping a converted model (docs/export.md documents both formats tensor by tensor).
//
//   hf-mla       the mha2mla folder without the teacher: config.json with its `mla` block (student_only), the
//                original tensors the student uses under the checkpoint's hub names (its own trained copies of
//                q_proj / o_proj / input_layernorm in their place, when it has them), the MLA tensors, LoRA merged
//                into the weights they adapt, tokenizer / processor files. load_model() reads it back.
//   deepseek-v3  DeepSeek-V3's MLA naming (model_type deepseek_v3, every layer dense), for the converted models
//                that format expresses exactly; any other is refused with the reasons.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include <ATen/core/Tensor.h>

#include "model/model.h"

namespace mha2mla {

struct ExportOptions {
  at::ScalarType dtype = at::kFloat;       // tensors are written in this dtype
  uint64_t max_shard_bytes = 5ull << 30;
};

// Throws Error when the model is not converted, or is a stage-1 (partial_rope) checkpoint.
void export_hf_mla(Model& model, const std::string& folder, const ExportOptions& options = {});

// The reasons `model` cannot be written exactly as deepseek_v3 (empty when it can): one line each.
std::vector<std::string> deepseek_v3_misfits(Model& model);

// Throws Error listing every misfit when the model does not fit; otherwise writes config.json, the tensors and the
// side files.
void export_deepseek_v3(Model& model, const std::string& folder, const ExportOptions& options = {});

// "float32" / "bfloat16" / "float16": config.json's torch_dtype.
std::string torch_dtype_name(at::ScalarType dtype);

}  // namespace mha2mla
