#include "model/vlm/vision_encoder.h"

#include "common/error.h"
#include "model/vlm/llava_encoder.h"
#include "model/vlm/qwen_vl_encoder.h"

namespace mha2mla {

std::unique_ptr<VisionEncoder> make_vision_encoder(const hf::HfConfig& config, const at::TensorOptions& options) {
  if (hf::is_llava_family(config.model_type)) {
    MHA2MLA_CHECK(config.clip_vision.has_value(), "{}: llava config without a CLIP vision config", config.source);
    return std::make_unique<LlavaEncoder>(config, options);
  }
  if (hf::is_qwen_vl_family(config.model_type)) {
    MHA2MLA_CHECK(config.qwen_vision.has_value(), "{}: Qwen-VL config without a vision config", config.source);
    return std::make_unique<QwenVlEncoder>(config, options);
  }
  fail("{}: model_type {} has no vision tower", config.source, hf::model_type_name(config.model_type));
}

}  // namespace mha2mla
