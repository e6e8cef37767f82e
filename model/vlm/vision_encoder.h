// The vision side of a vision-language model: from a batch's preprocessed images to one feature matrix per image
// in the language model's embedding space, ready to replace that image's placeholder tokens.
//   llava       CLIP tower -> hidden states of vision_feature_layer(s) (CLS dropped unless "full") -> projector
//   llava_next  the same over every AnyRes tile, then per image: base tile, unpadded tile map, image_newline
//   qwen2_5_vl  Qwen ViT (window attention, 2-D RoPE) -> 2x2 patch merger; qwen2_vl: its predecessor
#pragma once

#include <memory>
#include <vector>

#include <ATen/core/Tensor.h>

#include "model/io/hf_config.h"
#include "model/params.h"

namespace mha2mla {

struct MultimodalBatch;

class VisionEncoder {
 public:
  virtual ~VisionEncoder() = default;

  // [tokens_i, text hidden] for each image of `batch`, in the batch's order, in the model's dtype. Errors name
  // the image at fault (wrong shape, missing grid or size).
  virtual std::vector<at::Tensor> encode(const MultimodalBatch& batch) const = 0;

  // Canonical names: vision.*, projector.*, image_newline.
  virtual void visit(const ParamVisitor& visitor) = 0;
};

// The encoder of a vision-language config (llava, llava_next, qwen2_vl, qwen2_5_vl), with zero weights.
std::unique_ptr<VisionEncoder> make_vision_encoder(const hf::HfConfig& config, const at::TensorOptions& options);

}  // namespace mha2mla
