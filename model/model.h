// A loaded Hugging Face checkpoint: its parsed config, its tensors' naming generation, and the modules.
// Every parameter is visited under its canonical name (model/io/weight_names.h): text.*, lm_head.weight,
// vision.*, projector.*, image_newline.
#pragma once

#include <memory>
#include <optional>
#include <string>

#include "distributed/tensor_parallel.h"
#include "model/io/hf_config.h"
#include "model/io/weight_names.h"
#include "model/mla/mla_config.h"
#include "model/text_model.h"

namespace mha2mla {

struct ModelLoadOptions {
  at::ScalarType dtype = at::kFloat;
  std::string device = "cpu";
  // With a group: the decoder is split over it (model/tensor_parallel.h) and each rank loads only its slices.
  // Default: none, the whole model on this rank.
  dist::TensorParallel tensor_parallel = {};
};

class VisionEncoder;

// One batch of token ids with its images, as the data pipeline hands it over (already padded/packed).
struct MultimodalBatch {
  at::Tensor input_ids;        // int64 [B, T]
  at::Tensor attention_mask;   // int64 [B, T]: 1 = token, 0 = padding (undefined = all tokens)
  at::Tensor segments;         // int64 [B, T]: packed-sample index per token (undefined = one sample per row)
  // Images in reading order (row by row, left to right), each preprocessed for this model:
  std::vector<at::Tensor> pixel_values;                 // CLIP: [3, H, W] / LLaVA-NeXT: [tiles, 3, H, W] / Qwen: [patches, C*T*P*P]
  std::vector<std::vector<int64_t>> image_grid_thw;     // Qwen2.5-VL: (t, h, w) per image
  std::vector<std::pair<int64_t, int64_t>> image_sizes;  // LLaVA-NeXT: original (height, width) per image
};

// What the language model consumes: embeddings with image features merged in, positions (reset per packed
// sample; 3-D for M-RoPE), masks, and which tokens are image tokens (MLA modality routing).
struct PreparedInputs {
  at::Tensor embeddings;       // [B, T, hidden]
  TextBatch text;
  // M-RoPE models: per row, the largest prompt position + 1 - T (transformers' rope_deltas), so that the token
  // decoded at index T + k gets position T + k + delta on all three axes. Undefined for 1-D RoPE.
  at::Tensor rope_deltas;      // int64 [B, 1]
};

class Model {
 public:
  hf::HfConfig config;
  hf::HubNaming naming = hf::HubNaming::kLegacy;
  std::string source;                  // the folder it was loaded from ("" when built in code)
  std::unique_ptr<TextModel> text;
  std::unique_ptr<VisionEncoder> vision;  // VLMs: vision tower + projector / merger; null for LLMs
  std::optional<MlaConfig> mla;           // set once converted: every layer has a student attention

  // Gives every layer its student attention (zero weights) as `mla` describes, and records it.
  void attach_mla(const MlaConfig& mla_config);

  Model();
  ~Model();

  // Embeds a batch: token embeddings, image features at the placeholder tokens (VLMs, see
  // model/vlm/multimodal_prepare.h), positions per packed sample (3-D M-RoPE for Qwen-VL), and the image-token mask.
  PreparedInputs prepare(const MultimodalBatch& batch) const;

  // Canonical names; the student attention's tensors appear under text.layers.N.self_attn.* once attached.
  void visit(const ParamVisitor& visitor);
  at::TensorOptions options() const { return text->options(); }
  const dist::TensorParallel& tensor_parallel() const { return text->tensor_parallel(); }
};

// Positions 0..n-1 restarting at every packed sample (and at the first real token after left padding);
// padding gets position 1 as HF's generate gives it.
at::Tensor positions_per_segment(const at::Tensor& attention_mask, const at::Tensor& segments, int64_t batch,
                                 int64_t tokens, const at::Device& device);

// The decoder configuration a TextConfig describes (M-RoPE sections included).
DecoderConfig decoder_config_from(const hf::TextConfig& text);

// Builds the modules for `config` with zero weights (to be loaded or randomly initialised): the language model,
// and for llava / llava_next / qwen2_vl / qwen2_5_vl the vision encoder too.
std::unique_ptr<Model> build_model(const hf::HfConfig& config, const ModelLoadOptions& options);

// Loads an HF folder (config.json + model.safetensors or a sharded index). Tensors are converted to
// options.dtype one at a time; every expected tensor must be present with the right shape, and the file
// must hold nothing unaccounted for. Errors name the file and the tensor. Under tensor parallelism each rank
// reads its own slices straight from the file (the whole tensors are never materialised).
std::unique_ptr<Model> load_model(const std::string& folder, const ModelLoadOptions& options);

// Writes config.json and the weights (hub names of model.naming, sharded past `max_shard_bytes`) into
// `folder`, as save_pretrained would. Tensors are stored in `dtype`. A tensor-parallel model is written whole:
// the call is then collective over its group (every rank of the group calls it, tensor by tensor the slices are
// gathered) and only the group's rank 0 writes.
void save_model(Model& model, const std::string& folder, at::ScalarType dtype = at::kFloat,
                uint64_t max_shard_bytes = 5ull << 30);

// Copies the files that travel with weights (tokenizer, processor and generation configs, chat template) from
// one checkpoint folder to another.
void copy_side_files(const std::string& from, const std::string& to);

at::ScalarType parse_dtype(const std::string& name);  // float32 | bfloat16 | float16 (| float64)

}  // namespace mha2mla
