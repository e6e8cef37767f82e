#include "model/vision/qwen_vision.h"

#include <algorithm>
#include <cmath>

#include <ATen/ATen.h>
#include <fmt/format.h>

#include "common/error.h"
#include "model/vision/vision_attention.h"

namespace mha2mla {
namespace {

// Both Qwen ViTs hard-code these epsilons (Qwen2RMSNorm / nn.LayerNorm with eps=1e-6), whatever the config says.
constexpr double kVisionNormEps = 1e-6;

// cos, sin [patches, head_dim] in float32 for patches at (row, column).
std::pair<at::Tensor, at::Tensor> rotary_tables_for(const std::vector<std::array<int64_t, 2>>& rows_columns,
                                                    int64_t head_dim, const at::Device& device) {
  // Qwen2_5_VisionRotaryEmbedding(head_dim / 2): theta 10000 over dim = head_dim / 2, so head_dim / 4 frequencies
  // per axis; a patch's angles are (row * inv_freq, column * inv_freq), then doubled as rotate_half expects.
  const int64_t dim = head_dim / 2;
  at::Tensor inv_freq = 1.0 / at::pow(10000.0, at::arange(0, dim, 2, at::kFloat) / static_cast<double>(dim));
  std::vector<int64_t> flat;
  flat.reserve(rows_columns.size() * 2);
  for (const auto& rc : rows_columns) flat.insert(flat.end(), rc.begin(), rc.end());
  at::Tensor positions = at::tensor(flat, at::kLong).view({static_cast<int64_t>(rows_columns.size()), 2}).to(at::kFloat);
  at::Tensor freqs = (positions.unsqueeze(-1) * inv_freq).flatten(1);  // [S, dim]: rows' angles, then columns'
  at::Tensor emb = at::cat({freqs, freqs}, -1).to(device);
  return {emb.cos(), emb.sin()};
}

}  // namespace

QwenVisionTower::QwenVisionTower(const hf::QwenVisionConfig& config, const at::TensorOptions& options)
    : config_(config) {
  if (config.variant != "qwen2_5_vl" && config.variant != "qwen2_vl")
    fail("Qwen vision tower: unknown variant '{}' (expected qwen2_5_vl or qwen2_vl)", config.variant);
  if (config.hidden_size % config.num_heads != 0 || config.head_dim() % 4 != 0)
    fail("Qwen vision tower: hidden_size {} with {} heads gives head_dim {}; the 2-D rotary embedding needs a "
         "head_dim divisible by 4",
         config.hidden_size, config.num_heads, config.hidden_size / std::max<int64_t>(config.num_heads, 1));
  const int64_t D = config.hidden_size, P = config.patch_size;
  patch_embed = at::zeros({D, config.in_channels, config.temporal_patch_size, P, P}, options);
  blocks.resize(static_cast<size_t>(config.depth));
  for (auto& block : blocks) {
    if (windowed()) {
      block.norm1 = RmsNorm(D, kVisionNormEps, options);
      block.norm2 = RmsNorm(D, kVisionNormEps, options);
      block.mlp = GatedMlp(D, config.intermediate_size, true, config.hidden_act, options);
    } else {
      block.layer_norm1 = LayerNorm(D, kVisionNormEps, options);
      block.layer_norm2 = LayerNorm(D, kVisionNormEps, options);
      block.fc1 = Linear(D, config.intermediate_size, true, options);
      block.fc2 = Linear(config.intermediate_size, D, true, options);
    }
    block.qkv = Linear(D, 3 * D, true, options);
    block.proj = Linear(D, D, true, options);
  }
  const int64_t merged = D * config.spatial_merge_size * config.spatial_merge_size;
  if (windowed())
    merger_norm = RmsNorm(D, kVisionNormEps, options);
  else
    merger_layer_norm = LayerNorm(D, kVisionNormEps, options);
  merger_fc1 = Linear(merged, merged, true, options);
  merger_fc2 = Linear(merged, config.out_hidden_size, true, options);
}

at::Tensor QwenVisionTower::block_forward(const QwenVisionBlock& block, const at::Tensor& x, const at::Tensor& cos,
                                          const at::Tensor& sin, const std::vector<int64_t>& boundaries) const {
  const int64_t S = x.size(0), H = config_.num_heads, d = config_.head_dim();
  at::Tensor h = windowed() ? block.norm1.forward(x) : block.layer_norm1.forward(x);
  at::Tensor qkv = block.qkv.forward(h).view({S, 3, H, d});
  // apply_rotary_pos_emb_vision works in float32 for the half types and float32 (float64 stays float64, so a float64
  // model is float64 throughout, as the gradient checks need); q and k turn together.
  at::Tensor qk = qkv.narrow(1, 0, 2).to(at::promote_types(x.scalar_type(), at::kFloat));  // [S, 2, H, d]
  const int64_t half = d / 2;
  at::Tensor rotated = at::cat({qk.narrow(-1, half, half).neg(), qk.narrow(-1, 0, half)}, -1);
  qk = (qk * cos.view({S, 1, 1, d})).add_(rotated.mul_(sin.view({S, 1, 1, d}))).to(x.scalar_type());
  at::Tensor attended =
      segmented_attention(qk.select(1, 0), qk.select(1, 1), qkv.select(1, 2), boundaries, 1.0 / std::sqrt(static_cast<double>(d)));
  at::Tensor out = block.proj.forward(attended.reshape({S, H * d})).add_(x);
  if (windowed()) {
    h = block.norm2.forward(out);
    at::Tensor gate = apply_activation_(block.mlp.gate_proj.forward(h), config_.hidden_act);
    at::Tensor up = block.mlp.up_proj.forward(h);
    gate = gate.requires_grad() ? gate * up : gate.mul_(up);  // mul_ would overwrite a value backward needs
    return block.mlp.down_proj.forward(gate).add_(out);
  }
  h = block.layer_norm2.forward(out);
  return block.fc2.forward(apply_activation_(block.fc1.forward(h), config_.hidden_act)).add_(out);
}

at::Tensor QwenVisionTower::forward(const at::Tensor& patches, const std::vector<PatchGrid>& grids) const {
  const int64_t merge = config_.spatial_merge_size, unit = merge * merge, D = config_.hidden_size;
  const int64_t patch_values =
      config_.in_channels * config_.temporal_patch_size * config_.patch_size * config_.patch_size;
  int64_t S = 0;
  for (const PatchGrid& grid : grids) {
    if (grid[0] <= 0 || grid[1] <= 0 || grid[2] <= 0 || grid[1] % merge != 0 || grid[2] % merge != 0)
      fail("Qwen vision tower: image grid ({}, {}, {}) must be positive with h and w multiples of "
           "spatial_merge_size {}",
           grid[0], grid[1], grid[2], merge);
    S += grid[0] * grid[1] * grid[2];
  }
  if (patches.dim() != 2 || patches.size(0) != S || patches.size(1) != patch_values)
    fail("Qwen vision tower: pixel patches of shape [{}] do not match the grids ([{}, {}] expected: t*h*w patches "
         "of channels * temporal_patch_size * patch_size^2 values)",
         fmt::join(patches.sizes(), ", "), S, patch_values);
  const auto options = patch_embed.options();
  at::Tensor x = at::linear(patches.to(options), patch_embed.view({D, patch_values}));  // [S, D]

  std::vector<std::array<int64_t, 2>> rows_columns = vision_patch_rows_columns(grids, merge);
  const std::vector<int64_t> full = frame_boundaries(grids);
  WindowLayout windows;
  at::Tensor inverse_order;
  if (windowed()) {
    windows = vision_window_layout(grids, config_.window_size, merge, config_.patch_size);
    std::vector<std::array<int64_t, 2>> reordered;
    reordered.reserve(rows_columns.size());
    std::vector<int64_t> inverse(windows.block_order.size());
    for (size_t j = 0; j < windows.block_order.size(); ++j) {
      const int64_t block = windows.block_order[j];
      inverse[static_cast<size_t>(block)] = static_cast<int64_t>(j);
      for (int64_t i = 0; i < unit; ++i) reordered.push_back(rows_columns[static_cast<size_t>(block * unit + i)]);
    }
    rows_columns = std::move(reordered);
    at::Tensor order = at::tensor(windows.block_order, at::kLong).to(options.device());
    inverse_order = at::tensor(inverse, at::kLong).to(options.device());
    x = x.view({S / unit, unit, D}).index_select(0, order).view({S, D});
  }
  auto [cos, sin] = rotary_tables_for(rows_columns, config_.head_dim(), options.device());

  const auto& full_blocks = config_.fullatt_block_indexes;
  for (size_t i = 0; i < blocks.size(); ++i) {
    const bool full_attention =
        !windowed() || std::find(full_blocks.begin(), full_blocks.end(), static_cast<int64_t>(i)) != full_blocks.end();
    x = block_forward(blocks[i], x, cos, sin, full_attention ? full : windows.boundaries);
  }

  at::Tensor h = windowed() ? merger_norm.forward(x) : merger_layer_norm.forward(x);
  at::Tensor merged = merger_fc2.forward(apply_activation_(merger_fc1.forward(h.view({S / unit, D * unit})), "gelu"));
  return windowed() ? merged.index_select(0, inverse_order) : merged;
}

void QwenVisionTower::visit(const std::string& prefix, const ParamVisitor& visitor) {
  visit_full(visitor, join_name(prefix, "patch_embed.proj.weight"), patch_embed);
  for (size_t i = 0; i < blocks.size(); ++i) {
    const std::string p = join_name(prefix, "blocks." + std::to_string(i));
    QwenVisionBlock& block = blocks[i];
    if (windowed()) {
      block.norm1.visit(p + ".norm1", visitor);
      block.norm2.visit(p + ".norm2", visitor);
    } else {
      block.layer_norm1.visit(p + ".norm1", visitor);
      block.layer_norm2.visit(p + ".norm2", visitor);
    }
    block.qkv.visit(p + ".attn.qkv", visitor);
    block.proj.visit(p + ".attn.proj", visitor);
    if (windowed()) {
      block.mlp.visit(p + ".mlp", visitor);
    } else {
      block.fc1.visit(p + ".mlp.fc1", visitor);
      block.fc2.visit(p + ".mlp.fc2", visitor);
    }
  }
  if (windowed())
    merger_norm.visit(join_name(prefix, "merger.ln_q"), visitor);
  else
    merger_layer_norm.visit(join_name(prefix, "merger.ln_q"), visitor);
  merger_fc1.visit(join_name(prefix, "merger.mlp.0"), visitor);
  merger_fc2.visit(join_name(prefix, "merger.mlp.2"), visitor);
}

}  // namespace mha2mla
