#include "model/layers/rotary.h"

#include <cmath>

#include <ATen/ATen.h>

#include "common/error.h"

namespace mha2mla {
namespace {

// HF's _compute_llama3_parameters: long wavelengths are slowed by `factor`, short ones kept, the band
// between is interpolated.
at::Tensor llama3_scaled(const at::Tensor& inv_freq, const RopeConfig& c) {
  double old_context = static_cast<double>(c.original_max_position);
  double low_freq_wavelen = old_context / c.low_freq_factor;
  double high_freq_wavelen = old_context / c.high_freq_factor;
  at::Tensor wavelen = 2 * M_PI / inv_freq;
  at::Tensor scaled = at::where(wavelen > low_freq_wavelen, inv_freq / c.factor, inv_freq);
  at::Tensor smooth = (old_context / wavelen - c.low_freq_factor) / (c.high_freq_factor - c.low_freq_factor);
  at::Tensor smoothed = (1 - smooth) * scaled / c.factor + smooth * scaled;
  at::Tensor medium = at::logical_not(wavelen < high_freq_wavelen) & at::logical_not(wavelen > low_freq_wavelen);
  return at::where(medium, smoothed, scaled);
}

}  // namespace

RotaryEmbedding::RotaryEmbedding(const RopeConfig& config) : config_(config) {
  MHA2MLA_CHECK(config.head_dim % 2 == 0, "head_dim {} must be even for RoPE", config.head_dim);
  // Same float32 arithmetic as HF: base ** (arange(0, d, 2) / d), then 1 / that.
  at::Tensor exponents = at::arange(0, config.head_dim, 2, at::kLong).to(at::kFloat) / static_cast<double>(config.head_dim);
  inv_freq_ = 1.0 / at::pow(config.theta, exponents);
  if (config.scaling == "llama3") {
    inv_freq_ = llama3_scaled(inv_freq_, config);
  } else if (config.scaling == "linear") {
    inv_freq_ = inv_freq_ / config.factor;
  } else if (config.scaling != "default" && config.scaling != "mrope") {
    fail("rope scaling '{}' is not supported; expected default, linear, llama3 or mrope", config.scaling);
  }
  if (!config.mrope_section.empty()) {
    int64_t pairs = 0;
    for (int64_t s : config.mrope_section) pairs += s;
    if (pairs != config.head_dim / 2)
      fail("mrope_section sums to {} pairs but head_dim {} has {} pairs", pairs, config.head_dim, config.head_dim / 2);
  }
}

int64_t RotaryEmbedding::axis_of_pair(int64_t pair) const {
  if (config_.mrope_section.empty()) return 0;
  int64_t start = 0;
  for (size_t axis = 0; axis < config_.mrope_section.size(); ++axis) {
    start += config_.mrope_section[axis];
    if (pair < start) return static_cast<int64_t>(axis);
  }
  MHA2MLA_CHECK(false, "pair {} outside head_dim/2", pair);
}

std::pair<at::Tensor, at::Tensor> RotaryEmbedding::cos_sin(const at::Tensor& positions, at::ScalarType dtype) const {
  at::Tensor inv_freq = inv_freq_.to(positions.device());
  if (config_.mrope_section.empty()) {
    MHA2MLA_CHECK(positions.dim() == 2, "1-D RoPE expects positions [B, T], got {} dims", positions.dim());
    at::Tensor freqs = positions.to(at::kFloat).unsqueeze(-1) * inv_freq;  // [B, T, d/2]
    at::Tensor emb = at::cat({freqs, freqs}, -1);
    return {emb.cos().to(dtype), emb.sin().to(dtype)};
  }
  MHA2MLA_CHECK(positions.dim() == 3 && positions.size(0) == 3, "M-RoPE expects positions [3, B, T]");
  at::Tensor freqs = positions.to(at::kFloat).unsqueeze(-1) * inv_freq;  // [3, B, T, d/2]
  at::Tensor emb = at::cat({freqs, freqs}, -1);                           // [3, B, T, d]
  at::Tensor cos = emb.cos(), sin = emb.sin();
  std::vector<int64_t> sections = config_.mrope_section;
  sections.insert(sections.end(), config_.mrope_section.begin(), config_.mrope_section.end());
  std::vector<at::Tensor> cos_parts, sin_parts;
  int64_t offset = 0;
  for (size_t i = 0; i < sections.size(); ++i) {
    int64_t axis = static_cast<int64_t>(i % 3);
    cos_parts.push_back(cos[axis].narrow(-1, offset, sections[i]));
    sin_parts.push_back(sin[axis].narrow(-1, offset, sections[i]));
    offset += sections[i];
  }
  return {at::cat(cos_parts, -1).to(dtype), at::cat(sin_parts, -1).to(dtype)};
}

at::Tensor rotate_half(const at::Tensor& x) {
  int64_t half = x.size(-1) / 2;
  return at::cat({-x.narrow(-1, half, half), x.narrow(-1, 0, half)}, -1);
}

at::Tensor apply_rotary(const at::Tensor& x, const at::Tensor& cos, const at::Tensor& sin) {
  at::Tensor c = cos.unsqueeze(1), s = sin.unsqueeze(1);  // broadcast over heads
  return x * c + rotate_half(x) * s;
}

}  // namespace mha2mla
