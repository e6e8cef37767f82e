// LLaVA-1.5 and LLaVA-NeXT image features: CLIP tower, feature-layer selection, the two-layer projector and, for
// LLaVA-NeXT, AnyRes packing with the image_newline vector.
#pragma once

#include <string>
#include <vector>

#include "model/layers/linear.h"
#include "model/vision/clip_vision.h"
#include "model/vision/llava_next_packing.h"
#include "model/vlm/vision_encoder.h"

namespace mha2mla {

class LlavaEncoder final : public VisionEncoder {
 public:
  LlavaEncoder(const hf::HfConfig& config, const at::TensorOptions& options);

  std::vector<at::Tensor> encode(const MultimodalBatch& batch) const override;
  void visit(const ParamVisitor& visitor) override;

  // pixel_values [N, 3, size, size] -> projected features [N, tokens per tile, text hidden].
  at::Tensor tile_features(const at::Tensor& pixel_values) const;

  ClipVisionTower tower;
  Linear linear_1, linear_2;  // multi_modal_projector
  at::Tensor image_newline;   // [text hidden], LLaVA-NeXT only

 private:
  bool next_;  // llava_next
  hf::LlavaFields fields_;
  AnyresLayout anyres_;
};

}  // namespace mha2mla
