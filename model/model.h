// A loaded Hugging Face checkpoint: its parsed config, its tensors' naming generation, and the modules.
// Every parameter is visited under its canonical name (model/io/weight_names.h): text.*, lm_head.weight,
// vision.*, projector.*, image_newline.
#pragma once

#include <memory>
#include <string>

#include "model/io/hf_config.h"
#include "model/io/weight_names.h"
#include "model/text_model.h"

namespace mha2mla {

struct ModelLoadOptions {
  at::ScalarType dtype = at::kFloat;
  std::string device = "cpu";
};

class Model {
 public:
  hf::HfConfig config;
  hf::HubNaming naming = hf::HubNaming::kLegacy;
  std::string source;                  // the folder it was loaded from ("" when built in code)
  std::unique_ptr<TextModel> text;

  // Canonical names; the student attention's tensors appear under text.layers.N.self_attn.* once attached.
  void visit(const ParamVisitor& visitor);
  at::TensorOptions options() const { return text->options(); }
};

// The decoder configuration a TextConfig describes (M-RoPE sections included).
DecoderConfig decoder_config_from(const hf::TextConfig& text);

// Builds the modules for `config` with zero weights (to be loaded or randomly initialised).
std::unique_ptr<Model> build_model(const hf::HfConfig& config, const ModelLoadOptions& options);

// Loads an HF folder (config.json + model.safetensors or a sharded index). Tensors are converted to
// options.dtype one at a time; every expected tensor must be present with the right shape, and the file
// must hold nothing unaccounted for. Errors name the file and the tensor.
std::unique_ptr<Model> load_model(const std::string& folder, const ModelLoadOptions& options);

// Writes config.json and the weights (hub names of model.naming, sharded past `max_shard_bytes`) into
// `folder`, as save_pretrained would. Tensors are stored in `dtype`.
void save_model(Model& model, const std::string& folder, at::ScalarType dtype = at::kFloat,
                uint64_t max_shard_bytes = 5ull << 30);

at::ScalarType parse_dtype(const std::string& name);  // float32 | bfloat16 | float16 (| float64)

}  // namespace mha2mla
