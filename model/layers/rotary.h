// Rotary position embedding in Hugging Face's rotate_half layout: dim j pairs with dim j + d/2, frequency
// theta_j = base^(-2j/d). Supports llama3 / linear frequency scaling and Qwen2.5-VL's M-RoPE, where the
// frequency pairs are split into temporal / height / width sections, each rotated by its own position axis.
#pragma once

#include <string>
#include <utility>
#include <vector>

#include <ATen/core/Tensor.h>

namespace mha2mla {

struct RopeConfig {
  int64_t head_dim = 64;
  double theta = 10000.0;
  std::string scaling = "default";     // default | linear | llama3
  double factor = 1.0;
  double low_freq_factor = 1.0;        // llama3
  double high_freq_factor = 4.0;       // llama3
  int64_t original_max_position = 8192;  // llama3
  std::vector<int64_t> mrope_section;  // e.g. {16, 24, 24}: pairs per axis (t, h, w); empty = 1-D RoPE
};

class RotaryEmbedding {
 public:
  RotaryEmbedding() = default;
  explicit RotaryEmbedding(const RopeConfig& config);

  // positions: int64 [B, T] (1-D) or [3, B, T] (M-RoPE: t, h, w). Returns cos, sin [B, T, head_dim] in
  // `dtype`, computed in float32 as HF does; for M-RoPE the per-axis tables are merged section by section
  // (chunk i of the doubled section list takes axis i mod 3).
  std::pair<at::Tensor, at::Tensor> cos_sin(const at::Tensor& positions, at::ScalarType dtype) const;

  const at::Tensor& inv_freq() const { return inv_freq_; }
  const RopeConfig& config() const { return config_; }
  bool is_multimodal() const { return !config_.mrope_section.empty(); }

  // For M-RoPE: which axis (0 = t, 1 = h, 2 = w) drives frequency pair j in [0, head_dim / 2).
  int64_t axis_of_pair(int64_t pair) const;

 private:
  RopeConfig config_;
  at::Tensor inv_freq_;  // float32 [head_dim / 2]
};

// x * cos + rotate_half(x) * sin, with x [B, H, T, d] and cos/sin [B, T, d].
at::Tensor apply_rotary(const at::Tensor& x, const at::Tensor& cos, const at::Tensor& sin);
at::Tensor rotate_half(const at::Tensor& x);

}  // namespace mha2mla
