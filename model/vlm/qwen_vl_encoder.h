// Qwen2.5-VL (and Qwen2-VL) image features: the vision tower with its patch merger, split per image.
#pragma once

#include <vector>

#include "model/vision/qwen_vision.h"
#include "model/vlm/vision_encoder.h"

namespace mha2mla {

class QwenVlEncoder final : public VisionEncoder {
 public:
  QwenVlEncoder(const hf::HfConfig& config, const at::TensorOptions& options);

  std::vector<at::Tensor> encode(const MultimodalBatch& batch) const override;
  void visit(const ParamVisitor& visitor) override;

  QwenVisionTower tower;
};

}  // namespace mha2mla
